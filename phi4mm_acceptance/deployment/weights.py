"""The model's weights: found in (or downloaded into) the shared Hugging Face cache, and checked complete.

Phi-4-multimodal needs more than the base weights: the tokenizer, every safetensors shard named by the
index, and the `vision-lora/` and `speech-lora/` adapters that carry its multimodal quality. Whatever is
missing is named; a token never appears in a message.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from phi4mm_acceptance.deployment.secrets import redact
from phi4mm_acceptance.deployment.settings import is_true

LORA_DIRS = ("vision-lora", "speech-lora")


class WeightsError(RuntimeError):
    """The weights are not there (or not all there); the message says what and where."""


ELSEWHERE = "; weights elsewhere: --model-path DIR (a snapshot folder) or --hf-cache DIR (a Hugging Face cache)"


def hub_offline() -> bool:
    return is_true(os.environ.get("HF_HUB_OFFLINE"))


def resolve_snapshot(model_id: str, cache_dir: Path | None, offline: bool) -> Path:
    """The snapshot folder of model_id, downloading it unless offline (honours HF_ENDPOINT and HF_TOKEN)."""
    where = cache_dir or "the default Hugging Face cache"
    try:
        path = snapshot_download(model_id, cache_dir=cache_dir, local_files_only=offline,
                                 token=os.environ.get("HF_TOKEN") or None,
                                 endpoint=os.environ.get("HF_ENDPOINT") or None)  # read now, not at import
    except LocalEntryNotFoundError:
        if offline:
            raise WeightsError(f"weights of {model_id} are not in {where} and HF_HUB_OFFLINE=1 forbids "
                               f"downloading them{ELSEWHERE}") from None
        raise WeightsError(f"weights of {model_id} are not in {where} and could not be downloaded "
                           f"from {os.environ.get('HF_ENDPOINT', 'the Hugging Face Hub')}{ELSEWHERE}") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise WeightsError(redact(f"downloading {model_id} into {where} failed: {exc}").splitlines()[0]) from None
    return Path(path)


def missing_files(snapshot: Path, adapters: tuple[str, ...] = LORA_DIRS, shards: bool = True) -> list[str]:
    """What a complete snapshot has and this one lacks, as paths relative to it: config, tokenizer, every
    shard (unless the server makes dummy weights), and the LoRA adapter folders the serve arguments load from it
    (Phi-4-multimodal's two)."""
    missing = [name for name in ("config.json", "tokenizer_config.json") if not (snapshot / name).is_file()]
    if not any((snapshot / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        missing.append("tokenizer.json")
    missing += _missing_shards(snapshot) if shards else []
    for lora in adapters:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            if not (snapshot / lora / name).is_file():
                missing.append(f"{lora}/{name}")
    return missing


def _missing_shards(snapshot: Path) -> list[str]:
    index = snapshot / "model.safetensors.index.json"
    if not index.is_file():
        return [] if (snapshot / "model.safetensors").is_file() else ["model.safetensors.index.json"]
    try:
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (ValueError, KeyError, AttributeError):
        return ["model.safetensors.index.json (unreadable)"]
    return [shard for shard in shards if not (snapshot / shard).is_file()]


def check_weights(model_id: str, model_path: Path | None, cache_dir: Path | None, offline: bool,
                  adapters: tuple[str, ...] = LORA_DIRS, shards: bool = True) -> Path:
    """The complete snapshot to serve, or WeightsError naming what is missing."""
    snapshot = model_path if model_path is not None else resolve_snapshot(model_id, cache_dir, offline)
    if not snapshot.is_dir():
        raise WeightsError(f"--model-path {snapshot} is not a folder")
    missing = missing_files(snapshot, adapters, shards)
    if missing:
        raise WeightsError(f"weights at {snapshot} are incomplete: missing {', '.join(missing)}")
    return snapshot
