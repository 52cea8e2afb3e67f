"""Output past 4,096 tokens turning to gibberish (vllm#19489: Phi-4's LongRoPE switching from its short to its
long scaling factors). Judges content, so release sign-off only."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.accuracy.counting import first_miscounted_line, min_tokens_problems
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.verdicts import WrongAnswer

RecordProperty = Callable[[str, object], None]
ROPE_SWITCH = 4096  # Phi-4-multimodal's original_max_position_embeddings: LongRoPE changes factors past it
PAST_SWITCH = 256  # tokens past the switch that vLLM's min_tokens must make the model generate before it may stop


@pytest.mark.defect("vllm#19489")
@pytest.mark.release
def test_long_output_stays_right_past_the_4k_rope_switch(client: ChatClient, profile: Profile,
                                                         record_property: RecordProperty) -> None:
    """Counting one number a line past token 4,096, streamed under the token deadline with min_tokens past the
    switch: the stream must not end early, every line is the next number (counting.py; vllm#19489)."""
    context = profile.model.max_model_len
    if context < ROPE_SWITCH + 1024:
        not_applicable(f"max_model_len {context} cannot hold output past the {ROPE_SWITCH}-token RoPE switch: this "
                       "deployment cannot be checked for vllm#19489 (the -lora profiles serve 8192)")
    per_number = (client.text_tokens("\n".join(map(str, range(1, 1001)))) or 2000) / 1000
    count_to = int((ROPE_SWITCH + 800) / per_number)
    messages = [{"role": "user", "content": f"Count from 1 to {count_to}, one number per line, with nothing else."}]
    prompt = client.prompt_tokens(messages) or 64
    cap, at_least = context - prompt - 16, ROPE_SWITCH + PAST_SWITCH - prompt
    reply = client.stream_chat(messages, max_completion_tokens=cap, min_tokens=at_least, temperature=0)
    problems = min_tokens_problems(reply, cap, at_least)
    assert not problems, (f"counting past the {ROPE_SWITCH}-token RoPE switch (prompt {prompt} tokens, min_tokens "
                          f"{at_least}): " + "; ".join(problems))
    lines, usage = reply.content.strip().split("\n"), reply.usage
    record_property("total_tokens", usage["total_tokens"])
    record_property("max_token_gap_ms", round(max(reply.gaps_ms(), default=0.0), 1))
    broken = first_miscounted_line(lines, cut=reply.finish_reason == "length")
    if broken is not None:
        position = usage["prompt_tokens"] + (client.text_tokens("\n".join(lines[:broken])) or 0)
        past = position > ROPE_SWITCH
        raise WrongAnswer(f"counting to {count_to}, line {broken + 1} is {lines[broken][:40]!r} (about token "
                          f"{position} of the sequence{', past the RoPE switch' * past}); the lines before it: "
                          f"{lines[max(0, broken - 3):broken]}", "LongRoPE scaling past 4096 (vllm#19489)" if past
                          else None)
