"""A small Phi-4-multimodal snapshot laid out in a Hugging Face cache exactly as huggingface_hub lays it out:
`models--org--name/blobs/<hash>`, `refs/main` holding the commit, `snapshots/<commit>/...` symlinks to blobs.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

REPO_ID = "microsoft/Phi-4-multimodal-instruct"
COMMIT = "0af439b3adb8c23fda473c4f86001dbf9a226021"
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
SIMULATOR_MODEL = Path(__file__).resolve().parent.parent / "simulator" / "fake_model"


def phi4mm_files() -> dict[str, bytes]:
    index = {"metadata": {"total_size": 16}, "weight_map": {"model.embed_tokens.weight": SHARDS[0],
                                                            "lm_head.weight": SHARDS[1]}}
    files = {
        "config.json": json.dumps({"architectures": ["Phi4MMForCausalLM"], "model_type": "phi4mm"}).encode(),
        # a tokenizer the real vLLM client loads (vllm bench inside the container)
        "tokenizer.json": (SIMULATOR_MODEL / "tokenizer.json").read_bytes(),
        "tokenizer_config.json": (SIMULATOR_MODEL / "tokenizer_config.json").read_bytes(),
        "model.safetensors.index.json": json.dumps(index).encode(),
    }
    files |= {shard: b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + shard.encode() for shard in SHARDS}
    for lora in ("vision-lora", "speech-lora"):
        files[f"{lora}/adapter_config.json"] = json.dumps({"r": 320, "peft_type": "LORA"}).encode()
        files[f"{lora}/adapter_model.safetensors"] = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + lora.encode()
    return files


def make_fake_snapshot(hub_cache: Path, files: dict[str, bytes] | None = None, repo_id: str = REPO_ID) -> Path:
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir(exist_ok=True)
    for name, data in (phi4mm_files() if files is None else files).items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot
