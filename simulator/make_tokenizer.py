"""Write the fake model's tokenizer: a whole-word WordLevel vocabulary, so tools that need a local
tokenizer (`vllm bench serve --tokenizer`, AISBench perf mode) work offline against the simulator.

Every 2- and 3-letter lowercase word is one token and decodes back to itself, so `vllm bench`'s random
dataset (token ids -> text -> token ids) round-trips and the simulator's word count matches the prompt
length. Run `python -m simulator.make_tokenizer` (needs the `tokenizers` package); the output is committed.
"""
from __future__ import annotations

import itertools
import json
import string

from tokenizers import Tokenizer, models, pre_tokenizers

from simulator.model import BUILTIN_MODEL_DIR


def main() -> None:
    letters = string.ascii_lowercase
    words = ["".join(w) for size in (2, 3) for w in itertools.product(letters, repeat=size)]
    vocab = {"<unk>": 0, "<|endoftext|>": 1, **{word: i + 2 for i, word in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(BUILTIN_MODEL_DIR / "tokenizer.json"))
    (BUILTIN_MODEL_DIR / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>", "eos_token": "<|endoftext|>",
        "model_max_length": 131072, "clean_up_tokenization_spaces": False}, indent=2) + "\n")
    print(f"wrote a {len(vocab)}-token vocabulary to {BUILTIN_MODEL_DIR}")


if __name__ == "__main__":
    main()
