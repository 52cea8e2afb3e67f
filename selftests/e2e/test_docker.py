"""The docker target on a real Docker engine, with the simulator image and a stand-in Atlas host.

Proves the container gets what the seed's `docker run` gives (8 NPUs, driver mounts, 1 GiB /dev/shm, the
allocator env), that pre-flight names what is wrong before any container exists, and that no container is
left behind after a pass, a failure or an interrupt.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from phi4mm_acceptance.deployment.launch.container import SUITE_LABEL
from selftests.docker_stage import DRIVER_MOUNTS, IMAGE, PROFILE, docker_args, suite_containers
from selftests.fake_hub import COMMIT, phi4mm_files
from selftests.standin_host import make_standin_host
from selftests.suite_run import REPO, SuiteRun, assert_complete, run_suite, sigint_as_a_terminal_sends_it

pytestmark = pytest.mark.e2e


def environment_seen_inside(log: Path) -> dict:
    line = next(line for line in log.read_text().splitlines() if "[simulator] environment: " in line)
    return json.loads(line.split("[simulator] environment: ", 1)[1])


def test_smoke_in_a_container_gets_the_seeds_devices_mounts_shm_and_env(tmp_path: Path, port: int,
                                                                         engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    token = "hf_PlantedTokenForTheContainer0123456789"
    run = run_suite(tmp_path, "-m", "smoke", *docker_args(host, port),
                    env={"HF_TOKEN": token})
    assert run.exit_code == 0, run.describe()
    assert "server| INFO:     Application startup complete." in run.output, "the server log was not shown live"
    log = (tmp_path / "reports" / "server.log").read_text()
    assert f"Using model weights in /root/.cache/huggingface/hub/models--microsoft--Phi-4-multimodal-instruct/" \
           f"snapshots/{COMMIT}" in log, "the container did not serve the cached snapshot"
    for written in (run.output, log, run.junit.read_text(), (tmp_path / "reports" / "metrics.json").read_text()):
        assert token not in written
    assert "hardware=SIMULATOR" in run.suite_name(), "a simulator image passed for Atlas hardware"
    versions = json.loads((tmp_path / "reports" / "metrics.json").read_text())["run"]["versions"]
    assert versions["npu_driver"] == "25.2.0" and versions["npu_firmware"].startswith("unknown: ")  # the stand-in's
    assert versions["image_digest"].startswith("sha256:") and "built here" in versions["image_digest"]
    assert versions["vllm_ascend"].startswith("unknown: the container has no vllm-ascend")
    assert versions["cann"].startswith("unknown: no /usr/local/Ascend/ascend-toolkit")
    assert versions["snapshot"] == COMMIT
    seen = environment_seen_inside(tmp_path / "reports" / "server.log")
    assert [d for d in seen["devices"] if d.startswith("/dev/davinci") and d[12:].isdigit()] == \
        [f"/dev/davinci{n}" for n in range(8)]
    assert {"/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"} <= set(seen["devices"])
    assert DRIVER_MOUNTS <= set(seen["mounts"])
    assert seen["shm_bytes"] == 1024**3
    assert seen["env"] == {"PYTORCH_NPU_ALLOC_CONF": "max_split_size_mb:256", "HF_HUB_OFFLINE": "1",
                           "ASCEND_RT_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}
    assert seen["hf_token_set"], "HF_TOKEN was not passed into the container"
    assert suite_containers(engine) == []


def test_lora_profile_serves_the_adapters_from_the_cached_snapshot(tmp_path: Path, port: int,
                                                                   engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    run = run_suite(tmp_path, "-m", "smoke", "-k", "startup", *docker_args(host, port))
    assert run.exit_code == 0, run.describe()
    assert run.cases()["test_lora_adapters_listed"].outcome == "passed"
    snapshot = f"/root/.cache/huggingface/hub/models--microsoft--Phi-4-multimodal-instruct/snapshots/{COMMIT}"
    assert f"'vision={snapshot}/vision-lora'" in (tmp_path / "reports" / "server.log").read_text()


@pytest.mark.quiet_machine
def test_load_in_a_container_samples_npu_telemetry(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    profile = tmp_path / "quick-load.toml"
    profile.write_text(f'extends = "{PROFILE}"\n[performance.text]\nnum_prompts = 8\nrequest_rate = "inf"\n'
                       'input_len = 32\noutput_len = 8\n')
    args = [a if a != PROFILE else str(profile) for a in docker_args(host, port, "--npus", "0,3")]
    run = run_suite(tmp_path, "-m", "performance", "-k", "load_meets_budgets and text", *args)
    assert run.exit_code == 0, run.describe()
    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    figures = metrics["tests"]["tests/test_performance.py::test_load_meets_budgets[text]"]["figures"]
    assert figures["telemetry_samples"] >= 2 and figures["health_changes"] == ""
    assert (figures["peak_memory_mb_dev0"], figures["peak_memory_mb_dev3"]) == (59018, 59016)  # a2-serving.txt
    assert "peak_memory_mb_dev1" not in figures


@pytest.mark.quiet_machine
def test_an_npu_health_change_during_a_load_fails_it(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    """NPU 3 turns Warning after the pre-flight, the check that the ready server holds HBM and the first
    telemetry sample: the load fails, naming it."""
    host = make_standin_host(tmp_path / "host", npu_smi_later=(3, "a2-two-busy-two-unhealthy.txt"))
    profile = tmp_path / "quick-load.toml"
    profile.write_text(f'extends = "{PROFILE}"\n[performance.text]\nnum_prompts = 8\nrequest_rate = "inf"\n'
                       'input_len = 32\noutput_len = 8\n')
    args = [a if a != PROFILE else str(profile) for a in docker_args(host, port, "--npus", "0,3")]
    run = run_suite(tmp_path, "-m", "performance", "-k", "load_meets_budgets and text", *args)
    case = run.cases()["test_load_meets_budgets[text]"]
    assert case.outcome == "failed", run.describe()
    assert "accelerator health changed during the load: device 3: OK -> Warning" in case.message
    assert suite_containers(engine) == []


def test_npus_option_maps_only_those(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port, "--npus", "2,5"))
    assert run.exit_code == 0, run.describe()
    seen = environment_seen_inside(tmp_path / "reports" / "server.log")
    assert [d for d in seen["devices"] if d[12:].isdigit()] == ["/dev/davinci2", "/dev/davinci5"]
    assert seen["env"]["ASCEND_RT_VISIBLE_DEVICES"] == "0,1"


@pytest.mark.parametrize(("case", "setup", "extra", "message"), [
    ("missing-device", {"skip_devices": ("davinci3", "hisi_hdc")}, (), "missing on the host: {host}/dev/davinci3, "
     "{host}/dev/hisi_hdc"),
    ("image-missing-no-pull", {}, ("--image=phi4mm-no-such-image:1",),
     "image phi4mm-no-such-image:1 is not on this host and --no-pull forbids pulling it"),
    ("weights-not-cached", {"weights": {}}, (), "weights of microsoft/Phi-4-multimodal-instruct are not in "
     "{host}/root/.cache/huggingface/hub and HF_HUB_OFFLINE=1 forbids downloading them"),
    ("speech-lora-missing", {"weights": {k: v for k, v in phi4mm_files().items() if "speech" not in k}}, (),
     "incomplete: missing speech-lora/adapter_config.json, speech-lora/adapter_model.safetensors"),
])
def test_provisioning_problem_is_named_and_creates_no_container(
        tmp_path: Path, port: int, engine: docker.DockerClient, case: str, setup: dict, extra: tuple[str, ...],
        message: str) -> None:
    host = make_standin_host(tmp_path / "host", **setup)
    run = run_suite(tmp_path, "-m", "smoke", *docker_args(host, port), *extra)
    run.assert_deployment_failed_once(message.format(host=host), "setup problem")
    assert suite_containers(engine) == []


def test_a_ready_server_holding_no_npu_memory_is_one_setup_problem(tmp_path: Path, port: int,
                                                                   engine: docker.DockerClient) -> None:
    """The container is ready and answers, but npu-smi shows its NPUs' HBM as before it started: it is not
    running on them. One setup problem naming the readings; the container is removed."""
    host = make_standin_host(tmp_path / "host", npu_smi_serving=None)
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port, "--npus", "0,3"))
    run.assert_deployment_failed_once("the server is ready but holds no memory on the NPUs it was given (memory "
                                      "used before it started and now: NPU 0 3318 -> 3318 MB, NPU 3 3316 -> "
                                      "3316 MB)", "setup problem")
    assert suite_containers(engine) == []


def test_unhealthy_npus_are_all_named(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host", npu_smi_sample="a2-two-busy-two-unhealthy.txt")
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port))
    run.assert_deployment_failed_once("pre-flight failed: ", "setup problem")
    message = run.cases()["server_start"].message
    for problem in ("NPU 1 has 6185 MB HBM free", "NPU 3 health is Warning", "NPU 7 health is Alarm"):
        assert problem in message


def test_port_in_use_creates_no_container(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port))
    run.assert_deployment_failed_once(f"port {port} on 127.0.0.1 is already in use", "setup problem")
    assert suite_containers(engine) == []


def test_daemon_down_is_one_clear_error(tmp_path: Path, port: int, engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port),
                    env={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    run.assert_deployment_failed_once("Docker daemon not reachable", "setup problem")


def test_leftover_container_of_an_earlier_run_is_reported_and_removed(tmp_path: Path, port: int,
                                                                     engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    leftover = engine.containers.create(IMAGE, ["sleep", "600"], name=f"{SUITE_LABEL}-leftover-{port}",
                                        labels={SUITE_LABEL: "1", f"{SUITE_LABEL}.run": "earlier",
                                                f"{SUITE_LABEL}.port": str(port)})
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port))
    assert run.exit_code == 0, run.describe()
    assert f"removed leftover container {leftover.name} of an earlier run (earlier, status created)" in run.output
    assert suite_containers(engine) == []


def test_crash_in_the_container_fails_with_its_log_and_removes_it(tmp_path: Path, port: int,
                                                                 engine: docker.DockerClient) -> None:
    host = make_standin_host(tmp_path / "host")
    profile = tmp_path / "crashing.toml"
    profile.write_text(f'extends = "{PROFILE}"\n[serve]\n'
                       'env = { PYTORCH_NPU_ALLOC_CONF = "max_split_size_mb:256", SIM_FAULT_CRASH_ON_START = "1" }\n')
    args = [a if a != PROFILE else str(profile) for a in docker_args(host, port)]
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *args)
    run.assert_deployment_failed_once("exited with code 1 during start-up", "serving broken")
    assert "NPU out of memory" in run.cases()["server_start"].message
    assert suite_containers(engine) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "jenkins-abort"])
def test_interrupt_mid_run_removes_the_container(tmp_path: Path, port: int, engine: docker.DockerClient,
                                                 signum: int) -> None:
    host = make_standin_host(tmp_path / "host")
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
               str(REPO / "tests"), "-p", "no:cacheprovider", *docker_args(host, port)]
    env = {**os.environ, "PYTEST_ADDOPTS": ""}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=sigint_as_a_terminal_sends_it)
    try:
        deadline = time.monotonic() + 60
        while not suite_containers(engine) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert suite_containers(engine), "the run never created its container"
        time.sleep(1.5)
        process.send_signal(signum)
        assert process.wait(60) != 0
    finally:
        if process.poll() is None:  # this test failed before its signal: leave no run behind
            process.kill()
            process.wait(60)
    assert suite_containers(engine) == []
    run = SuiteRun(process.returncode, "", tmp_path / "reports" / "junit.xml")
    assert_complete(run, tmp_path, *docker_args(host, port))


@pytest.mark.parametrize(("env", "extra", "message"), [
    ('SIM_FAULT_DIE_AFTER = "3"', (), "server died: http://127.0.0.1"),
    ('SIM_FAULT_SLOW_FIRST_TOKEN_MS = "3000"', ("-k", "text_only or canary", "--timeout", "2"), "Timeout (>2.0s)"),
], ids=["server-dies", "timeout-expiry"])
def test_failure_mid_run_in_a_container_is_reported_and_removes_it(tmp_path: Path, port: int,
                                                                   engine: docker.DockerClient, env: str,
                                                                   extra: tuple[str, ...], message: str) -> None:
    host = make_standin_host(tmp_path / "host")
    profile = tmp_path / "faulty.toml"
    profile.write_text(f'extends = "{PROFILE}"\n[serve]\n'
                       f'env = {{ PYTORCH_NPU_ALLOC_CONF = "max_split_size_mb:256", {env} }}\n')
    args = [*(a if a != PROFILE else str(profile) for a in docker_args(host, port)), "-m", "smoke", *extra]
    run = run_suite(tmp_path, *args)
    assert run.exit_code == 1, run.describe()
    assert any(message in case.message for case in run.not_passed().values()), run.describe()
    assert_complete(run, tmp_path, *args)
    assert suite_containers(engine) == []
