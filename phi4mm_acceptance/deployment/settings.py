"""The run's settings: command-line options, each also readable from an environment variable for Jenkins.

One table (OPTIONS) declares every option; `resolve_settings` turns raw values into a checked RunSettings
or raises UsageError with a one-line message naming the option and what would be valid.
"""
from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from phi4mm_acceptance import PROJECT_ROOT
from phi4mm_acceptance.deployment.profile import TARGETS, Profile, ProfileError
from phi4mm_acceptance.deployment.profile_files import available_profiles, load_profile
from phi4mm_acceptance.deployment.secrets import register_secret

SIMULATOR_MODEL_DIR = PROJECT_ROOT / "simulator" / "fake_model"


class UsageError(ValueError):
    """A wrong option or environment value; shown as one line before anything starts."""


@dataclass(frozen=True)
class OptionSpec:
    flag: str
    env: str
    help: str
    is_switch: bool = False

    @property
    def dest(self) -> str:
        return "phi4mm_" + self.flag.lstrip("-").replace("-", "_")


OPTIONS = (
    OptionSpec("--target", "PHI4MM_TARGET", f"where the server runs: {', '.join(TARGETS)} "
               "(default: the profile's default_target)"),
    OptionSpec("--profile", "PHI4MM_PROFILE", "profile name in profiles/ or path to a .toml file (default: sim)"),
    OptionSpec("--base-url", "PHI4MM_BASE_URL", "URL of a running server, with --target external"),
    OptionSpec("--served-model-name", "PHI4MM_SERVED_MODEL_NAME", "model name the server answers to"),
    OptionSpec("--model", "PHI4MM_MODEL", "model id or local path passed to `vllm serve`"),
    OptionSpec("--port", "PHI4MM_PORT", "port for a server the suite starts (0 picks a free one)"),
    OptionSpec("--startup-timeout", "PHI4MM_STARTUP_TIMEOUT", "seconds to wait for the server to be ready"),
    OptionSpec("--keep-server", "PHI4MM_KEEP_SERVER", "leave the server running and reuse it next run",
               is_switch=True),
    OptionSpec("--network", "PHI4MM_NETWORK", "run tests that need the server to reach the internet",
               is_switch=True),
    OptionSpec("--asset-host", "PHI4MM_ASSET_HOST", "address the server can reach the suite's image server on"),
    OptionSpec("--server-log", "PHI4MM_SERVER_LOG", "log file of an external server, to check its start-up lines"),
    OptionSpec("--api-key", "PHI4MM_API_KEY", "bearer token for a server started with --api-key"),
    OptionSpec("--reports-dir", "PHI4MM_REPORTS_DIR", "where reports go (default: reports)"),
    OptionSpec("--image", "PHI4MM_IMAGE", "container image for --target docker (default: the profile's)"),
    OptionSpec("--npus", "PHI4MM_NPUS", "accelerators to map, e.g. 0,1 or 0-3 (default: the profile's)"),
    OptionSpec("--no-pull", "PHI4MM_NO_PULL", "never pull the image; fail if it is not on this host", is_switch=True),
    OptionSpec("--host-root", "PHI4MM_HOST_ROOT", "prefix of the host's device and driver paths (stand-ins in tests)"),
    OptionSpec("--model-path", "PHI4MM_MODEL_PATH", "a local model snapshot folder to serve instead of the cache's"),
    OptionSpec("--vllm-bench", "PHI4MM_VLLM_BENCH", "the `vllm` command that runs `vllm bench serve` "
               "(default: vllm on PATH; performance tests skip it when there is none)"),
    OptionSpec("--tokenizer", "PHI4MM_TOKENIZER", "local tokenizer folder for vllm bench (default: --model-path, "
               "the simulator's for the sim profile, else the model id)"),
    OptionSpec("--compare-to", "PHI4MM_COMPARE_TO", "a previous run's metrics.json: fail on regressions beyond "
               "the profile's tolerance"),
    OptionSpec("--baseline", "PHI4MM_BASELINE", "the accepted baseline this run is judged against (default: "
               "baselines/<profile>.json in the suite; `none`: no baseline, as phi4mm-accept-baseline's own runs)"),
    OptionSpec("--aisbench", "PHI4MM_AISBENCH", "the `ais_bench` command for the accuracy tests (default: ais_bench "
               "on PATH; without one they skip, and fail under -m release)"),
    OptionSpec("--aisbench-datasets", "PHI4MM_AISBENCH_DATASETS", "AISBench datasets root, holding "
               "ais_bench/datasets/... (default: $AIS_BENCH_DATASETS_CACHE)"),
    OptionSpec("--sign-off-without", "PHI4MM_SIGN_OFF_WITHOUT", "release gates left out on purpose, comma-separated "
               "test names or patterns (test_seed_request*): deselected and listed as left out; any other gate left "
               "out of -m release (by -k, -m, --deselect, paths or --ignore) fails the sign-off"),
    OptionSpec("--hf-cache", "PHI4MM_HF_CACHE", "Hugging Face hub cache holding the weights (default: the "
               "docker target's shared /root/.cache, else huggingface_hub's own)"),
)
TRUE_WORDS = ("1", "true", "yes", "on")


