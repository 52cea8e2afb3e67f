"""Weights: found offline in a real-layout Hugging Face cache, checked complete, errors clear and token-free."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.launch.ports import free_port
from phi4mm_acceptance.deployment.profile_files import load_profile
from phi4mm_acceptance.deployment.weights import WeightsError, check_weights, missing_files
from selftests.fake_hub import COMMIT, REPO_ID, SHARDS, make_fake_snapshot, phi4mm_files


def test_offline_cache_resolves_to_the_snapshot(tmp_path: Path) -> None:
    make_fake_snapshot(tmp_path)
    snapshot = check_weights(REPO_ID, None, tmp_path, offline=True)
    assert snapshot == tmp_path / f"models--microsoft--Phi-4-multimodal-instruct/snapshots/{COMMIT}"
    assert (snapshot / "vision-lora" / "adapter_config.json").is_symlink()


@pytest.mark.parametrize(("dropped", "named"), [
    ((SHARDS[1],), SHARDS[1]),
    (("speech-lora/adapter_model.safetensors",), "speech-lora/adapter_model.safetensors"),
    (("vision-lora/adapter_config.json", "vision-lora/adapter_model.safetensors"), "vision-lora/adapter_config.json"),
    (("tokenizer.json",), "tokenizer.json"),
    (("config.json",), "config.json"),
    (("model.safetensors.index.json", *SHARDS), "model.safetensors.index.json"),
])
def test_incomplete_snapshot_names_what_is_missing(tmp_path: Path, dropped: tuple[str, ...], named: str) -> None:
    files = {k: v for k, v in phi4mm_files().items() if k not in dropped}
    make_fake_snapshot(tmp_path, files)
    with pytest.raises(WeightsError, match="incomplete: missing") as error:
        check_weights(REPO_ID, None, tmp_path, offline=True)
    assert named in str(error.value)


def test_complete_snapshot_has_nothing_missing(tmp_path: Path) -> None:
    assert missing_files(make_fake_snapshot(tmp_path)) == []


def test_model_not_cached_offline_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=f"weights of {REPO_ID} are not in {tmp_path} and HF_HUB_OFFLINE=1"):
        check_weights(REPO_ID, None, tmp_path, offline=True)


def test_model_path_skips_the_cache(tmp_path: Path) -> None:
    snapshot = make_fake_snapshot(tmp_path / "cache")
    assert check_weights(REPO_ID, snapshot, None, offline=True) == snapshot
    with pytest.raises(WeightsError, match="is not a folder"):
        check_weights(REPO_ID, tmp_path / "nope", None, offline=True)


def test_failed_download_never_shows_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real download attempt against a dead local mirror (HF_ENDPOINT), with a token planted."""
    token = "hf_PlantedSecretToken1234567890"
    monkeypatch.setenv("HF_TOKEN", token)
    mirror = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    monkeypatch.setenv("HF_ENDPOINT", mirror)
    with pytest.raises(WeightsError) as error:
        check_weights(REPO_ID, None, tmp_path, offline=False)
    assert f"could not be downloaded from {mirror}" in str(error.value)
    assert token not in str(error.value) and "\n" not in str(error.value)


def test_only_the_adapter_folders_the_profile_serves_are_required(tmp_path: Path) -> None:
    files = {k: v for k, v in phi4mm_files().items() if "lora" not in k}
    snapshot = make_fake_snapshot(tmp_path, files)
    assert missing_files(snapshot, adapters=()) == []
    assert "vision-lora/adapter_config.json" in missing_files(snapshot)


def test_dummy_weights_need_no_shards_but_the_rest(tmp_path: Path) -> None:
    """--load-format dummy: vLLM reads no shard, so a folder without them serves; config and adapters it still
    reads."""
    files = {k: v for k, v in phi4mm_files().items() if k != "model.safetensors.index.json" and k not in SHARDS}
    snapshot = make_fake_snapshot(tmp_path, files)
    assert missing_files(snapshot, shards=False) == []
    assert missing_files(snapshot) == ["model.safetensors.index.json"]
    (snapshot / "config.json").unlink()
    assert missing_files(snapshot, shards=False) == ["config.json"]


@pytest.mark.parametrize(("args", "loads"), [(("--load-format", "dummy"), False), (("--load-format=dummy",), False),
                                            (("--load-format", "safetensors"), True), ((), True)])
def test_a_profile_serving_dummy_weights_loads_no_checkpoint(args, loads) -> None:
    profile = load_profile("vllm-cpu-tiny-phi4mm")
    assert replace(profile, serve=replace(profile.serve, args=args)).loads_checkpoint is loads
