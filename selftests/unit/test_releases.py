"""contract/vllm-releases.toml: the span of vLLM releases the suite has read, how each release users run is
proven, and the words a run uses for a server outside that span."""
from __future__ import annotations

import pytest

from phi4mm_acceptance.protocol.releases import PROOFS, ReleasesError, load_releases, release_of

RELEASES = load_releases()


def test_vllm_ascends_releases_and_the_newest_on_pypi_are_listed_with_their_proof() -> None:
    listed = {r.version: r for r in RELEASES.releases}
    assert {"0.11.0", "0.13.0", "0.18.0", "0.23.0", "0.32.0", "0.34.0"} <= set(listed)
    assert listed["0.23.0"].proven == listed["0.32.0"].proven == "real vLLM in CI"
    assert release_of("0.34.0") == RELEASES.newest_read and release_of("0.11.0") == RELEASES.oldest_read


@pytest.mark.parametrize(("version", "words"), [
    ("0.35.0", "vLLM 0.35.0 is newer than 0.34.0, the newest release this suite has read"),
    ("0.10.2", "vLLM 0.10.2 is older than 0.11.0, the oldest release this suite has read"),
    (None, "the server's vLLM version is unknown (GET /version did not answer)"),
    ("0.23.0", ""), ("0.34.0+cpu", ""),
])
def test_a_server_outside_the_releases_read_is_named(version, words) -> None:
    note = RELEASES.outside(release_of(version), version)
    assert (words in note) if words else note == ""


def test_the_readme_table_and_help_say_how_each_release_is_proven() -> None:
    table, help_text = RELEASES.markdown_table(), RELEASES.help_text()
    assert "| 0.23.0 | vllm-ascend 0.23.0 (stable) | real vLLM in CI |" in table
    assert "newer than 0.34.0 or older than 0.11.0" in table
    assert "What changed in 0.34.0 and is not checked, and why:\n- start-up refusals" in table
    assert "0.11.0 to 0.34.0 read from source, 0.23.0, 0.32.0 run for real in CI" in help_text


@pytest.mark.parametrize("text", [
    'oldest_read = "0.11.0"\n',
    'oldest_read = "0.20.0"\nnewest_read = "0.11.0"\n',
    'oldest_read = "0.11.0"\nnewest_read = "0.34.0"\n[[release]]\nversion = "0.23.0"\nby = "x"\nproven = "guessed"\n',
    'oldest_read = "0.11.0"\nnewest_read = "0.34.0"\n[[release]]\nversion = "0.40.0"\nby = "x"\nproven = "read from source"\n',
])
def test_a_malformed_releases_file_is_named(tmp_path, text) -> None:
    path = tmp_path / "vllm-releases.toml"
    path.write_text(text)
    with pytest.raises(ReleasesError, match="vllm-releases.toml"):
        load_releases(path)


def test_every_proof_is_one_the_readme_explains() -> None:
    assert {r.proven for r in RELEASES.releases} <= set(PROOFS)
