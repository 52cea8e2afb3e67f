"""AISBench's perf mode: the call for a load, and its real result files (AISBench 3.1, runs against the simulator)
read under the suite's metric names, with samples that give AISBench's own figures again."""
from __future__ import annotations

from pathlib import Path

import pytest

from phi4mm_acceptance.accuracy.aisbench import AisbenchError
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile_files import load_profile
from phi4mm_acceptance.performance.aisbench_perf import (
    SYNTHETIC_CONFIG,
    failed_reasons,
    parse_perf,
    perf_run,
    perf_samples,
)
from phi4mm_acceptance.performance.metrics import percentile

RUNS = Path(__file__).resolve().parent.parent / "data" / "aisbench-perf"


def loaded(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile("\n".join(line for line in text.splitlines() if not line.startswith("from ")), "config", "exec"),
         {"__builtins__": __builtins__, **{name: name for name in (
             "VLLMCustomAPIChat", "PromptTemplate", "ZeroRetriever", "GenInferencer", "SyntheticDataset",
             "MATHEvaluator", "math_postprocess_v2")}}, namespace)
    return namespace


def test_the_text_load_becomes_a_synthetic_perf_run_of_its_shape() -> None:
    text = next(load for load in load_profile("sim").performance if load.name == "text")
    run = perf_run(text, Endpoint.at("http://127.0.0.1:8000", "phi4mm"), "/models/tok", 600)
    assert (run.dataset_config, run.mode, run.extra) == (SYNTHETIC_CONFIG, "perf", ("--num-prompts", str(text.num_prompts)))
    (model,) = loaded(run.configs["models/phi4mm_server.py"])["models"]
    assert model["path"] == "/models/tok" and model["stream"] is True and model["max_out_len"] == text.output_len
    assert model["generation_kwargs"] == {"temperature": 0, "ignore_eos": True}
    assert model["batch_size"] == (text.max_concurrency or text.num_prompts) and model["request_rate"] == 0
    config = loaded(run.configs[f"datasets/{SYNTHETIC_CONFIG}.py"])["synthetic_config"]
    assert config == {"Type": "tokenid", "RequestCount": text.num_prompts, "TrustRemoteCode": True,
                      "TokenIdConfig": {"RequestSize": text.input_len, "PrefixLen": 0}}


def test_the_image_load_runs_textvqa_at_its_rate() -> None:
    image = next(load for load in load_profile("sim").performance if load.name == "image")
    run = perf_run(image, Endpoint.at("http://127.0.0.1:8000", "phi4mm"), "/tok", 600)
    (model,) = loaded(run.configs["models/phi4mm_server.py"])["models"]
    assert run.dataset_config == "textvqa_gen_base64" and list(run.configs) == ["models/phi4mm_server.py"]
    assert model["request_rate"] == image.request_rate


@pytest.mark.parametrize("name", ["synthetic", "textvqa", "synthetic-two-failed"])
@pytest.mark.parametrize("metric", ["ttft", "tpot", "itl", "e2el"])
def test_samples_give_aisbenchs_own_figures(name: str, metric: str) -> None:
    results, samples = parse_perf(RUNS / name), perf_samples(RUNS / name)[f"{metric}_ms"]
    assert sum(samples) / len(samples) == pytest.approx(results[f"mean_{metric}_ms"], abs=0.051)  # its CSV: 0.1 ms
    assert percentile(samples, 99) == pytest.approx(results[f"p99_{metric}_ms"], abs=0.051)


def test_results_are_named_as_vllm_bench_names_them() -> None:
    results = parse_perf(RUNS / "synthetic")
    assert (results["completed"], results["failed"], results["total_output_tokens"]) == (4, 0, 128)
    assert results["duration"] == pytest.approx(0.1198863) and results["output_throughput"] == pytest.approx(1067.6782)
    assert results["p99_ttft_ms"] == 29.7 and results["median_tpot_ms"] == 2.2


def test_failed_requests_are_counted_with_their_reason() -> None:
    assert parse_perf(RUNS / "synthetic-two-failed")["failed"] == 2
    assert failed_reasons(RUNS / "synthetic-two-failed") == ["Internal Server Error"]
    assert len(perf_samples(RUNS / "synthetic-two-failed")["ttft_ms"]) == 4


def test_no_results_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AisbenchError, match="wrote no performance results"):
        parse_perf(tmp_path)
