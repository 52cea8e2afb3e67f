"""What vLLM promises for odd and bad requests, by version, read from contract/vllm-requests.toml.

The data holds each case's answer per vLLM version range with its source; this module only picks the answer
for the version the server reports (GET /version). The simulator keeps its own account of the same facts
(simulator/claimed.py), so a wrong row here is not satisfied by construction.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from phi4mm_acceptance import PROJECT_ROOT
from phi4mm_acceptance.deployment.profile import flag_value
from phi4mm_acceptance.protocol.releases import RELEASES_FILE, Release, ReleaseKnowledge, load_releases, release_of

CONTRACT_FILE = PROJECT_ROOT / "contract" / "vllm-requests.toml"
BUGS_FILE = CONTRACT_FILE.with_name("vllm-bugs.toml")
RELEASES_NAME = RELEASES_FILE.name


class ContractError(ValueError):
    """The contract file is malformed; the message names the case."""


@dataclass(frozen=True)
class Answer:
    since: Release
    status: int | None  # None: vLLM has no such limit in these versions, so it promises nothing model-independent
    clamp: bool  # a served (200) answer whose completion is cut to what the context has left
    source: str

    @property
    def served(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Limit:
    """The server setting a case goes just past: an environment variable of vLLM's or an option of `vllm serve`,
    and its default."""

    name: str  # VLLM_... (an environment variable) or --option (a vllm serve argument)
    default: int

    def value(self, env: dict[str, str], args: list[str] | tuple[str, ...] = ()) -> int:
        """The limit the server runs with: its environment or arguments as the profile states them, else vLLM's
        default."""
        raw = (flag_value(args, self.name) if self.name.startswith("--") else env.get(self.name)) or ""
        return int(raw.strip()) if raw.strip().isdigit() else self.default


SETTINGS = ("max_model_len", "image_limit", "audio_limit", "limit")


@dataclass(frozen=True)
class StatedSetting:
    """The server setting a refusal's message names (from release `since`): its number must be the server's."""

    setting: str  # one of SETTINGS
    since: Release
    source: str

    def applies(self, version: str | None) -> bool:
        release = release_of(version)
        return release is not None and release >= self.since


@dataclass(frozen=True)
class Contract:
    cases: dict[str, tuple[Answer, ...]]
    limits: dict[str, Limit]
    path: Path
    releases: ReleaseKnowledge
    states: dict[str, StatedSetting]
    whats: dict[str, str]  # each case's request, in words

    def what(self, case: str) -> str:
        return self.whats[case]

    def answer(self, case: str, version: str | None) -> tuple[Answer, str]:
        """The answer vLLM `version` gives to `case`, and a note when the suite has not read that version (an
        unreadable one, or one outside the releases read: the nearest release's answer is then expected, and an
        endpoint that hides its version is held to today's vLLM)."""
        answers = self.cases[case]
        release = release_of(version)
        note = self.releases.outside(release, version)
        if release is None:
            return answers[-1], note
        chosen = answers[0]
        for answer in answers[1:]:
            if release >= answer.since:
                chosen = answer
        return chosen, note


def load_contract(path: Path = CONTRACT_FILE, releases: ReleaseKnowledge | None = None) -> Contract:
    releases = releases or load_releases()
    data = tomllib.loads(path.read_text())
    cases, limits, states, whats = {}, {}, {}, {}
    for name, table in data.items():
        whats[name] = str(table.get("what") or name)
        answers = []
        for number, raw in enumerate(table.get("answers") or []):
            since = release_of(raw.get("since", "0.0"))
            status = None if raw.get("no_limit") else raw.get("status")
            if since is None or not (status is None or isinstance(status, int)) or not raw.get("source") or (
                    status is None and not raw.get("no_limit")):
                raise ContractError(f"{path.name}: {name} answer {number} needs a version `since`, a `status` "
                                    "(or `no_limit = true`) and a `source`")
            answers.append(Answer(since, status, bool(raw.get("clamp", False)), raw["source"]))
        if not answers or any(a.since >= b.since for a, b in zip(answers, answers[1:])):
            raise ContractError(f"{path.name}: {name} needs answers in rising version order")
        if answers[-1].since > releases.newest_read:
            raise ContractError(f"{path.name}: {name} has an answer since a release newer than the newest read "
                                f"(newest_read in {RELEASES_NAME})")
        cases[name] = tuple(answers)
        if "limit" in table:
            raw_limit = table["limit"]
            named = [raw_limit[key] for key in ("env", "arg") if isinstance(raw_limit.get(key), str)]
            if len(named) != 1 or not isinstance(raw_limit.get("default"), int):
                raise ContractError(f"{path.name}: {name} limit needs an `env` variable or a vllm serve `arg`, and "
                                    "its `default`")
            limits[name] = Limit(named[0], raw_limit["default"])
        if "states" in table:
            raw_states = table["states"]
            since = release_of(raw_states.get("since"))
            if raw_states.get("setting") not in SETTINGS or since is None or not raw_states.get("source") or (
                    raw_states["setting"] == "limit" and name not in limits):
                raise ContractError(f"{path.name}: {name} states needs a `setting` (one of {SETTINGS}; `limit` only "
                                    "with the case's limit), the release `since` it was read and a `source`")
            states[name] = StatedSetting(raw_states["setting"], since, raw_states["source"])
    return Contract(cases, limits, path, releases, states, whats)


@dataclass(frozen=True)
class KnownBug:
    """A defect of some vLLM releases that a reply shows by itself (contract/vllm-bugs.toml)."""

    name: str
    what: str
    since: Release
    fixed_in: Release
    source: str

    def affects(self, release: Release | None) -> bool:
        """The release is one that has the bug (an unreadable one is not known to)."""
        return release is not None and self.since <= release < self.fixed_in

    def describe(self, version: str | None) -> str:
        """The bug, its versions, and whether the server's version is one of them."""
        release = release_of(version)
        span = f"vLLM {'.'.join(map(str, self.since))} up to {'.'.join(map(str, self.fixed_in))} (fixed there)"
        if release is None:
            known = "the server's version is not known here"
        elif self.since <= release < self.fixed_in:
            known = f"this server's vLLM {version} has it: upgrade"
        else:
            known = f"this server reports vLLM {version}, which should not have it"
        return f"{self.what}: the bug of {span}; {known} ({self.source})"


def load_known_bugs(path: Path = BUGS_FILE) -> dict[str, KnownBug]:
    bugs = {}
    for name, table in tomllib.loads(path.read_text()).items():
        since, fixed_in = release_of(table.get("since", "")), release_of(table.get("fixed_in", ""))
        if since is None or fixed_in is None or not table.get("what") or not table.get("source"):
            raise ContractError(f"{path.name}: {name} needs `what`, `since`, `fixed_in` and `source`")
        bugs[name] = KnownBug(name, table["what"], since, fixed_in, table["source"])
    return bugs
