"""End-to-end self-tests: the docker ones share one engine client per image, and take the engine in turns."""
from __future__ import annotations

from selftests.docker_stage import engine, sim_image_engine, vllm_cpu_engine, vllm_cpu_image_engine

__all__ = ["engine", "sim_image_engine", "vllm_cpu_engine", "vllm_cpu_image_engine"]
