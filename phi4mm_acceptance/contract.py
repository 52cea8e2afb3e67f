"""What vLLM promises for odd and bad requests, by version, read from contract/vllm-requests.toml.

The data holds each case's answer per vLLM version range with its source; this module only picks the answer
for the version the server reports (GET /version). The simulator keeps its own account of the same facts
(simulator/claimed.py), so a wrong row here is not satisfied by construction.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CONTRACT_FILE = Path(__file__).resolve().parent.parent / "contract" / "vllm-requests.toml"
RELEASE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


class ContractError(ValueError):
    """The contract file is malformed; the message names the case."""


@dataclass(frozen=True)
class Answer:
    since: tuple[int, int, int]
    status: int
    clamp: bool  # a served (200) answer whose completion is cut to what the context has left
    source: str

    @property
    def served(self) -> bool:
        return self.status == 200


def release_of(version: str | None) -> tuple[int, int, int] | None:
    """x.y.z of a vLLM version string (0.25.0rc1, 0.32.0+cpu, v0.11.0 count as their release), or None."""
    match = RELEASE.match((version or "").strip())
    if not match:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


@dataclass(frozen=True)
class Contract:
    cases: dict[str, tuple[Answer, ...]]
    path: Path

    def answer(self, case: str, version: str | None) -> tuple[Answer, str]:
        """The answer vLLM `version` gives to `case`, and a note when the version could not be read (the
        newest known answer is then expected: an endpoint that hides its version is held to today's vLLM)."""
        answers = self.cases[case]
        release = release_of(version)
        if release is None:
            return answers[-1], f"server version {version!r} unreadable: expecting vLLM's newest behaviour"
        chosen = answers[0]
        for answer in answers[1:]:
            if release >= answer.since:
                chosen = answer
        return chosen, ""


def load_contract(path: Path = CONTRACT_FILE) -> Contract:
    data = tomllib.loads(path.read_text())
    cases = {}
    for name, table in data.items():
        answers = []
        for number, raw in enumerate(table.get("answers") or []):
            since = release_of(raw.get("since", "0.0"))
            if since is None or not isinstance(raw.get("status"), int) or not raw.get("source"):
                raise ContractError(f"{path.name}: {name} answer {number} needs a version `since`, a `status` "
                                    "and a `source`")
            answers.append(Answer(since, raw["status"], bool(raw.get("clamp", False)), raw["source"]))
        if not answers or any(a.since >= b.since for a, b in zip(answers, answers[1:])):
            raise ContractError(f"{path.name}: {name} needs answers in rising version order")
        cases[name] = tuple(answers)
    return Contract(cases, path)
