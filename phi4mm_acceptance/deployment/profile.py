"""Deployment profiles as data: the serve command and every threshold of one deployment.

Numbers live in profiles/*.toml, never in test code; profile_files.py reads them into these types.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARDWARE_CLASSES = ("simulator", "atlas-800i-a2", "atlas-800-a3", "cuda", "cpu", "any")
TARGETS = ("sim", "process", "docker", "external")


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


VLLM_DEFAULT_MM_LIMIT = 999  # a modality --limit-mm-per-prompt leaves out (vLLM V1 0.11-0.33 get_limit_per_prompt)


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value a command line gives `flag` (`--flag VALUE` or `--flag=VALUE`), or None."""
    for number, arg in enumerate(args):
        if arg == flag and number + 1 < len(args):
            return args[number + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
    return None


@dataclass(frozen=True)
class ModelSpec:
    id: str
    served_name: str
    max_model_len: int
    limit_mm_per_prompt: dict[str, int] | None  # vLLM's --limit-mm-per-prompt, one value; None: not given

    def limit(self, modality: str) -> int:
        """Items of a modality per prompt as vLLM reads the flag: a modality it leaves out (or no flag at all)
        has vLLM's default, 999; 0 switches the modality off."""
        return (self.limit_mm_per_prompt or {}).get(modality, VLLM_DEFAULT_MM_LIMIT)

    def states(self, modality: str) -> bool:
        """The profile names the modality with a limit above 0: it claims the deployment serves it."""
        return (self.limit_mm_per_prompt or {}).get(modality, 0) > 0


@dataclass(frozen=True)
class ServeSpec:
    command: tuple[str, ...]
    args: tuple[str, ...]
    host: str
    port: int
    startup_timeout_s: float
    stop_timeout_s: float
    env: dict[str, str]


@dataclass(frozen=True)
class ChatSpec:
    request_timeout_s: float
    max_completion_tokens: int
    length_cap_tokens: int
    max_ttft_ms: float
    max_token_gap_s: float = 60.0  # a streamed request with no token for this long is stuck (vllm#39863)


@dataclass(frozen=True)
class ContainerSpec:
    """How the docker target runs the server: the seed's `docker run` as data."""

    image: str
    accelerator: str  # "npu": /dev/davinci<N> device files; "gpu": docker GPU device requests
    devices: tuple[int, ...]
    device_count: int
    device_file: str
    extra_devices: tuple[str, ...]
    read_only_mounts: tuple[str, ...]
    shared_mounts: tuple[str, ...]
    shm_size: str
    visible_devices_env: str
    min_free_hbm_mb: int


REQUEST_KINDS = {"text": (False, False), "image": (True, False), "audio": (False, True), "image_audio": (True, True)}
"""A production mix's request kinds: whether each carries the load's pictures, its clips."""


@dataclass(frozen=True)
class PerformanceSpec:
    """One load to put on the server (the vllm-bench shape, plus images) and the budgets it must meet."""

    name: str
    num_prompts: int
    request_rate: float  # requests per second; inf sends all at once
    max_concurrency: int | None
    input_len: int
    output_len: int
    images: int  # distinct generated images attached to each request
    budgets: dict[str, float]
    origin: str
    image_px: int = 448  # their side: 448 is one Phi-4-multimodal crop, larger sizes multi-crop HD
    clips: int = 0  # distinct spoken clips attached to each request (audio_url: the speech adapter runs)
    clip_s: float = 10.0  # their length
    mix: tuple[tuple[str, float], ...] = ()  # production traffic: each request kind's share; () all carry both


STATISTIC_PREFIX = re.compile(r"^(?:mean|median|p\d+(?:\.\d+)?)_")


def base_metric(metric: str) -> str:
    """p99_ttft_ms -> ttft_ms, p99_itl -> itl; a metric that is no statistic is its own base (latency_ms)."""
    return STATISTIC_PREFIX.sub("", metric)


@dataclass(frozen=True)
class RegressionSpec:
    """--compare-to: a figure with at least `min_samples` behind it on both sides regresses when it is worse
    by more than `tolerance` (relative) and, for latencies, by more than its noise floor (`floor_ms`), with
    its samples' distribution shifted (p < `alpha`). `origin` says where the numbers come from."""

    tolerance: float = 0.10
    min_change_ms: float = 0.0  # the noise floor of every latency without one of its own
    metric_floors_ms: dict[str, float] = field(default_factory=dict)  # itl, p99_itl, ttft, ... -> ms
    min_samples: int = 5
    alpha: float = 0.01
    origin: str = ""

    def floor_ms(self, metric: str) -> float:
        """The noise floor of a latency figure (`p99_itl_ms`, `mean_tpot_ms`, `latency_ms`): its statistic's own
        (`p99_itl`), else its base metric's (`itl`), else the default. A tail figure may need its own: one
        token gap delayed by the host's scheduling moves a p99 of token gaps, never their mean."""
        name = metric.removesuffix("_ms")
        return self.metric_floors_ms.get(name, self.metric_floors_ms.get(base_metric(name), self.min_change_ms))

    def describe_floors(self) -> str:
        named = [f"{name} {value:g} ms" for name, value in self.metric_floors_ms.items()]
        return ", ".join([*named, f"{'every other' if named else 'every'} latency {self.min_change_ms:g} ms"])


@dataclass(frozen=True)
class AisbenchDataset:
    """One AISBench dataset and its gates: the vllm-ascend band and a floor on the Wilson lower bound."""

    name: str  # as in test ids and reports
    config: str  # AISBench's dataset config name, e.g. textvqa_gen_base64
    path: str  # the data, relative to the datasets root, as that config names it
    modality: str  # image, audio or text: which LoRA a low score points at
    baseline: float | None  # points; with band: baseline - band <= score (<= baseline + band if accepted)
    band: float | None
    floor: float | None  # points; the 95% Wilson lower bound of the score must reach it
    origin: str
    baseline_accepted: bool = False  # from an accepted AISBench run of this config, not a published figure


VLLM_MM_CACHE_GB = 4.0  # --mm-processor-cache-gb's default, 0.11-0.33 (config/multimodal.py)


@dataclass(frozen=True)
class CapacitySpec:
    """The capacity search: the highest concurrency at which `load` (one of the profile's loads, sent all at
    once with at most that many in flight, `rounds` requests per slot) still meets the SLOs (p99 TTFT, p99 ITL,
    no failed request). Concurrency doubles from 1 up to `max_concurrency`, then `refine_steps` bisections
    between the last step that met the SLOs and the first that missed. The knee fails when it falls more than
    `knee_tolerance` (or the accepted runs' relative swing, if larger) below the accepted baseline's."""

    load: str
    max_concurrency: int
    rounds: int
    refine_steps: int
    slo_p99_ttft_ms: float
    slo_p99_itl_ms: float
    knee_tolerance: float
    origin: str


@dataclass(frozen=True)
class SoakSpec:
    """The nightly memory soak: distinct images one after another. vLLM keeps each processed image in its
    multimodal processor cache (per process, up to --mm-processor-cache-gb, then least recently used ones
    go), so memory grows by design until the cache is full: the warm-up fills it (its size over `item_mb`,
    the smallest a soak image takes in it, with 10% to spare), then over `images` more the server's memory
    may grow by at most `max_rss_growth_mb`."""

    images: int
    max_rss_growth_mb: float
    item_mb: float  # one soak image in vLLM's processor cache (its processed tensors' bytes), at least
    origin: str
    image_px: int = 448  # the soak images' side

    def warmup_images(self, cache_gb: float) -> int:
        return int(cache_gb * 1024 * 1.1 / self.item_mb) + 10


@dataclass(frozen=True)
class AccuracySpec:
    """The built-in canary's thresholds and the AISBench datasets to run with their gates."""

    origin: str
    canary_min_image_accuracy: float  # share of canary image questions answered right, 0..1
    canary_max_audio_wer: float  # word error rate over the spoken clips, 0..1
    aisbench_timeout_s: float
    aisbench_batch_size: int
    aisbench_max_out_len: int
    aisbench_stream: bool  # streamed requests, as the users' clients send them
    datasets: tuple[AisbenchDataset, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    hardware: str
    description: str
    default_target: str
    model: ModelSpec
    serve: ServeSpec
    chat: ChatSpec
    container: ContainerSpec | None = None
    performance: tuple[PerformanceSpec, ...] = ()
    accuracy: AccuracySpec | None = None
    soak: SoakSpec | None = None
    capacity: CapacitySpec | None = None
    regression: RegressionSpec = RegressionSpec()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def is_simulator(self) -> bool:
        return self.hardware == "simulator"

    @property
    def snapshot_adapters(self) -> tuple[str, ...]:
        """Adapter folders inside the model snapshot that the serve arguments load (`{model_dir}/NAME`)."""
        return tuple(dict.fromkeys(re.findall(r"\{model_dir\}/([\w.-]+)", " ".join(self.serve.args))))

    def serve_flag(self, flag: str) -> str | None:
        """The value the serve arguments give `flag`, or None."""
        return flag_value(self.serve.args, flag)

    @property
    def loads_checkpoint(self) -> bool:
        """False when the serve arguments say --load-format dummy: vLLM then makes random weights and reads no
        shard, so a snapshot without them is complete."""
        return self.serve_flag("--load-format") != "dummy"

    @property
    def mm_cache_gb(self) -> float:
        """The multimodal processor cache the server keeps per process (--mm-processor-cache-gb)."""
        value = self.serve_flag("--mm-processor-cache-gb")
        return float(value) if value is not None else VLLM_MM_CACHE_GB

    @property
    def lora_modules(self) -> dict[str, str]:
        """LoRA adapters the serve arguments load (`--lora-modules name=path ...`), by name."""
        args = list(self.serve.args)
        if "--lora-modules" not in args:
            return {}
        modules = {}
        for value in args[args.index("--lora-modules") + 1:]:
            if value.startswith("--"):
                break
            name, _, path = value.partition("=")
            modules[name] = path
        return modules
