"""Planted secrets never leave the run: not in reports/, the JUnit file, the terminal output or messages.

The simulator is served with an API key (as `vllm serve --api-key`, passed as VLLM_API_KEY so it is not on a
command line; without it every /v1 request is 401) and a Hugging Face token is in the environment; a fault
makes some tests fail so failure messages are checked too, and AISBench's config (which must carry the key)
is checked in reports/aisbench/.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from selftests.aisbench_data import write_tiny_datasets
from selftests.e2e.test_aisbench import TOOL
from selftests.suite_run import processes_on_port, real_tool, run_suite

pytestmark = pytest.mark.e2e
HF_TOKEN = "hf_PlantedTokenNeverToBeSeen0123456789"
API_KEY = "sk-planted-api-key-never-to-be-seen-42"


def leaks(path: Path, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        data = file.read_bytes()
        found += [f"{file.relative_to(path)} holds {s[:6]}..." for s in secrets if s.encode() in data]
    return found


def test_token_and_api_key_never_appear_in_output_or_reports(tmp_path: Path, port: int) -> None:
    tool = real_tool(TOOL)
    datasets = write_tiny_datasets(tmp_path / "datasets")
    run = run_suite(tmp_path / "run", "-m", "not performance", "-k", "not aisbench or gsm8k", "--target", "sim",
                    "--port", str(port), "--api-key", API_KEY, f"--aisbench={tool}", f"--aisbench-datasets={datasets}",
                    env={"HF_TOKEN": HF_TOKEN, "SIM_FAULT_BAD_USAGE": "1"})
    assert run.exit_code == 1, run.describe()  # the fault fails some tests: their messages are checked too
    cases = run.cases()
    # answered (so authorised) chats, judged on their usage; a missing key would have been HTTP 401
    assert any("usage does not add up" in case.message for case in run.not_passed().values()), run.describe()
    assert cases["test_aisbench[gsm8k]"].outcome == "passed", "AISBench did not send the API key"
    secrets = (HF_TOKEN, API_KEY)
    assert not [s for s in secrets if s in run.output], "a secret reached the terminal output"
    assert leaks(tmp_path / "run", secrets) == []
    configs = (tmp_path / "run" / "reports" / "aisbench" / "gsm8k" / "run" / "configs").glob("*.py")
    assert any("api_key='***'" in config.read_text() for config in configs), "AISBench's config dump was not scrubbed"
    assert processes_on_port(port) == []


def test_requests_without_the_key_are_refused(tmp_path: Path, port: int) -> None:
    """The check above is meaningful only if the key is really required: without it, chats get 401."""
    run = run_suite(tmp_path, "-m", "smoke", "-k", "text_only", "--target", "sim", "--port", str(port),
                    env={"VLLM_API_KEY": API_KEY})
    assert run.cases()["test_text_only[capital]"].outcome == "failed"
    assert "HTTP 401" in run.cases()["test_text_only[capital]"].message
