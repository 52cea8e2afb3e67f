"""The `vllm serve` command line for a profile: one place, shared by every launcher that starts vLLM."""
from __future__ import annotations

import json

from phi4mm_acceptance.deployment.settings import LaunchSettings

MODEL_DIR = "{model_dir}"


def serve_command(launch: LaunchSettings, port: int, model: str | None = None, model_dir: str | None = None) -> list[str]:
    """`model` overrides launch.model, e.g. with a snapshot folder as the server sees it; `model_dir` (the
    snapshot folder as the server sees it) replaces {model_dir} in the profile's arguments (LoRA paths)."""
    profile = launch.profile
    command = [*profile.serve.command, model or launch.model,
               "--host", launch.host, "--port", str(port),
               "--served-model-name", launch.served_model_name,
               "--max-model-len", str(profile.model.max_model_len)]
    if profile.model.limit_mm_per_prompt is not None:  # one value, as the profile gives it
        command += ["--limit-mm-per-prompt", json.dumps(profile.model.limit_mm_per_prompt, separators=(",", ":"))]
    args = list(profile.serve.args)
    if any(MODEL_DIR in arg for arg in args):
        if model_dir is None:
            raise ValueError(f"profile {profile.name!r} uses {MODEL_DIR} but the model folder is not known")
        args = [arg.replace(MODEL_DIR, model_dir) for arg in args]
    return command + args


def server_env(launch: LaunchSettings) -> dict[str, str]:
    """The profile's environment for the server, plus --api-key as VLLM_API_KEY (never on its command line)."""
    return {**launch.profile.serve.env, **({"VLLM_API_KEY": launch.api_key} if launch.api_key else {})}
