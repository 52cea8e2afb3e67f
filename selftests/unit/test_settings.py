"""Options and their environment variables resolve to checked settings; command line beats environment."""
from __future__ import annotations

import pytest

from phi4mm_acceptance.deployment.settings import OPTIONS, UsageError, raw_values, resolve_settings


def settings_for(cli: dict[str, object] | None = None, env: dict[str, str] | None = None):
    cli = {("phi4mm_" + k): v for k, v in (cli or {}).items()}
    return resolve_settings(raw_values(cli, env or {}))


def test_defaults_are_the_simulator() -> None:
    settings = settings_for()
    assert (settings.launch.target, settings.profile.name, settings.launch.port) == ("sim", "sim", 0)
    assert settings.hardware_label.startswith("SIMULATOR")


def test_every_option_has_an_environment_variable() -> None:
    assert all(spec.env.startswith("PHI4MM_") for spec in OPTIONS)
    assert len({spec.env for spec in OPTIONS}) == len(OPTIONS)


def test_environment_is_read_and_command_line_wins() -> None:
    env = {"PHI4MM_PORT": "9001", "PHI4MM_STARTUP_TIMEOUT": "12", "PHI4MM_KEEP_SERVER": "true"}
    settings = settings_for({"port": "9002"}, env)
    assert (settings.launch.port, settings.launch.startup_timeout_s, settings.launch.keep_server) == (9002, 12.0, True)


def test_hardware_profile_defaults_to_docker_with_its_image_and_npus() -> None:
    settings = settings_for({"profile": "atlas-800i-a2"})
    assert (settings.launch.target, settings.launch.image, settings.launch.devices) == (
        "docker", "quay.io/ascend/vllm-ascend:v0.23.0", (0, 1, 2, 3, 4, 5, 6, 7))
    assert settings_for({"profile": "atlas-800i-a2", "npus": "0-2,5", "image": "x:1"}).launch.devices == (0, 1, 2, 5)


def test_docker_needs_a_container_table_and_names_the_profiles_that_have_one() -> None:
    with pytest.raises(UsageError, match="profile 'sim' has none; these have one: atlas-800-a3, atlas-800-a3-lora, "
                                         "atlas-800i-a2, atlas-800i-a2-lora, cuda"):
        settings_for({"target": "docker"})


def test_npus_on_a_profile_without_accelerators_says_so() -> None:
    with pytest.raises(UsageError, match="profile 'sim' maps no accelerators"):
        settings_for({"npus": "0-99"})


def test_external_target_takes_the_external_profile_and_normalises_the_url() -> None:
    settings = settings_for({"target": "external", "base_url": "http://npu-host:8000/v1/"})
    assert settings.profile.name == "external" and settings.launch.base_url == "http://npu-host:8000"
    assert settings.hardware_label == "any profile against an external endpoint"


@pytest.mark.parametrize(("cli", "message"), [
    ({"target": "k8s"}, "--target 'k8s' is not one of"),
    ({"target": "external"}, "needs --base-url"),
    ({"target": "external", "base_url": "http://h:8000/api"}, "should be the server root"),
    ({"target": "external", "base_url": "http://h:port"}, "has an invalid port"),
    ({"port": "eighty"}, "--port 'eighty' is not a whole number"),
    ({"startup_timeout": "soon"}, "--startup-timeout 'soon' is not a number"),
    ({"startup_timeout": "0"}, "--startup-timeout must be positive"),
    ({"server_log": "/no/such.log"}, "--server-log '/no/such.log': no such file"),
    ({"profile": "atlas-800i-a2", "npus": "8"}, "has devices 0..7"),
    ({"profile": "atlas-800i-a2", "npus": "0,0"}, "each at most once"),
    ({"profile": "atlas-800i-a2", "npus": "first"}, "is not a list like 0,1 or 0-3"),
])
def test_bad_values_are_usage_errors(cli: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as error:
        settings_for(cli)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_local_folder_as_model_is_served_from_disk_not_looked_up_on_a_hub(tmp_path) -> None:
    """vLLM documents --model as "model id or local path": a folder is the snapshot to serve."""
    settings = settings_for({"model": str(tmp_path), "target": "process", "profile": "vllm-cpu-tiny-image"})
    assert settings.launch.model_path == tmp_path.resolve() and settings.tools.tokenizer == str(tmp_path.resolve())
    assert settings_for({"model": "org/not-a-folder"}).launch.model_path is None


def test_a_cpu_profile_is_labelled_as_no_certification() -> None:
    settings = settings_for({"target": "process", "profile": "vllm-cpu-tiny-image"})
    assert "certifies no accelerator" in settings.hardware_label
