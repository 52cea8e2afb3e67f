"""End-to-end self-tests: the docker ones share one engine fixture."""
from __future__ import annotations

from selftests.docker_stage import engine

__all__ = ["engine"]
