"""Profiles load, and a broken one is one clear error naming the file and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.profile import ProfileError
from phi4mm_acceptance.deployment.profile_files import PROFILES_DIR, available_profiles, load_profile


@pytest.mark.parametrize("name", available_profiles())
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.model.max_model_len in (4096, 8192)  # the seed's, or room for a 2560 px image


def test_shipped_profiles_cover_every_deployment() -> None:
    assert {"atlas-800i-a2", "atlas-800-a3", "atlas-800i-a2-lora", "atlas-800-a3-lora", "cuda", "sim",
            "external"} <= set(available_profiles())
    assert load_profile("sim").is_simulator and not load_profile("atlas-800i-a2").is_simulator


def mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILES_DIR / "sim.toml").read_text()
    assert old in text
    path = tmp_path / "custom.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("max_model_len = 8192", 'max_model_len = "8k"', "model.max_model_len must be a number, got '8k'"),
    ("max_model_len = 8192", "max_model_len = -1", "model.max_model_len must be positive"),
    ("max_model_len = 8192", "max_model_len = 8192\nmax_model_lenn = 4096", "has keys no part of the suite reads: "
     "model.max_model_lenn (did you mean model.max_model_len?)"),
    ("max_ttft_ms = 1000", "max_ttft_ms = 1000\nmax_tft_ms = 5", "chat.max_tft_ms (did you mean chat.max_ttft_ms?)"),
    ("[chat]", "[contaner]\nimage = \"x\"\n[chat]", "contaner (did you mean container?)"),
    ('hardware = "simulator"', 'hardware = "tpu"', "deployment.hardware must be one of"),
    ('default_target = "sim"', 'default_target = "k8s"', "deployment.default_target must be one of"),
    ("port = 0 ", "port = 70000 ", "serve.port must be 0..65535"),
    ("port = 0 ", "port = true ", "serve.port must be a number, got True"),
    ('command = ["vllm", "serve"]', "command = []", "serve.command must not be empty"),
    ('command = ["vllm", "serve"]', "command = [1]", "serve.command must be a list of strings"),
    ("[chat]", "[chats]", "chat is missing or not a table"),
    ("max_ttft_ms = 1000", "", "chat.max_ttft_ms is missing"),
    ("image = 3", 'image = "3"', "model.limit_mm_per_prompt values must all be a number"),
    ("[model]", "[model", "is not valid TOML"),
    ("band = 10\nfloor = 75", "floor = 75", "accuracy.aisbench.textvqa needs baseline and band together"),
    ('modality = "image"', 'modality = "video"', "accuracy.aisbench.textvqa.modality must be one of image"),
    ("canary_min_image_accuracy = 0.9", "canary_min_image_accuracy = 90", "thresholds are shares between 0 and 1"),
    ("timeout_s = 300", "timeout = 300", "accuracy.aisbench has unknown keys ['timeout']"),
    ('config = "gsm8k_gen_0_shot_cot_chat_prompt"', "", "accuracy.aisbench.gsm8k.config is missing"),
    ('load = "mixed"', 'load = "video"', "capacity.load 'video' names none of its [performance.<name>] loads"),
    ("knee_tolerance = 0.15", "knee_tolerance = 15", "capacity.knee_tolerance is a fraction below 1, got 15"),
    ("audio = 0.15, image_audio", "video = 0.15, image_audio",
     "performance.production.mix has unknown request kinds ['video']; kinds are text, image, audio, image_audio"),
    ("text = 0.5, image = 0.25", "text = 0.6, image = 0.25", "performance.production.mix shares must be positive and "
     "add up to 1"),
    ("clips = 1\nclip_s = 10\nmix", "clip_s = 10\nmix", "performance.production.mix has 'audio' requests, so the load "
     "needs clips >= 1"),
    ("p99_itl = 25 }", "p99_itl = 25, p99_itll = 5 }", "regression.min_change_ms has unknown metrics ['p99_itll']"),
])
def test_broken_profile_names_file_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(ProfileError, match="custom.toml") as error:
        load_profile(str(mutated(tmp_path, old, new)))
    assert message in str(error.value)


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'atlas'; choose one of: atlas-800-a3, atlas-800-a3-lora, atlas-800i-a2,"):
        load_profile("atlas")
    with pytest.raises(ProfileError, match=r"unknown profile 'atlas-800i-a2-lroa' \(did you mean 'atlas-800i-a2-lora'\?\)"):
        load_profile("atlas-800i-a2-lroa")


def test_missing_profile_file() -> None:
    with pytest.raises(ProfileError, match="profile file not found: /nope/x.toml"):
        load_profile("/nope/x.toml")


def test_lora_variant_extends_its_base_and_names_its_adapters() -> None:
    base, lora = load_profile("atlas-800i-a2"), load_profile("atlas-800i-a2-lora")
    assert lora.container == base.container and lora.chat == base.chat
    assert lora.serve.startup_timeout_s == base.serve.startup_timeout_s
    assert "--enable-lora" in lora.serve.args and base.lora_modules == {}
    assert lora.lora_modules == {"vision": "{model_dir}/vision-lora", "speech": "{model_dir}/speech-lora"}


def test_extends_cycle_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(f'extends = "{tmp_path}/b.toml"\n')
    (tmp_path / "b.toml").write_text(f'extends = "{tmp_path}/a.toml"\n')
    with pytest.raises(ProfileError, match="makes a cycle"):
        load_profile(str(tmp_path / "a.toml"))


def test_model_dir_placeholder_is_filled_with_the_snapshot() -> None:
    from phi4mm_acceptance.deployment.launch.command import serve_command
    from phi4mm_acceptance.deployment.settings import raw_values, resolve_settings

    settings = resolve_settings(raw_values({"phi4mm_profile": "atlas-800i-a2-lora"}, {}))
    command = serve_command(settings.launch, 8000, model_dir="/snap")
    assert "vision=/snap/vision-lora" in command and '{"image":"/snap/vision-lora","audio":"/snap/speech-lora"}' in command
    with pytest.raises(ValueError, match="model folder is not known"):
        serve_command(settings.launch, 8000)


def test_hardware_profiles_share_one_set_of_accuracy_gates() -> None:
    shared = {name: load_profile(name).accuracy for name in
              ("atlas-800i-a2", "atlas-800-a3", "atlas-800i-a2-lora", "atlas-800-a3-lora", "cuda", "external")}
    assert len({repr(spec) for spec in shared.values()}) == 1
    gates = {d.name: (d.baseline, d.band, d.floor) for d in shared["cuda"].datasets}
    assert gates["mmmu"] == (55.1, 5.0, 45.1) and gates["textvqa"][0] == 75.6 and gates["vocalsound"][2] == 50
    assert {d.modality for d in shared["cuda"].datasets} == {"image", "audio", "text"}


def test_missing_shared_part_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text('extends = ["sim", "parts/nope"]\n')
    with pytest.raises(ProfileError, match="extends 'parts/nope', but .*parts/nope.toml does not exist"):
        load_profile(str(tmp_path / "x.toml"))


def test_snapshot_adapters_are_the_folders_the_serve_arguments_load() -> None:
    assert load_profile("atlas-800i-a2-lora").snapshot_adapters == ("vision-lora", "speech-lora")
    assert load_profile("atlas-800i-a2").snapshot_adapters == ()  # the seed's serving needs no adapter folder


def test_limits_read_as_vllms_flag_one_value_999_by_default_0_off(tmp_path: Path) -> None:
    """An extending profile replaces the parent's map whole (vLLM's flag is one value); a modality it leaves
    out has vLLM's default of 999; no map at all is no flag; 0 switches a modality off."""
    child = tmp_path / "images-only.toml"
    child.write_text('extends = "external"\n[model]\nlimit_mm_per_prompt = { image = 2 }\n')
    model = load_profile(str(child)).model
    assert model.limit_mm_per_prompt == {"image": 2} and model.limit("audio") == 999 and not model.states("audio")
    off = tmp_path / "no-audio.toml"
    off.write_text('extends = "external"\n[model]\nlimit_mm_per_prompt = { image = 2, audio = 0 }\n')
    assert load_profile(str(off)).model.limit("audio") == 0
    bare = tmp_path / "no-map.toml"
    bare.write_text(load_profile("external").path.read_text().replace("limit_mm_per_prompt = { image = 3, audio = 1 }\n",
                                                                     ""))
    model = load_profile(str(bare)).model
    assert model.limit_mm_per_prompt is None and model.limit("image") == model.limit("audio") == 999
