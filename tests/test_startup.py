"""Step 3 of the procedure: the server started cleanly and presents the model the profile describes."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.deployment.readiness import STARTUP_LINES, error_lines, startup_problems
from phi4mm_acceptance.protocol.checks import describe_error
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.modalities import Served
from phi4mm_acceptance.protocol.vllm_api import lora_problems, models_problems

pytestmark = pytest.mark.smoke


def startup_section(lines: list[str]) -> list[str]:
    """The log up to uvicorn's last start-up line: later lines belong to requests, not to start-up."""
    last = STARTUP_LINES[-1][1]
    end = next((number for number, line in enumerate(lines) if last.search(line)), len(lines) - 1)
    return lines[: end + 1]


def test_startup_lines_in_order(server_log_lines: list[str]) -> None:
    problems = startup_problems(server_log_lines)
    assert not problems, "; ".join(problems)


def test_startup_log_has_no_errors(server_log_lines: list[str]) -> None:
    errors = error_lines(startup_section(server_log_lines))
    assert not errors, f"{len(errors)} error line(s) in the start-up log, first: {errors[0]!r}"


def test_health(client: ChatClient) -> None:
    reply = client.get("/health")
    assert reply.status == 200, f"GET /health answered {reply.status}: {reply.text[:200]!r}"


def test_models_lists_served_model(client: ChatClient, server: Endpoint, profile: Profile) -> None:
    reply = client.get("/v1/models")
    assert reply.status == 200, describe_error(reply.status, reply.text)
    problems = models_problems(reply.json, server.model, profile.model.max_model_len)
    assert not problems, "; ".join(problems)


def test_lora_adapters_listed(client: ChatClient, server: Endpoint, profile: Profile) -> None:
    """When the profile serves the vision/speech LoRA adapters, the server must have loaded them."""
    if not profile.lora_modules:
        not_applicable(f"profile {profile.name!r} serves no LoRA adapters")
    reply = client.get("/v1/models")
    assert reply.status == 200, describe_error(reply.status, reply.text)
    problems = lora_problems(reply.json, server.model, list(profile.lora_modules))
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_server_takes_the_media_the_profile_claims(served_modalities: dict[str, Served], profile: Profile,
                                                   modality: str) -> None:
    """The profile's limit_mm_per_prompt names the modality: the server must take it. If it takes none, this
    says so once, and the modality's tests are skipped as not applicable rather than each failing."""
    if not profile.model.states(modality):
        not_applicable(f"profile {profile.name!r} claims no {modality} (its limit_mm_per_prompt does not name it)")
    probe = served_modalities[modality]
    assert probe.served is not False, (
        f"profile {profile.name!r} claims {modality} (limit_mm_per_prompt {modality} = "
        f"{profile.model.limit(modality)}), but the server serves none: {probe.evidence}; its {modality} tests are "
        f"skipped: serve a model with {modality} input, or set {modality} = 0 in the profile")


def test_version(client: ChatClient, record_property: Callable[[str, object], None]) -> None:
    reply = client.get("/version")
    assert reply.status == 200, describe_error(reply.status, reply.text)
    version = (reply.json or {}).get("version")
    assert isinstance(version, str) and version.strip(), f"/version has no version string: {reply.text[:200]!r}"
    record_property("server_version_reported", version)
