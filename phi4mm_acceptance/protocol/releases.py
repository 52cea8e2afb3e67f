"""Which vLLM releases the suite has read and how each is proven (contract/vllm-releases.toml), and what a run
says when the server is outside that span: judged by the nearest release's answers, never silently.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from phi4mm_acceptance import PROJECT_ROOT

RELEASES_FILE = PROJECT_ROOT / "contract" / "vllm-releases.toml"
PROOFS = ("real vLLM in CI", "real vLLM, by scripts/vllm-releases", "read from source")
RELEASE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
Release = tuple[int, int, int]


def release_of(version: str | None) -> Release | None:
    """x.y.z of a vLLM version string (0.25.0rc1, 0.32.0+cpu, v0.11.0 count as their release), or None."""
    match = RELEASE.match((version or "").strip())
    if not match:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def release_text(release: Release) -> str:
    return ".".join(map(str, release))


@dataclass(frozen=True)
class ProvenRelease:
    version: str
    by: str  # who runs it
    proven: str  # one of PROOFS
    matrix: str  # the release matrix script's last result, where it serves this release
    not_checked: tuple[str, ...]  # what changed in it that the suite does not check, each with why


@dataclass(frozen=True)
class ReleaseKnowledge:
    oldest_read: Release
    newest_read: Release
    releases: tuple[ProvenRelease, ...]

    def outside(self, release: Release | None, version: str | None) -> str:
        """Empty when the server's release lies within what the suite has read; else what the run must say."""
        newest, oldest = release_text(self.newest_read), release_text(self.oldest_read)
        if release is None:
            return (f"the server's vLLM version is unknown ({version or 'GET /version did not answer'}): it is "
                    f"judged by {newest}'s answers, the newest release this suite has read")
        if release > self.newest_read:
            return (f"vLLM {version} is newer than {newest}, the newest release this suite has read: its answers "
                    f"are {newest}'s (read vLLM {release_text(release)} into contract/ to judge it by its own)")
        if release < self.oldest_read:
            return (f"vLLM {version} is older than {oldest}, the oldest release this suite has read: its answers "
                    f"are {oldest}'s")
        return ""

    def help_text(self) -> str:
        """One sentence for `pytest --help`: how GET /version decides what is expected, and what is proven how."""
        real = ", ".join(r.version for r in self.releases if r.proven == PROOFS[0])
        matrix = ", ".join(r.version for r in self.releases if r.proven == PROOFS[1])
        return (f"the server's GET /version picks the vLLM answers expected: releases {release_text(self.oldest_read)}"
                f" to {release_text(self.newest_read)} read from source, {real} run for real in CI, {matrix} by "
                "scripts/vllm-releases (contract/vllm-releases.toml); a server outside them, or hiding its "
                "version, is judged by the nearest release read and every report says so")

    def markdown_table(self) -> str:
        rows = ["| vLLM | who runs it | proven | last matrix run (scripts/vllm-releases) |", "|---|---|---|---|"]
        rows += [f"| {r.version} | {r.by} | {r.proven} | {r.matrix or '-'} |" for r in self.releases]
        rows.append(f"| any other from {release_text(self.oldest_read)} to {release_text(self.newest_read)} | - | "
                    "read from source | - |")
        rows.append(f"| newer than {release_text(self.newest_read)} or older than {release_text(self.oldest_read)} | "
                    "- | not read: judged by the nearest release read, and the run says so | - |")
        for release in self.releases:
            if release.not_checked:
                rows += ["", f"What changed in {release.version} and is not checked, and why:"]
                rows += [f"- {item}" for item in release.not_checked]
        return "\n".join(rows)


class ReleasesError(ValueError):
    """contract/vllm-releases.toml is malformed; the message names the entry."""


@cache
def load_releases(path: Path = RELEASES_FILE) -> ReleaseKnowledge:
    data = tomllib.loads(path.read_text())
    oldest, newest = release_of(data.get("oldest_read")), release_of(data.get("newest_read"))
    if oldest is None or newest is None or oldest > newest:
        raise ReleasesError(f"{path.name}: needs oldest_read <= newest_read, releases like 0.11.0")
    releases = []
    for number, raw in enumerate(data.get("release") or []):
        release = release_of(raw.get("version"))
        if release is None or raw.get("proven") not in PROOFS or not raw.get("by"):
            raise ReleasesError(f"{path.name}: release {number} needs a `version`, `by` and `proven` (one of {PROOFS})")
        if not oldest <= release <= newest:
            raise ReleasesError(f"{path.name}: release {raw['version']} lies outside oldest_read..newest_read")
        releases.append(ProvenRelease(raw["version"], raw["by"], raw["proven"], raw.get("matrix", ""),
                                      tuple(raw.get("not_checked", ()))))
    return ReleaseKnowledge(oldest, newest, tuple(releases))
