"""What a run reports about itself: its identity (target, profile, hardware, server), figures, verdict.

The identity goes into the terminal summary, the JUnit suite name and every report file, so a simulator
run can never be mistaken for a hardware certification.
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from phi4mm_acceptance.deployment.launch.base import Server
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.performance.samples import read_samples
from phi4mm_acceptance.protocol.releases import load_releases, release_of

ARTIFACTS = "artifacts"  # a test's property: what it wrote, relative to the reports folder ("; "-separated)
PROFILE_GATE = "profile_gate"  # a test's property: the profile table whose numbers it judges (performance.text)


def judging(tests: dict[str, dict[str, Any]], gate: str) -> list[str]:
    """The tests (ids, in run order) that declared they judge the profile table `gate`."""
    return [test for test, entry in tests.items() if entry["figures"].get(PROFILE_GATE) == gate]


@dataclass
class RunIdentity:
    target: str
    profile: str
    profile_path: str
    hardware: str
    hardware_label: str
    model: str
    served_model_name: str
    image: str | None = None  # the docker target's image
    suite_version: str = ""
    base_url: str | None = None
    server_version: str | None = None
    startup_s: float | None = None
    tier: str = ""  # the -m expression: what was signed off
    command: str = ""  # the command line, secrets redacted
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    versions: dict[str, str] = field(default_factory=dict)  # deployment/versions.py: each read, unknown or n/a

    @classmethod
    def from_settings(cls, settings: RunSettings) -> RunIdentity:
        return cls(target=settings.launch.target, profile=settings.profile.name, profile_path=str(settings.profile.path),
                   hardware=settings.profile.hardware, hardware_label=settings.hardware_label,
                   model=settings.launch.model, served_model_name=settings.launch.served_model_name,
                   image=settings.launch.image if settings.launch.target == "docker" else None, suite_version=suite_version())

    def served_by(self, server: Server, version: str, versions: dict[str, str]) -> None:
        """What the ready server said of itself: its address, its vLLM and the deployment's other versions."""
        self.base_url, self.server_version, self.startup_s = server.base_url, version, server.startup_s
        self.versions = {"vllm": version, **versions}

    @property
    def vllm_ascend(self) -> str | None:
        """vllm-ascend's release as the image tag names it (quay.io/ascend/vllm-ascend:v0.23.0 -> 0.23.0)."""
        repository, _, tag = (self.image or "").rpartition(":")
        return tag.removeprefix("v") if repository.endswith("/vllm-ascend") and tag else None

    @property
    def simulated(self) -> bool:
        """A simulator profile, or the simulator answering under a hardware profile (its version says so)."""
        return self.hardware == "simulator" or "simulator" in (self.server_version or "")

    @property
    def version_note(self) -> str:
        """What the run must say when the server's vLLM lies outside the releases the suite has read (it is then
        judged by the nearest one's answers); empty within them, and before a server answered."""
        if self.base_url is None:
            return ""
        version = None if self.server_version in (None, "unknown") else self.server_version
        return load_releases().outside(release_of(version), version)

    @property
    def suite_name(self) -> str:
        kind = "SIMULATOR" if self.simulated else self.hardware
        return f"phi4mm-acceptance[target={self.target},profile={self.profile},hardware={kind}]"

    def test_properties(self) -> list[tuple[str, str]]:
        """The properties every testcase carries in the JUnit file."""
        return [("target", self.target), ("profile", self.profile), ("hardware", self.hardware),
                ("model", self.served_model_name), ("server_version", self.server_version or "unknown")]

    def run_properties(self) -> list[tuple[str, str]]:
        """What identifies the sign-off, as the JUnit file's suite properties."""
        return [("tier", self.tier), ("command", self.command), ("suite_version", self.suite_version),
                ("started_at", self.started_at), ("image", self.image or "n/a: no container image"),
                *sorted(self.versions.items())]

    def summary_lines(self) -> list[str]:
        label = self.hardware_label
        if self.simulated and self.hardware != "simulator":
            label = f"SIMULATOR answering under the {self.hardware} profile (not a hardware certification)"
        lines = [f"target: {self.target}    profile: {self.profile} ({self.profile_path})",
                 f"hardware: {label}",
                 f"model: {self.model} (served as {self.served_model_name})",
                 f"run: {self.tier}, suite {self.suite_version}, started {self.started_at}"]
        if self.base_url:
            version = self.server_version or "unknown"
            startup = f", ready in {self.startup_s:.1f} s" if self.startup_s is not None else ""
            lines.append(f"server: {self.base_url}, version {version}{startup}")
        if self.versions:
            alike: dict[str, list[str]] = {}  # the versions that share a value (four n/a for one reason) go together
            for name, value in self.versions.items():
                alike.setdefault(value, []).append(name.replace("_", " "))
            lines.append("deployment: " + "; ".join(f"{', '.join(names)} {value}" for value, names in alike.items()))
        if self.version_note:
            lines.append(f"warning: {self.version_note}")
        return lines


@dataclass
class MetricsReport:
    """reports/metrics.json: the run's identity, every test's outcome and recorded figures."""

    identity: RunIdentity
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def add(self, nodeid: str, when: str, outcome: str, duration_s: float, properties: list[tuple[str, Any]],
            reason: str = "") -> None:
        """outcome: passed, failed (error outside the call), skipped, or deselected; reason: why not passed."""
        entry = self.tests.setdefault(nodeid, {"outcome": "passed", "duration_s": 0.0, "figures": {}})
        entry["duration_s"] = round(entry["duration_s"] + duration_s, 4)
        if outcome != "passed" and entry["outcome"] == "passed":
            entry["outcome"] = "error" if when != "call" and outcome == "failed" else outcome
            entry["reason"] = reason
        identity_keys = {key for key, _ in self.identity.test_properties()}
        entry["figures"].update({k: v for k, v in properties if k not in identity_keys})

    def write(self, path: Path, verdict: str) -> None:
        """With each test's samples (reports/samples/, written by whichever process ran it) inside, so the one file
        Jenkins archives and copies is all a later run's --compare-to needs."""
        path.parent.mkdir(parents=True, exist_ok=True)
        samples = read_samples(path.parent)
        tests = {test: {**entry, **({"samples": samples[test]} if test in samples else {})}
                 for test, entry in self.tests.items()}
        payload = {"run": {**asdict(self.identity), "simulated": self.identity.simulated,
                           "vllm_ascend": self.identity.vllm_ascend,
                           "server_version_note": self.identity.version_note,
                           "suite": self.identity.suite_name, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "duration_s": round(time.time() - self.started, 1), "verdict": verdict},
                   "tests": tests}
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def suite_version() -> str:
    """The suite's package version, and its commit when it runs from a git checkout (`0.1.0+g1a2b3c4`)."""
    version = metadata.version("phi4mm-acceptance")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, text=True,
                                capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+g{commit}" if commit else version


def write_error_junit(path: Path, suite_name: str, message: str) -> None:
    """A JUnit file for a run that could not even start (bad option, unknown profile)."""
    suite = ElementTree.Element("testsuite", name=suite_name, tests="1", errors="1", failures="0", skipped="0")
    case = ElementTree.SubElement(suite, "testcase", classname="phi4mm_acceptance", name="configuration")
    ElementTree.SubElement(case, "error", message=message).text = message
    root = ElementTree.Element("testsuites")
    root.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