def is_true(raw: str | None) -> bool:
    """A switch's value from the command line or the environment (1/true/yes/on)."""
    return (raw or "").strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class LaunchSettings:
    """What starts, finds and stops the server: the launchers and the deployment's readings get this slice only."""

    target: str
    profile: Profile
    served_model_name: str
    model: str
    host: str
    port: int
    startup_timeout_s: float
    keep_server: bool = False
    api_key: str | None = None
    base_url: str | None = None  # the external target's server
    server_log: Path | None = None  # the external target's log
    image: str | None = None  # the docker target's
    devices: tuple[int, ...] = ()
    no_pull: bool = False
    host_root: Path = Path("/")
    model_path: Path | None = None
    hf_cache: Path | None = None


@dataclass(frozen=True)
class ToolSettings:
    """The tools run against the server and what they read: vllm bench, AISBench and its datasets, the tokenizer,
    the suite's image server, the internet."""

    vllm_bench: list[str] | None
    aisbench: list[str] | None
    aisbench_datasets: Path | None
    tokenizer: str
    network: bool = False
    asset_host: str = "127.0.0.1"


@dataclass(frozen=True)
class ReportSettings:
    """Where the reports go, what the run is compared with, and the gates a sign-off leaves out on purpose."""

    reports_dir: Path
    compare_to: Path | None = None
    baseline: Path | None = None  # where the accepted baseline is; it may not exist yet
    sign_off_without: tuple[str, ...] = ()

    @property
    def server_log_copy(self) -> Path:
        """The server's log as this run saw it (copied there from a kept or external server's own log)."""
        return self.reports_dir / "server.log"


@dataclass(frozen=True)
class RunSettings:
    """The options, split by who uses them: each part of the suite is handed its slice."""

    launch: LaunchSettings
    tools: ToolSettings
    report: ReportSettings

    @property
    def profile(self) -> Profile:
        """Every number of the deployment (each part reads its tables): the one the launch slice holds."""
        return self.launch.profile

    @property
    def hardware_label(self) -> str:
        if self.profile.is_simulator:
            return "SIMULATOR (not a hardware certification)"
        if self.profile.hardware == "cpu":
            return "cpu: real vLLM on a CPU (proves the protocol checks, certifies no accelerator)"
        if self.launch.target == "external":
            return f"{self.profile.hardware} profile against an external endpoint"
        return self.profile.hardware


