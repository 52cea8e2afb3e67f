"""The suite's test media: the manifest of shipped images, how to send them, and how to judge answers.

Images go to the server either inline as base64 data URLs or as http URLs served by AssetServer, a
small local file server the suite starts so the server under test has something to fetch.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from phi4mm_acceptance import PROJECT_ROOT

IMAGES_DIR = PROJECT_ROOT / "images"
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


@dataclass(frozen=True)
class CanaryQuestion:
    question: str
    accepted: tuple[str, ...]  # short answers that count as right, after VQA normalisation


@dataclass(frozen=True)
class ImageItem:
    name: str
    file: str  # relative to the media folder (also its URL path on the AssetServer)
    path: Path
    format: str
    width: int
    height: int
    question: str
    expected: tuple[tuple[str, ...], ...]
    describe_keywords: tuple[str, ...]
    tags: tuple[str, ...]
    canary: tuple[CanaryQuestion, ...]

    def data_url(self) -> str:
        return f"data:{MIME[self.format]};base64,{base64.b64encode(self.path.read_bytes()).decode()}"


@dataclass(frozen=True)
class AudioItem:
    """A spoken sentence with its transcript, or a vocal sound with its VocalSound label."""

    name: str
    path: Path
    question: str
    transcript: str
    label: str

    def base64(self) -> str:
        return base64.b64encode(self.path.read_bytes()).decode()

    def data_url(self) -> str:
        return f"data:audio/wav;base64,{self.base64()}"

    @property
    def file(self) -> str:
        """Its path under images/, as the local asset server serves it."""
        return self.path.relative_to(IMAGES_DIR).as_posix()


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


@dataclass(frozen=True)
class Manifest:
    images: tuple[ImageItem, ...]
    audio: tuple[AudioItem, ...]
    remote_images: tuple[dict[str, Any], ...]
    text_prompts: tuple[dict[str, Any], ...]
    arithmetic: tuple[dict[str, str], ...]  # GSM8K-shaped: question, solution ending "#### <number>"
    describe_question: str
    describe_each_question: str
    describe_nth_question: str  # {ordinal} ("second") of {count}: a question each image answers differently
    stream_prompts: tuple[dict[str, str], ...]  # name, question: text whose stream must tell what plain does

    def describe_nth(self, index: int, count: int) -> str:
        return self.describe_nth_question.format(ordinal=ORDINALS[index], count=count)

    def image(self, name: str) -> ImageItem:
        return next(item for item in self.images if item.name == name)

    def tagged(self, tag: str) -> list[ImageItem]:
        return [item for item in self.images if tag in item.tags]

    @property
    def transcription_clips(self) -> list[AudioItem]:
        return [clip for clip in self.audio if clip.transcript]

    @property
    def vocal_sounds(self) -> list[AudioItem]:
        return [clip for clip in self.audio if clip.label]

    def sample_part(self, kind: str, uuid: str | None = None) -> dict[str, Any]:
        """A content part of type `kind` (MEDIA_PARTS) carrying its data: the red circle, or the first spoken clip;
        with the `uuid` vLLM keys its processor cache by, where given."""
        clip = self.transcription_clips[0]
        part = {"image_url": lambda: image_part(self.image("red-circle").data_url()),
                "input_audio": lambda: input_audio_part(clip.base64()),
                "audio_url": lambda: audio_url_part(clip.data_url())}[kind]()
        return part if uuid is None else {**part, "uuid": uuid}


def load_manifest(directory: Path = IMAGES_DIR) -> Manifest:
    data = json.loads((directory / "manifest.json").read_text())
    images = tuple(
        ImageItem(name=i["name"], file=i["file"], path=directory / i["file"], format=i["format"], width=i["width"],
                  height=i["height"], question=i["question"], expected=tuple(tuple(g) for g in i["expected"]),
                  describe_keywords=tuple(i["describe_keywords"]), tags=tuple(i["tags"]),
                  canary=tuple(CanaryQuestion(c["question"], tuple(c["accepted"])) for c in i["canary"]))
        for i in data["images"])
    audio = tuple(AudioItem(name=a["name"], path=directory / a["file"], question=a.get("question", ""),
                            transcript=a.get("transcript", ""), label=a.get("label", ""))
                  for a in data["audio"])
    return Manifest(images, audio, tuple(data["remote_images"]), tuple(data["text_prompts"]),
                    tuple(data["arithmetic"]), data["describe_question"], data["describe_each_question"],
                    data["describe_nth_question"], tuple(data["stream_prompts"]))


def missing_media(directory: Path = IMAGES_DIR) -> list[str]:
    """Files the manifest lists that are not there (a broken checkout), relative to the media folder."""
    data = json.loads((directory / "manifest.json").read_text())
    return [entry["file"] for entry in data["images"] + data["audio"] if not (directory / entry["file"]).is_file()]


def normalise_answer(text: str) -> str:
    """VQA-style: lower case, punctuation to spaces, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def missing_keywords(answer: str, expected: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    """The groups of which no word occurs in the answer as a whole word."""
    words = set(normalise_answer(answer).split())
    return [group for group in expected if not any(normalise_answer(word) in words for word in group)]


def own_image_problem(answer: str, item: ImageItem, others: list[ImageItem], what: str) -> str | None:
    """An answer about one of several images must name that one (any of its description keywords) and must
    not name every other one as well: one description covering them all tells none apart."""
    missing = missing_keywords(answer, (item.describe_keywords,))
    if missing:
        return f"{what}: the answer lacks any of {missing[0]}; answer was {answer[:300]!r}"
    if others and not missing_keywords(answer, tuple(other.describe_keywords for other in others)):
        return (f"{what}: the answer also names every other image ({', '.join(o.name for o in others)}), so it "
                f"does not tell this one apart; answer was {answer[:300]!r}")
    return None


MEDIA_PARTS = {"image_url": "image", "input_audio": "audio", "audio_url": "audio"}  # part type: its modality


def uuid_reference(kind: str, named: str) -> dict[str, Any]:
    """A part naming only a media uuid sent before, no data (`"image_url": null`): vLLM serves its cached item."""
    return {"type": kind, kind: None, "uuid": named}


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def input_audio_part(wav_base64: str) -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": wav_base64, "format": "wav"}}


def audio_url_part(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}}


