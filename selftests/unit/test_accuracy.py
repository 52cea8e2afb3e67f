"""The accuracy pieces on their own: answer scoring, WER, Wilson gates, AISBench's files, the LoRA hint."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from phi4mm_acceptance.accuracy.aisbench import AisbenchError, model_config, parse_run
from phi4mm_acceptance.accuracy.gates import gate_failures, wilson_lower_bound
from phi4mm_acceptance.accuracy.lora_hint import missing_lora_hint
from phi4mm_acceptance.accuracy.scoring import corpus_wer, vqa_correct, vqa_normalise
from phi4mm_acceptance.deployment.profile_files import load_profile

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "aisbench"
TEXTVQA = next(d for d in load_profile("cuda").accuracy.datasets if d.name == "textvqa")  # 75.6 +- 5, floor 65.6


@pytest.mark.parametrize(("answer", "accepted", "right"), [
    ("Red.", ("red",), True), ("Two!", ("2",), True), ("The cat.", ("cat",), True), ("3.5", ("3.5",), True),
    ("three squares", ("3",), False), ("Fruit  sold", ("fruit sold",), True), ("pear", ("pears",), False),
])
def test_vqa_answers_are_normalised_then_matched_exactly(answer: str, accepted: tuple[str, ...], right: bool) -> None:
    assert vqa_correct(answer, accepted) is right
    assert vqa_normalise("An apple, the PEAR") == "apple pear"


def test_word_error_rate_counts_edits_over_reference_words() -> None:
    assert corpus_wer([("The quick brown fox.", "the quick fox jumps")]) == pytest.approx(2 / 4)  # a deletion, an insertion
    assert corpus_wer([("Don't stop", "don't stop!")]) == 0
    assert corpus_wer([("a b c d", "a b c d"), ("e f", "x")]) == pytest.approx(2 / 6)
    assert corpus_wer([("The quick brown fox.", "")]) == 1


@pytest.mark.parametrize(("reference", "hypothesis", "wer"), [
    ("The weather in the harbour is calm.", "the weather in the harbor is calm", 0.0),  # British / American
    ("The new server has eight cards.", "The new server has 8 cards", 0.0),  # number words as digits
    ("Colour me grey, Mr. Smith!", "color me gray mister smith", 0.0),
    ("Please call me back at seven thirty.", "Please call me back at 7:30.", 2 / 6),  # 730 vs 7 30, as Whisper's
])
def test_wer_is_judged_after_whispers_english_normaliser(reference: str, hypothesis: str, wer: float) -> None:
    """The published WER (OpenASR 6.14%) is computed after Whisper's normaliser: right transcripts written
    another way cost nothing, not the ~10% raw words would."""
    assert corpus_wer([(reference, hypothesis)]) == pytest.approx(wer)


@pytest.mark.parametrize(("share", "n", "bound"), [(1.0, 5, 0.5655), (1.0, 30, 0.8865), (0.5, 100, 0.4038),
                                                   (0.0, 10, 0.0), (0.756, 5000, 0.7439)])
def test_wilson_lower_bound_matches_the_formula(share: float, n: int, bound: float) -> None:
    assert wilson_lower_bound(share, n) == pytest.approx(bound, abs=1e-4)


def test_gates_band_and_floor_say_score_bound_and_n() -> None:
    assert gate_failures(TEXTVQA, 74.0, 5000) == []
    low = gate_failures(TEXTVQA, 60.0, 5000)
    assert "score 60.00 (n=5000) is outside the band 75.6 +- 5 = [70.60, -] (only the lower edge" in low[0]
    assert "95% Wilson lower bound 58.63 of score 60.00 at n=5000 is below the floor 65.6" in low[1]
    small = gate_failures(TEXTVQA, 75.0, 20)  # in the band, but 20 samples cannot prove the floor
    assert len(small) == 1 and "at n=20 is below the floor" in small[0]
    assert gate_failures(TEXTVQA, 90.0, 5000) == []  # above a published figure measured another way: no defect
    accepted = replace(TEXTVQA, baseline_accepted=True)  # an accepted run of this config: too good is suspicious
    assert "outside the band 75.6 +- 5 = [70.60, 80.60]" in gate_failures(accepted, 90.0, 5000)[0]
    floor_only = replace(TEXTVQA, baseline=None, band=None)
    assert gate_failures(floor_only, 90.0, 5000) == []


def sample_run(tmp_path: Path, name: str) -> Path:
    shutil.copytree(SAMPLES / name, tmp_path / "run")
    return tmp_path


def test_parse_counts_answered_and_failed_requests(tmp_path: Path) -> None:
    result = parse_run("gsm8k", sample_run(tmp_path, "accuracy-one-http-500"))
    assert (result.score, result.samples, result.failed_requests) == (75.0, 4, 1)
    assert result.failed_reasons == ["Internal Server Error"]
    healthy = parse_run("gsm8k", sample_run(tmp_path / "ok", "accuracy-run"))
    assert (healthy.score, healthy.samples, healthy.failed_requests) == (75.0, 4, 0)


def test_a_run_of_several_datasets_is_read_row_by_row(tmp_path: Path) -> None:
    out = sample_run(tmp_path, "accuracy-run")  # gsm8k 3 of 4 right, then textvqa 2 of 3
    textvqa = parse_run("textvqa", out)
    assert (textvqa.score, textvqa.samples) == (66.67, 3)
    with pytest.raises(AisbenchError, match=r"no result row for mmmu \(rows: gsm8k, textvqa\)"):
        parse_run("mmmu", out)


def test_a_single_row_under_another_abbreviation_is_that_dataset_s(tmp_path: Path) -> None:
    out = sample_run(tmp_path, "accuracy-one-http-500")
    result = parse_run("gsm8k-subset", out)  # AISBench names the row after its config's abbr: gsm8k
    assert (result.score, result.samples, result.failed_requests) == (75.0, 4, 1)


def test_dash_cells_are_an_error_with_the_reason_from_the_logs(tmp_path: Path) -> None:
    out = sample_run(tmp_path, "accuracy-server-down")
    (out / "run" / "logs" / "infer" / "down-vllm").mkdir(parents=True)
    (out / "run" / "gsm8k.out").rename(out / "run" / "logs" / "infer" / "down-vllm" / "gsm8k.out")
    with pytest.raises(AisbenchError, match=r"reported '-' for gsm8k \(no score\): .*warmup failed.*"
                                            r"ClientConnectorError: Cannot connect to host 127.0.0.1:18099"):
        parse_run("gsm8k", out)


def test_missing_summary_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "console.log").write_text("[ERROR] Dataset path: /x is not exist!\n")
    with pytest.raises(AisbenchError, match=r"no summary CSV for gsm8k: \[ERROR\] Dataset path: /x is not exist!"):
        parse_run("gsm8k", tmp_path)


def test_model_config_points_at_the_server_with_temperature_zero() -> None:
    text = model_config("http://10.0.0.5:8000", "microsoft/Phi-4-multimodal-instruct", 16, 512, None, stream=True)
    namespace: dict[str, object] = {}
    exec(compile(text.replace("from ais_bench.benchmark.models import VLLMCustomAPIChat",
                              "VLLMCustomAPIChat = 'class'"), "config", "exec"), namespace)
    (model,) = namespace["models"]
    assert model["host_ip"] == "10.0.0.5" and model["host_port"] == 8000 and model["batch_size"] == 16
    assert model["model"] == "microsoft/Phi-4-multimodal-instruct" and model["api_key"] == ""
    assert model["generation_kwargs"] == {"temperature": 0} and model["max_out_len"] == 512 and model["stream"] is True


MODELS_WITH_ADAPTERS = {"data": [{"id": "phi4mm", "root": "/snap", "parent": None},
                                 {"id": "vision", "root": "/snap/vision-lora", "parent": "phi4mm"}]}


@pytest.mark.parametrize(("modality", "body", "args", "says"), [
    ("image", {"data": [{"id": "phi4mm"}]}, (), "lacks the vision LoRA: /v1/models lists no vision adapter"),
    ("audio", MODELS_WITH_ADAPTERS, (), "lacks the speech LoRA"),
    ("image", MODELS_WITH_ADAPTERS, ("--enable-lora",), "loaded but not applied to requests for the base model"),
    ("image", MODELS_WITH_ADAPTERS, ("--default-mm-loras", '{"image": "/snap/vision-lora"}'), "look past it"),
    ("image", MODELS_WITH_ADAPTERS, None, "lists the vision adapter (vision)"),
    ("audio", {"data": [*MODELS_WITH_ADAPTERS["data"], {"id": "audio", "root": "/snap/speech-lora", "parent": "phi4mm"}]},
     ("--default-mm-loras", '{"audio": "/snap/speech-lora"}'), "an `input_audio` part's type reads as \"input\""),
])
def test_lora_hint_reads_models_and_serve_command(modality: str, body: dict, args: tuple[str, ...] | None,
                                                  says: str) -> None:
    assert says in missing_lora_hint(modality, body, "phi4mm", args)


def test_host_and_container_placements_build_the_command(tmp_path: Path) -> None:
    from phi4mm_acceptance.accuracy.aisbench import container_placement, host_placement, seen_in_container, tool_env
    from phi4mm_acceptance.deployment.settings import raw_values, resolve_settings

    dataset = next(d for d in load_profile("sim").accuracy.datasets if d.name == "gsm8k")
    host = host_placement(["/opt/ab/bin/ais_bench"], tmp_path)
    assert host.command(dataset.config, "all", Path("/tmp/s"), {}) == [
        "/opt/ab/bin/ais_bench", "--models", "phi4mm_server", "--datasets", "gsm8k_gen_0_shot_cot_chat_prompt",
        "--config-dir", "/tmp/s/configs", "-w", "/tmp/s/outputs", "-m", "all"]
    env = tool_env(host, "http://10.1.2.3:8000")
    assert env["TERM"] == "dumb" and "10.1.2.3" in env["NO_PROXY"].split(",")
    assert env["AIS_BENCH_DATASETS_CACHE"] == str(tmp_path)

    settings = resolve_settings(raw_values({"phi4mm_profile": "atlas-800i-a2", "phi4mm_host_root": str(tmp_path)}, {}))
    (tmp_path / "data" / "aisbench").mkdir(parents=True)
    assert seen_in_container(settings.launch, tmp_path / "data" / "aisbench") == Path("/data/aisbench")
    assert seen_in_container(settings.launch, tmp_path / "elsewhere") is None
    inside = container_placement("phi4mm-x", Path("/data/phi4mm-aisbench"), tmp_path, Path("/data/aisbench"))
    command = inside.command(dataset.config, "all", Path("/data/phi4mm-aisbench/s1"),
                             tool_env(inside, "http://127.0.0.1:8000"))
    assert command[:3] == ["docker", "exec", "--workdir=/data/phi4mm-aisbench/s1"]
    assert "--env=AIS_BENCH_DATASETS_CACHE=/data/aisbench" in command and "--env=TERM=dumb" in command
    assert command[command.index("phi4mm-x") + 1:][:2] == ["ais_bench", "--models"]
