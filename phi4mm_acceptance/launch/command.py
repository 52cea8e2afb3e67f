"""The `vllm serve` command line for a profile: one place, shared by every launcher that starts vLLM."""
from __future__ import annotations

import json

from phi4mm_acceptance.settings import RunSettings


def serve_command(settings: RunSettings, port: int, model: str | None = None) -> list[str]:
    """`model` overrides settings.model, e.g. with a snapshot folder as the server sees it."""
    profile = settings.profile
    command = [*profile.serve.command, model or settings.model,
               "--host", settings.host, "--port", str(port),
               "--served-model-name", settings.served_model_name,
               "--max-model-len", str(profile.model.max_model_len)]
    if profile.model.limit_mm_per_prompt:
        command += ["--limit-mm-per-prompt", json.dumps(profile.model.limit_mm_per_prompt, separators=(",", ":"))]
    return command + list(profile.serve.args)
