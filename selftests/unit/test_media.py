"""The shipped images, their manifest and the simulator's knowledge of them agree, and answers are judged fairly."""
from __future__ import annotations

import hashlib
import json

import pytest

from phi4mm_acceptance.protocol.media import IMAGES_DIR, load_manifest, missing_keywords, normalise_answer
from simulator.media import decode_audio, decode_image
from simulator.model import BUILTIN_MODEL_DIR

MANIFEST = load_manifest()


@pytest.mark.parametrize("item", MANIFEST.images, ids=lambda i: i.name)
def test_manifest_matches_the_file(item) -> None:
    data = item.path.read_bytes()
    decoded = decode_image(data)
    assert (decoded.format, decoded.width, decoded.height) == (item.format, item.width, item.height)
    manifest = json.loads((IMAGES_DIR / "manifest.json").read_text())
    assert hashlib.sha256(data).hexdigest() == next(i["sha256"] for i in manifest["images"] if i["name"] == item.name)


def test_simulator_knows_every_shipped_image_and_clip_and_nothing_else() -> None:
    knowledge = json.loads((BUILTIN_MODEL_DIR / "knowledge.json").read_text())
    shipped = {hashlib.sha256(item.path.read_bytes()).hexdigest() for item in (*MANIFEST.images, *MANIFEST.audio)}
    assert set(knowledge["media"]) == shipped


@pytest.mark.parametrize("clip", MANIFEST.audio, ids=lambda c: c.name)
def test_clips_are_wav_files_with_a_transcript_or_a_vocalsound_label(clip) -> None:
    audio = decode_audio(clip.path.read_bytes())
    assert 0.3 < audio.duration_s < 10
    assert bool(clip.transcript) != bool(clip.label)
    if clip.label:
        assert clip.path.stem.split("_")[-1] == clip.label  # AISBench's vocalsound reads the label so


def test_canary_has_a_few_dozen_questions_and_every_item_a_licence() -> None:
    manifest = json.loads((IMAGES_DIR / "manifest.json").read_text())
    assert sum(len(item.canary) for item in MANIFEST.images) >= 24 and len(MANIFEST.tagged("photo")) >= 4
    assert all(entry["licence"] for entry in manifest["images"] + manifest["audio"])


def test_manifest_covers_formats_and_sizes() -> None:
    assert {"png", "jpeg", "webp"} <= {item.format for item in MANIFEST.images}
    sizes = [max(item.width, item.height) for item in MANIFEST.images]
    assert min(sizes) <= 32 and max(sizes) >= 2560


def test_keywords_match_whole_words_after_normalising() -> None:
    assert normalise_answer("  It's RED!\n") == "it s red"
    assert missing_keywords("The circle is Red.", (("red",),)) == []
    assert missing_keywords("The circle is reddish.", (("red",),)) == [("red",)]
    assert missing_keywords("There are 3 squares", (("3", "three"), ("square", "squares"))) == []
    assert missing_keywords("Three.", (("3", "three"), ("blue",))) == [("blue",)]


def test_missing_media_files_are_named(tmp_path) -> None:
    from phi4mm_acceptance.protocol.media import missing_media

    assert missing_media() == []
    (tmp_path / "manifest.json").write_text((IMAGES_DIR / "manifest.json").read_text())
    (tmp_path / "red-circle.png").write_bytes(b"")
    missing = missing_media(tmp_path)
    assert "red-circle.png" not in missing and "sign.webp" in missing and "audio/asr-fox.wav" in missing
