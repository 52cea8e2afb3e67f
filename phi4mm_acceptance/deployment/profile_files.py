"""Reading profiles/*.toml into a Profile: finding a profile by name, `extends` merging, and every table's
parsing. Loading checks every field and names the first bad one with its file, so a typo in a profile is a
one-line error, not a KeyError deep inside a test.
"""
from __future__ import annotations

import tomllib
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from phi4mm_acceptance import PROJECT_ROOT
from phi4mm_acceptance.deployment.profile import (
    HARDWARE_CLASSES,
    REQUEST_KINDS,
    TARGETS,
    AccuracySpec,
    AisbenchDataset,
    CapacitySpec,
    ChatSpec,
    ContainerSpec,
    ModelSpec,
    PerformanceSpec,
    Profile,
    ProfileError,
    RegressionSpec,
    ServeSpec,
    SoakSpec,
    base_metric,
)

PROFILES_DIR = PROJECT_ROOT / "profiles"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def resolve_profile_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or "/" in name_or_path:
        if not candidate.is_file():
            raise ProfileError(f"profile file not found: {candidate}")
        return candidate.resolve()
    path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        near = get_close_matches(name_or_path, available_profiles(), n=1)
        raise ProfileError(f"unknown profile {name_or_path!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                           + f"; choose one of: {', '.join(available_profiles())} or give a path to a .toml file")
    return path


def load_profile(name_or_path: str) -> Profile:
    path = resolve_profile_path(name_or_path)
    fields = _Fields(path, _read_with_base(path, ()))
    profile = _build(path, fields)
    unknown = fields.unknown_keys()
    if unknown:
        raise ProfileError(f"profile {path.name} (or a profile it extends) has keys no part of the suite reads: "
                           f"{', '.join(unknown)}")
    return profile


def _read_with_base(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The file's tables; `extends = "name"` starts from that profile and overrides it key by key."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path} is not valid TOML: {exc}") from None
    bases = data.pop("extends", [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ProfileError(f"profile {path.name}: extends must be a profile name or a list of them")
    merged: dict[str, Any] = {}
    for base in bases:
        base_path = _base_path(path, base)
        if base_path in (*seen, path):
            raise ProfileError(f"profile {path.name}: extends {base!r} makes a cycle")
        merged = _merge(merged, _read_with_base(base_path, (*seen, path)))
    return _merge(merged, data)


def _base_path(path: Path, base: str) -> Path:
    """A profile name, or a part shared by several profiles (`parts/<name>`: next to the extending file, else
    in profiles/, so a copied profile still finds the shipped parts)."""
    if "/" not in base:
        return resolve_profile_path(base)
    candidates = [(path.parent / base).with_suffix(".toml"), (PROFILES_DIR / base).with_suffix(".toml")]
    part = next((c for c in candidates if c.is_file()), None)
    if part is None:
        raise ProfileError(f"profile {path.name}: extends {base!r}, but {candidates[0]} does not exist")
    return part


WHOLE_VALUES = {("model", "limit_mm_per_prompt")}  # one value on vLLM's command line: a child replaces it whole


def _merge(base: dict[str, Any], override: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict) and (*path, key) not in WHOLE_VALUES
        merged[key] = _merge(base[key], value, (*path, key)) if nested else value
    return merged


class _Fields:
    """Typed access to a parsed TOML table that names the file and dotted key on any error, and remembers every
    key it was asked for, so a key nobody reads (a typo: `max_model_lenn`) is named, not silently ignored."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.asked: set[str] = set()
        self.children: dict[str, _Fields] = {}

    def _fail(self, key: str, problem: str) -> ProfileError:
        return ProfileError(f"profile {self.path.name}: {self.prefix}{key} {problem}")

    def has(self, key: str) -> bool:
        self.asked.add(key)
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as it is, for a caller that checks it itself."""
        self.asked.add(key)
        return self.data.get(key, default)

    def table(self, key: str) -> _Fields:
        self.asked.add(key)
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise self._fail(key, "is missing or not a table")
        if key not in self.children:
            self.children[key] = _Fields(self.path, value, f"{self.prefix}{key}.")
        return self.children[key]

    def unknown_keys(self) -> list[str]:
        """Every key under this table that nothing read, with the nearest key that is read, if one is near."""
        found = []
        for key in self.data:
            if key in self.children:
                found += self.children[key].unknown_keys()
            elif key not in self.asked:
                near = get_close_matches(key, sorted(self.asked), n=1)
                found.append(f"{self.prefix}{key}" + (f" (did you mean {self.prefix}{near[0]}?)" if near else ""))
        return found

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.asked.add(key)
        if key not in self.data:
            if default is None:
                raise self._fail(key, "is missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self._fail(key, f"must be {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self._fail(key, f"must be {_kind_name(kind)}, got {value!r}")
        return value

    def positive(self, key: str, default: float | None = None) -> float:
        value = self.get(key, (int, float), default)
        if value <= 0:
            raise self._fail(key, f"must be positive, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.get(key, str)
        if value not in choices:
            raise self._fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key: str, default: list[str] | None = None) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) for v in value):
            raise self._fail(key, "must be a list of strings")
        return tuple(value)

    def whole_numbers(self, key: str) -> tuple[int, ...]:
        value = self.get(key, list)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise self._fail(key, "must be a list of whole numbers >= 0")
        return tuple(value)

    def str_map(self, key: str, value_kind: type) -> dict[str, Any]:
        value = self.get(key, dict, {})
        if not all(isinstance(v, value_kind) and not isinstance(v, bool) for v in value.values()):
            raise self._fail(key, f"values must all be {_kind_name(value_kind)}")
        return dict(value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "a number", float: "a number", str: "a string", list: "a list", dict: "a table", bool: "true/false"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _build(path: Path, root: _Fields) -> Profile:
    deployment, model, serve, chat = (root.table(k) for k in ("deployment", "model", "serve", "chat"))
    command = serve.strings("command")
    if not command:
        raise ProfileError(f"profile {path.name}: serve.command must not be empty")
    port = int(serve.get("port", int))
    if not 0 <= port <= 65535:
        raise ProfileError(f"profile {path.name}: serve.port must be 0..65535, got {port}")
    return Profile(
        name=path.stem,
        path=path,
        hardware=deployment.choice("hardware", HARDWARE_CLASSES),
        description=deployment.get("description", str),
        default_target=deployment.choice("default_target", TARGETS),
        model=ModelSpec(
            id=model.get("id", str),
            served_name=model.get("served_name", str),
            max_model_len=int(model.positive("max_model_len")),
            limit_mm_per_prompt=model.str_map("limit_mm_per_prompt", int) if model.has("limit_mm_per_prompt")
            else None,
        ),
        serve=ServeSpec(
            command=command,
            args=serve.strings("args", []),
            host=serve.get("host", str),
            port=port,
            startup_timeout_s=serve.positive("startup_timeout_s"),
            stop_timeout_s=serve.positive("stop_timeout_s"),
            env=serve.str_map("env", str),
        ),
        chat=ChatSpec(
            request_timeout_s=chat.positive("request_timeout_s"),
            max_completion_tokens=int(chat.positive("max_completion_tokens")),
            length_cap_tokens=int(chat.positive("length_cap_tokens")),
            max_ttft_ms=chat.positive("max_ttft_ms"),
            max_token_gap_s=chat.positive("max_token_gap_s", 60.0),
        ),
        container=_container(root) if root.has("container") else None,
        performance=_performance(root) if root.has("performance") else (),
        accuracy=_accuracy(root) if root.has("accuracy") else None,
        soak=_soak(root) if root.has("soak") else None,
        capacity=_capacity(root) if root.has("capacity") else None,
        regression=_regression(root) if root.has("regression") else RegressionSpec(),
        raw=root.data,
    )


def _container(root: _Fields) -> ContainerSpec:
    table = root.table("container")
    spec = ContainerSpec(
        image=table.get("image", str),
        accelerator=table.choice("accelerator", ("npu", "gpu")),
        devices=table.whole_numbers("devices"),
        device_count=int(table.positive("device_count")),
        device_file=table.get("device_file", str, ""),
        extra_devices=table.strings("extra_devices", []),
        read_only_mounts=table.strings("read_only_mounts", []),
        shared_mounts=table.strings("shared_mounts", []),
        shm_size=table.get("shm_size", str),
        visible_devices_env=table.get("visible_devices_env", str),
        min_free_hbm_mb=int(table.get("min_free_hbm_mb", int, 0)),
    )
    if any(d >= spec.device_count for d in spec.devices):
        raise ProfileError(f"profile {root.path.name}: container.devices {list(spec.devices)} must be below "
                           f"container.device_count {spec.device_count}")
    if spec.accelerator == "npu" and "{n}" not in spec.device_file:
        raise ProfileError(f"profile {root.path.name}: container.device_file must contain {{n}} for NPUs")
    return spec


BUDGET_KEYS = ("max_failed", "max_p99_ttft_ms", "max_mean_ttft_ms", "max_mean_tpot_ms", "max_p99_tpot_ms",
               "max_p99_itl_ms", "max_p99_e2el_ms", "baseline_output_throughput", "min_output_throughput_ratio")
LOAD_KEYS = ("num_prompts", "request_rate", "max_concurrency", "input_len", "output_len", "images", "image_px",
             "clips", "clip_s", "mix", "origin")


def _performance(root: _Fields) -> tuple[PerformanceSpec, ...]:
    loads = []
    for name in root.table("performance").data:
        table = root.table("performance").table(name)
        unknown = sorted(set(table.data) - set(BUDGET_KEYS) - set(LOAD_KEYS))
        if unknown:
            raise ProfileError(f"profile {root.path.name}: performance.{name} has unknown keys {unknown}; "
                               f"budgets are {', '.join(BUDGET_KEYS)}")
        rate = table.raw("request_rate", "inf")
        if rate != "inf":
            rate = table.positive("request_rate")
        concurrency = int(table.get("max_concurrency", int, 0))
        images, clips = int(table.get("images", int, 0)), int(table.get("clips", int, 0))
        loads.append(PerformanceSpec(
            name=name,
            num_prompts=int(table.positive("num_prompts")),
            request_rate=float(rate),
            max_concurrency=concurrency or None,
            input_len=int(table.positive("input_len")),
            output_len=int(table.positive("output_len")),
            images=images,
            budgets={key: float(table.get(key, (int, float))) for key in BUDGET_KEYS if key in table.data},
            origin=table.get("origin", str),
            image_px=int(table.positive("image_px", 448)),
            clips=clips,
            clip_s=float(table.positive("clip_s", 10.0)),
            mix=_mix(table, images, clips),
        ))
    return tuple(loads)


def _mix(table: _Fields, images: int, clips: int) -> tuple[tuple[str, float], ...]:
    """A production mix: shares of REQUEST_KINDS adding up to 1, each kind's media given by the load."""
    shares = table.str_map("mix", (int, float))
    if not shares:
        return ()
    unknown = sorted(set(shares) - set(REQUEST_KINDS))
    if unknown:
        raise table._fail("mix", f"has unknown request kinds {unknown}; kinds are {', '.join(REQUEST_KINDS)}")
    if any(share <= 0 for share in shares.values()) or abs(sum(shares.values()) - 1) > 1e-6:
        raise table._fail("mix", f"shares must be positive and add up to 1, got {shares}")
    for kind in shares:
        pictures, speech = REQUEST_KINDS[kind]
        lacking = "images" if pictures and not images else "clips" if speech and not clips else ""
        if lacking:
            raise table._fail("mix", f"has {kind!r} requests, so the load needs {lacking} >= 1")
    return tuple((kind, float(share)) for kind, share in shares.items())


def _capacity(root: _Fields) -> CapacitySpec:
    table = root.table("capacity")
    load = table.get("load", str)
    if "performance" not in root.data or load not in root.table("performance").data:
        raise ProfileError(f"profile {root.path.name}: capacity.load {load!r} names none of its [performance.<name>] "
                           "loads")
    tolerance = table.positive("knee_tolerance")
    if tolerance >= 1:
        raise ProfileError(f"profile {root.path.name}: capacity.knee_tolerance is a fraction below 1, got {tolerance:g}")
    return CapacitySpec(load=load, max_concurrency=int(table.positive("max_concurrency")),
                        rounds=int(table.positive("rounds", 3)), refine_steps=int(table.get("refine_steps", int, 2)),
                        slo_p99_ttft_ms=table.positive("slo_p99_ttft_ms"), slo_p99_itl_ms=table.positive("slo_p99_itl_ms"),
                        knee_tolerance=tolerance, origin=table.get("origin", str))


def _soak(root: _Fields) -> SoakSpec:
    table = root.table("soak")
    return SoakSpec(images=int(table.positive("images")), max_rss_growth_mb=table.positive("max_rss_growth_mb"),
                    item_mb=table.positive("item_mb"), origin=table.get("origin", str),
                    image_px=int(table.positive("image_px", 448)))


REGRESSION_METRICS = ("ttft", "tpot", "itl", "e2el", "latency")


def _regression(root: _Fields) -> RegressionSpec:
    """`min_change_ms` is one noise floor for every latency, or a table of them by metric (`ttft`, `tpot`,
    `itl`, `e2el`, `latency`) or by a statistic of one (`p99_itl`), with `default` for the rest: TPOT's jitter
    is not TTFT's, and a tail's is not a mean's."""
    table = root.table("regression")
    floors = table.raw("min_change_ms", 0)
    floors = dict(floors) if isinstance(floors, dict) else {"default": floors}
    unknown = sorted(name for name in set(floors) - {"default"} if base_metric(name) not in REGRESSION_METRICS)
    if unknown:
        raise ProfileError(f"profile {root.path.name}: regression.min_change_ms has unknown metrics {unknown}; "
                           f"known: default, {', '.join(REGRESSION_METRICS)}, or one with its statistic (p99_itl, "
                           "mean_ttft)")
    for name, floor in floors.items():
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or floor < 0:
            raise ProfileError(f"profile {root.path.name}: regression.min_change_ms {name} must be a number >= 0, "
                               f"got {floor!r}")
    alpha = table.positive("alpha", 0.01)
    if alpha >= 1:
        raise ProfileError(f"profile {root.path.name}: regression.alpha is a p-value below 1, got {alpha:g}")
    return RegressionSpec(tolerance=table.positive("tolerance"), min_change_ms=float(floors.pop("default", 0)),
                          metric_floors_ms={name: float(value) for name, value in floors.items()},
                          min_samples=int(table.positive("min_samples", 5)), alpha=alpha,
                          origin=table.get("origin", str, ""))


MODALITIES = ("image", "audio", "text")
AISBENCH_KEYS = ("timeout_s", "batch_size", "max_out_len", "stream")


def _accuracy(root: _Fields) -> AccuracySpec:
    table = root.table("accuracy")
    aisbench = table.table("aisbench") if table.has("aisbench") else _Fields(root.path, {}, "accuracy.aisbench.")
    datasets = []
    for name in (key for key, value in aisbench.data.items() if isinstance(value, dict)):
        entry = aisbench.table(name)
        gates = {key: float(entry.get(key, (int, float))) if key in entry.data else None
                 for key in ("baseline", "band", "floor")}
        if (gates["baseline"] is None) != (gates["band"] is None) or \
                (gates["band"] is None and gates["floor"] is None):
            raise ProfileError(f"profile {root.path.name}: accuracy.aisbench.{name} needs baseline and band "
                               "together, or a floor, or all three")
        datasets.append(AisbenchDataset(name=name, config=entry.get("config", str), path=entry.get("path", str),
                                        modality=entry.choice("modality", MODALITIES),
                                        origin=entry.get("origin", str, table.get("origin", str)),
                                        baseline_accepted=entry.get("baseline_accepted", bool, False), **gates))
    unknown = sorted(key for key, value in aisbench.data.items()
                     if not isinstance(value, dict) and key not in AISBENCH_KEYS)
    if unknown:
        raise ProfileError(f"profile {root.path.name}: accuracy.aisbench has unknown keys {unknown}")
    wer = table.get("canary_max_audio_wer", (int, float))
    accuracy = table.positive("canary_min_image_accuracy")
    if accuracy > 1 or not 0 <= wer <= 1:
        raise ProfileError(f"profile {root.path.name}: accuracy canary thresholds are shares between 0 and 1")
    return AccuracySpec(
        origin=table.get("origin", str),
        canary_min_image_accuracy=accuracy,
        canary_max_audio_wer=wer,
        aisbench_timeout_s=aisbench.positive("timeout_s", 7200),
        aisbench_batch_size=int(aisbench.positive("batch_size", 16)),
        aisbench_max_out_len=int(aisbench.positive("max_out_len", 512)),
        aisbench_stream=bool(aisbench.get("stream", bool, False)),
        datasets=tuple(datasets),
    )
