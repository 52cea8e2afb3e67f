"""The measuring tools inside the serving container, as the docker target runs them in a vllm-ascend image
(`docker exec`): the real `vllm bench serve` and the real AISBench. Each tool's virtual environment and its
interpreter are mounted at their own paths into the stand-in container; the stand-in's `vllm` hands `bench`
to the real client (SIM_VLLM_CLIENT), and `ais_bench` is on the container's PATH.
"""
from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from selftests.aisbench_data import write_tiny_datasets
from selftests.docker_stage import DRIVER_MOUNTS, PROFILE, docker_args, suite_containers
from selftests.standin_host import make_standin_host
from selftests.suite_run import REPO, SuiteRun, real_tool, run_suite

pytestmark = pytest.mark.e2e
IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"


def run_with_tool(tmp_path: Path, port: int, executable: Path, profile_extra: str, env: str,
                  *args: str) -> tuple[SuiteRun, Path]:
    """The suite on the docker target with `executable`'s environment shared into the container."""
    interpreter_home = (executable.parent / "python3").resolve().parent.parent
    if interpreter_home.is_relative_to("/usr"):
        pytest.skip(f"{executable.name}'s Python lives under /usr ({interpreter_home}): it cannot be mounted over "
                    "the image's own")
    host = make_standin_host(tmp_path / "host")
    shares = [executable.parent.parent, interpreter_home]
    for share in shares:
        (host / share.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
        (host / share.relative_to("/")).symlink_to(share)
    driver = sorted(DRIVER_MOUNTS - {"/root/.cache", "/data"})
    profile = tmp_path / "tool-inside.toml"
    profile.write_text(
        f'extends = "{PROFILE}"\n[container]\nread_only_mounts = {json.dumps([*driver, *map(str, shares)])}\n'
        f'[serve]\nenv = {{ PYTORCH_NPU_ALLOC_CONF = "max_split_size_mb:256", {env} }}\n{profile_extra}')
    suite_args = [a if a != PROFILE else str(profile) for a in docker_args(host, port, *args)]
    return run_suite(tmp_path, *suite_args, timeout_s=600), host


@pytest.mark.quiet_machine
def test_vllm_bench_serve_runs_inside_the_serving_container(tmp_path: Path, port: int,
                                                           engine: docker.DockerClient) -> None:
    """With an API key, which must reach the tool inside (by name, not on the command line)."""
    client = real_tool(REPO / ".venv-vllm-bench" / "bin" / "vllm").resolve()
    key = "sk-PlantedApiKeyForTheBench0123456789"
    run, host = run_with_tool(
        tmp_path, port, client, '[performance.text]\nnum_prompts = 6\nrequest_rate = "inf"\ninput_len = 32\n'
        'output_len = 8\n', f'SIM_VLLM_CLIENT = "{client}"', "--api-key", key, "-m", "performance",
        "-k", "vllm_bench and text")
    assert run.exit_code == 0, run.describe()
    results = [json.loads(p.read_text()) for p in (host / "data" / "phi4mm-bench").glob("*-text/*.json")]
    assert len(results) == 1 and (results[0]["completed"], results[0]["failed"]) == (6, 0), results
    bench_log = (tmp_path / "reports" / "vllm-bench" / "text.log").read_text()
    assert "Serving Benchmark Result" in bench_log
    for written in (run.output, bench_log, run.junit.read_text()):
        assert key not in written
    assert suite_containers(engine) == []


def test_aisbench_runs_inside_the_serving_container(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    """No --aisbench: the suite finds `ais_bench` in the container and the datasets through its /data mount."""
    tool = real_tool(REPO / ".venv-aisbench" / "bin" / "ais_bench").resolve()
    datasets = write_tiny_datasets(tmp_path / "host" / "data" / "aisbench")
    run, _ = run_with_tool(
        tmp_path, port, tool, '[accuracy.aisbench]\nbatch_size = 4\ntimeout_s = 300\n'
        '[accuracy.aisbench.gsm8k]\nbaseline = 100\nband = 10\nfloor = 50\norigin = "tiny self-test dataset"\n',
        f'PATH = "{IMAGE_PATH}:{tool.parent}"', f"--aisbench-datasets={datasets}", "-m", "accuracy",
        "-k", "aisbench and gsm8k")
    assert run.exit_code == 0, run.describe()
    assert run.cases()["test_aisbench[gsm8k]"].outcome == "passed", run.describe()
    figures = json.loads((tmp_path / "reports" / "metrics.json").read_text())["tests"]
    gsm8k = figures["tests/test_accuracy.py::test_aisbench[gsm8k]"]["figures"]
    assert (gsm8k["score"], gsm8k["samples"], gsm8k["failed_requests"]) == (100.0, 6, 0)
    assert sorted((tmp_path / "reports" / "aisbench" / "gsm8k" / "run" / "summary").glob("summary_*.csv"))
    console = (tmp_path / "reports" / "aisbench" / "gsm8k" / "console.log").read_text()
    assert "Loading phi4mm_server: /data/phi4mm-aisbench/" in console, "AISBench did not run in the container"
    assert suite_containers(engine) == []
