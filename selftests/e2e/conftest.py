"""End-to-end self-tests: the docker ones share one engine fixture per image."""
from __future__ import annotations

from selftests.docker_stage import engine, vllm_cpu_engine

__all__ = ["engine", "vllm_cpu_engine"]
