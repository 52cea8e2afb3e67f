"""Keeping tokens out of everything the suite writes: messages, logs, reports.

Secrets come from the environment (HF tokens, API keys) and from options (--api-key), which register
themselves here when the run's settings are resolved.
"""
from __future__ import annotations

import os
from pathlib import Path

SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "PHI4MM_API_KEY", "OPENAI_API_KEY", "VLLM_API_KEY")
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """A secret given some other way than the environment (an option); redacted from now on."""
    if value:
        _registered.add(value)


def secret_values(extra: tuple[str | None, ...] = ()) -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV] + [v or "" for v in extra] + list(_registered)
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, extra: tuple[str | None, ...] = ()) -> str:
    for value in secret_values(extra):
        text = text.replace(value, "***")
    return text


def scrub_file(path: Path, extra: tuple[str | None, ...] = ()) -> None:
    """Redact a text file in place (a server log may echo its own arguments or environment)."""
    if not path.is_file():
        return
    text = path.read_text(errors="replace")
    scrubbed = redact(text, extra)
    if scrubbed != text:
        path.write_text(scrubbed)