def audio_message(text: str, *parts: dict[str, Any]) -> list[dict[str, Any]]:
    """Audio parts first, then the instruction, as Phi-4-multimodal's speech prompts are written."""
    return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]


def user_message(text: str, *image_urls: str) -> list[dict[str, Any]]:
    """The seed's shape: image parts first, then the text part."""
    return [{"role": "user", "content": [*map(image_part, image_urls), {"type": "text", "text": text}]}]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep the test output clean; the server under test logs its own fetches."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """/status/NNN answers NNN (a media server failing); /bytes/N.png a PNG signature padded to N bytes, sent
        with its Content-Length and never held in memory whole (a download over a server's limit); anything else
        is a file of the folder."""
        if self.path.startswith("/status/") and self.path[len("/status/"):].isdigit():
            self.send_error(int(self.path[len("/status/"):]))
            return
        size = self.path[len("/bytes/"):].removesuffix(".png")
        if self.path.startswith("/bytes/") and size.isdigit():
            self._send_padded_png(int(size))
            return
        super().do_GET()

    def _send_padded_png(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        head, chunk = b"\x89PNG\r\n\x1a\n"[:size], b"\x00" * (1 << 20)
        try:
            self.wfile.write(head)
            for start in range(len(head), size, len(chunk)):
                self.wfile.write(chunk[: min(len(chunk), size - start)])
        except (BrokenPipeError, ConnectionResetError):  # the server stopped reading at its limit, as it should
            pass


class AssetServer:
    """Serves a folder over http on a local port, in a background thread, for image-URL tests."""

    def __init__(self, directory: Path, bind_host: str = "127.0.0.1", advertised_host: str | None = None) -> None:
        handler = partial(_QuietHandler, directory=str(directory))
        self._server = ThreadingHTTPServer((bind_host, 0), handler)
        self._server.daemon_threads = True
        self.host = advertised_host or bind_host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="asset-server", daemon=True)

    def __enter__(self) -> AssetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, file_name: str) -> str:
        return f"http://{self.host}:{self.port}/{file_name}"
