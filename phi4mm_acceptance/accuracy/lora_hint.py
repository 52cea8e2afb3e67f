"""Which LoRA adapter a deployment with poor multimodal answers likely lacks, from what the server shows.

Phi-4-multimodal's vision and speech quality live in its `vision-lora` and `speech-lora` adapters; served
without them (or with them loaded but not applied to plain requests) image answers degrade and speech is
not transcribed. /v1/models lists loaded adapters; the serve command says whether `--default-mm-loras`
applies them to requests that name the base model.
"""
from __future__ import annotations

import json
from typing import Any

from phi4mm_acceptance.deployment.profile import flag_value

ADAPTER_FOR = {"image": "vision", "audio": "speech"}


def listed_adapters(models_body: Any, served_model_name: str) -> list[dict[str, Any]]:
    """/v1/models entries other than the base model (vLLM lists each LoRA module as a model)."""
    data = models_body.get("data") if isinstance(models_body, dict) else None
    return [m for m in data or [] if isinstance(m, dict) and m.get("id") != served_model_name]


def adapter_for(models_body: Any, served_model_name: str, modality: str) -> str | None:
    """The listed LoRA adapter for a modality (vision for images), as /v1/models names it: the one named like
    its kind, else one whose folder is (`root`, vLLM 0.11-0.33: the adapter's path)."""
    kind = ADAPTER_FOR[modality]
    listed = [str(m.get("id")) for m in listed_adapters(models_body, served_model_name) if m.get("id")]
    by_folder = [str(m.get("id")) for m in listed_adapters(models_body, served_model_name)
                 if kind in str(m.get("root", "")).rstrip("/").rsplit("/", 1)[-1].lower()]
    return kind if kind in listed else next(iter(by_folder), None)


def default_mm_loras(serve_args: tuple[str, ...]) -> dict[str, str]:
    raw = flag_value(serve_args, "--default-mm-loras")
    try:
        value = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def missing_lora_hint(modality: str, models_body: Any, served_model_name: str,
                      serve_args: tuple[str, ...] | None) -> str:
    """One sentence for a failure message; serve_args is None when the command line is unknown (external)."""
    kind = ADAPTER_FOR[modality]
    fix = (f"serve with --enable-lora --max-lora-rank 320 --lora-modules {kind}=<snapshot>/{kind}-lora "
           f"--default-mm-loras '{{\"{modality}\": \"<snapshot>/{kind}-lora\"}}'")
    adapters = [m for m in listed_adapters(models_body, served_model_name)
                if kind in str(m.get("id", "")).lower() or f"{kind}-lora" in str(m.get("root", "")).lower()]
    if not adapters:
        return f"the deployment likely lacks the {kind} LoRA: /v1/models lists no {kind} adapter; {fix}"
    if serve_args is None:
        return (f"/v1/models lists the {kind} adapter ({adapters[0].get('id')}); if requests to the base model "
                f"do not get it, the server lacks --default-mm-loras for {modality}")
    if modality not in default_mm_loras(serve_args):
        return (f"the {kind} LoRA is loaded but not applied to requests for the base model: the serve command "
                f"has no --default-mm-loras entry for {modality!r}; {fix}")
    caveat = (" (vLLM applies it to `audio_url` parts only: an `input_audio` part's type reads as \"input\", "
              "so such requests get the base model)") if modality == "audio" else ""
    return (f"the {kind} LoRA is loaded and applied by default{caveat}, so look past it: weights, the {modality} "
            "processor or the kernels")
