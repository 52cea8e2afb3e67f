"""Keeping tokens out of everything the suite writes: messages, logs, reports."""
from __future__ import annotations

import os

SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "PHI4MM_API_KEY", "OPENAI_API_KEY")


def secret_values(extra: tuple[str | None, ...] = ()) -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV] + [v or "" for v in extra]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, extra: tuple[str | None, ...] = ()) -> str:
    for value in secret_values(extra):
        text = text.replace(value, "***")
    return text