def raw_values(cli: dict[str, object], environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """Command line first, then the environment variable, keyed by option dest."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, str | None] = {}
    for spec in OPTIONS:
        given = cli.get(spec.dest)
        if spec.is_switch:
            values[spec.dest] = "1" if given else environ.get(spec.env)
        else:
            values[spec.dest] = str(given) if given not in (None, "") else environ.get(spec.env) or None
    return values


def resolve_settings(values: dict[str, str | None]) -> RunSettings:
    def value(flag: str) -> str | None:
        return values.get("phi4mm_" + flag.replace("-", "_"))

    target = value("target")
    if target is not None and target not in TARGETS:
        raise UsageError(f"--target {target!r} is not one of: {', '.join(TARGETS)}")
    profile_name = value("profile") or ("external" if target == "external" else "sim")
    try:
        profile = load_profile(profile_name)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    target = target or profile.default_target
    if target == "docker" and profile.container is None:
        with_one = [name for name in available_profiles() if load_profile(name).container is not None]
        raise UsageError(f"--target docker needs a [container] table, and profile {profile.name!r} has none; "
                         f"these have one: {', '.join(with_one)}")
    if target == "sim" and not profile.is_simulator:
        raise UsageError(f"--target sim runs the simulator, but profile {profile.name!r} describes "
                         f"{profile.hardware} hardware; use --profile sim")
    base_url = _base_url(value("base-url"), target)
    model = value("model") or profile.model.id
    model_path = _existing_dir("--model-path", value("model-path"))
    if model_path is None and Path(model).is_dir():  # vLLM's "model id or local path": a folder is served as is
        model_path = Path(model).resolve()
    keep_server = is_true(value("keep-server"))
    if keep_server and target not in ("sim", "process"):
        raise UsageError(f"--keep-server works with --target sim or process, not {target!r}")
    return RunSettings(
        LaunchSettings(
            target=target,
            profile=profile,
            served_model_name=value("served-model-name") or profile.model.served_name,
            model=model,
            host=profile.serve.host,
            port=_int_in_range("--port", value("port"), profile.serve.port, 0, 65535),
            startup_timeout_s=_positive("--startup-timeout", value("startup-timeout"),
                                        profile.serve.startup_timeout_s),
            keep_server=keep_server,
            api_key=_secret(value("api-key")),
            base_url=base_url,
            server_log=_existing_file("--server-log", value("server-log")),
            image=value("image") or (profile.container.image if profile.container else None),
            devices=_devices(value("npus"), profile),
            no_pull=is_true(value("no-pull")),
            host_root=Path(value("host-root") or "/"),
            model_path=model_path,
            hf_cache=Path(value("hf-cache")) if value("hf-cache") else None,
        ),
        ToolSettings(
            vllm_bench=_tool_command("--vllm-bench", value("vllm-bench"), "vllm"),
            aisbench=_tool_command("--aisbench", value("aisbench"), "ais_bench"),
            aisbench_datasets=_existing_dir("--aisbench-datasets",
                                            value("aisbench-datasets") or os.environ.get("AIS_BENCH_DATASETS_CACHE")),
            tokenizer=value("tokenizer") or _default_tokenizer(profile, str(model_path) if model_path else None,
                                                                 model),
            network=is_true(value("network")),
            asset_host=value("asset-host") or "127.0.0.1",
        ),
        ReportSettings(
            reports_dir=Path(value("reports-dir") or "reports"),
            compare_to=_existing_file("--compare-to", value("compare-to")),
            baseline=_baseline(value("baseline"), profile),
            sign_off_without=tuple(name.strip() for name in (value("sign-off-without") or "").split(",")
                                   if name.strip()),
        ),
    )


BASELINES_DIR = PROJECT_ROOT / "baselines"


def _baseline(raw: str | None, profile: Profile) -> Path | None:
    """A baseline named on the command line must exist; the profile's default place may be empty still (its
    gate then says how to fill it)."""
    if raw is None:
        return BASELINES_DIR / f"{profile.name}.json"
    return None if raw == "none" else _existing_file("--baseline", raw)


def _secret(raw: str | None) -> str | None:
    register_secret(raw)
    return raw


def _tool_command(flag: str, raw: str | None, default: str) -> list[str] | None:
    """The given command line, else the tool found on PATH, else None."""
    command = shlex.split(raw) if raw else ([found] if (found := shutil.which(default)) else [])
    if not command:
        return None
    executable = shutil.which(command[0])
    if not executable:
        raise UsageError(f"{flag} {raw!r}: {command[0]!r} is not an executable")
    return [os.path.abspath(executable), *command[1:]]  # tools may run in another working directory


def _default_tokenizer(profile: Profile, model_path: str | None, model: str | None) -> str:
    if model_path:
        return model_path
    if profile.is_simulator:
        return str(SIMULATOR_MODEL_DIR)
    return model or profile.model.id


def _devices(raw: str | None, profile: Profile) -> tuple[int, ...]:
    container = profile.container
    if raw is None:
        return container.devices if container else ()
    ids: list[int] = []
    try:
        for part in raw.split(","):
            low, _, high = part.strip().partition("-")
            ids += range(int(low), int(high or low) + 1)
    except ValueError:
        raise UsageError(f"--npus {raw!r} is not a list like 0,1 or 0-3") from None
    limit = container.device_count if container else 0
    if not limit:
        raise UsageError(f"--npus {raw!r}: profile {profile.name!r} maps no accelerators (it has no [container] "
                         "table); --npus is for the docker target's hardware profiles")
    if not ids or any(i >= limit for i in ids) or len(set(ids)) != len(ids):
        raise UsageError(f"--npus {raw!r}: profile {profile.name!r} has devices 0..{limit - 1}, each at most once")
    return tuple(ids)


def _base_url(raw: str | None, target: str) -> str | None:
    if target != "external":
        if raw:
            raise UsageError(f"--base-url is only used with --target external (target is {target!r})")
        return None
    if not raw:
        raise UsageError("--target external needs --base-url URL of the running server, e.g. http://host:8000")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url {raw!r} is not an http(s) URL like http://host:8000")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UsageError(f"--base-url {raw!r} has an invalid port") from None
    path = parts.path.rstrip("/")
    if path not in ("", "/v1"):
        raise UsageError(f"--base-url {raw!r} should be the server root (http://host:port), not {path!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _int_in_range(flag: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise UsageError(f"{flag} {raw!r} is not a whole number") from None
    if not low <= number <= high:
        raise UsageError(f"{flag} {number} is outside {low}..{high}")
    return number


def _positive(flag: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise UsageError(f"{flag} {raw!r} is not a number of seconds") from None
    if number <= 0:
        raise UsageError(f"{flag} must be positive, got {raw}")
    return number


def _existing_dir(flag: str, raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw).resolve()
    if not path.is_dir():
        raise UsageError(f"{flag} {raw!r}: no such folder")
    return path


def _existing_file(flag: str, raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        raise UsageError(f"{flag} {raw!r}: no such file")
    return path
