"""Loading request media without third-party packages: data URLs, http(s) URLs, format, size, length.

Only what the simulator needs to behave like vLLM: reject what is not an image or a WAV file, count
media tokens from the picture's size or the clip's length, and recognise the suite's shipped media by
their bytes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass

from simulator.claimed import ClaimedVersion

MIB = 1 << 20


class MediaError(ValueError):
    """A request's media could not be used; becomes a 400 answer, or what the claimed release answers for its
    kind (`kind`, a ClaimedVersion property naming the status), with vLLM's `param` where it names one."""

    kind: str | None = None
    param: str | None = None


class AudioTooLarge(MediaError):
    param = "audio_filesize_mb"


class DownloadTooLarge(MediaError):
    kind = "download_too_large_status"
    param = "image_url"  # vLLM names image_url for every media URL (0.29-0.33 multimodal/media/connector.py)


class NotAudio(MediaError):
    kind = "not_audio_status"


class LocalFileRefused(MediaError):
    kind = "refusal_status"


class UnparsedDataUrl(MediaError):
    kind = "unparsed_data_url_status"


class FetchError(MediaError):
    """A media URL could not be fetched: nothing answered (http_status None), or it answered an error status.
    vLLM answers 500 for both up to 0.24, and 422 for an error status from 0.25 (simulator/claimed.py)."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(frozen=True)
class ActiveCaps:
    """The media limits the claimed release enforces (None: that release has no such limit)."""

    audio_bytes: int | None = None
    audio_s: int | None = None
    download_bytes: int | None = None

    def check_audio_base64(self, payload: str) -> None:
        """Refused on its base64 length, before decoding, as vLLM's AudioMediaIO.load_base64 does."""
        if self.audio_bytes is not None and len(payload) > 4 * ((self.audio_bytes + 2) // 3):
            raise AudioTooLarge(f"Maximum file size exceeded (parameter=audio_filesize_mb, "
                                f"value={len(payload) * 3 / 4 / MIB:.1f})")

    def checked_audio(self, audio: Audio) -> Audio:
        if self.audio_bytes is not None and len(audio.data) > self.audio_bytes:
            raise AudioTooLarge("Maximum file size exceeded")
        if self.audio_s is not None and audio.duration_s > self.audio_s:
            raise MediaError(f"Audio exceeds maximum allowed duration of {self.audio_s}s (file contains "
                             f"{audio.duration_s:.1f}s at {audio.sample_rate_hz}Hz). Set "
                             "VLLM_MAX_AUDIO_DECODE_DURATION_S to increase this limit.")
        return audio


@dataclass(frozen=True)
class MediaCaps:
    """vLLM's media limits as its environment sets them (defaults as vLLM's envs.py)."""

    audio_mb: int = 25
    audio_s: int = 600
    download_mb: int = 256

    @classmethod
    def from_env(cls) -> MediaCaps:
        def read(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            return int(raw) if raw.lstrip("-").isdigit() else default
        defaults = cls()
        return cls(read("VLLM_MAX_AUDIO_CLIP_FILESIZE_MB", defaults.audio_mb),
                   read("VLLM_MAX_AUDIO_DECODE_DURATION_S", defaults.audio_s),
                   read("VLLM_MAX_MEDIA_DOWNLOAD_SIZE_MB", defaults.download_mb))

    def claimed_by(self, claimed: ClaimedVersion) -> ActiveCaps:
        return ActiveCaps(self.audio_mb * MIB if claimed.limits_audio_size else None,
                          self.audio_s if claimed.limits_audio_duration else None,
                          self.download_mb * MIB if claimed.limits_download_size and self.download_mb > 0 else None)


def uuid_key(uuid: str) -> str:
    """The processor cache's key of an item a part named by `uuid` (vLLM 0.11-0.34: it replaces the content hash)."""
    return f"uuid:{uuid}"


class Keyed:
    """A media item's content hash and its processor-cache key: the part's uuid when it gave one (vLLM keys its
    cache by it in place of the content's hash), else that hash."""

    data: bytes
    uuid: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def cache_key(self) -> str:
        return uuid_key(self.uuid) if self.uuid else self.sha256


@dataclass(frozen=True)
class Image(Keyed):
    data: bytes
    format: str
    width: int
    height: int
    uuid: str = ""  # the part's uuid, if it gave one

    def token_count(self) -> int:
        return phi4mm_image_tokens(self.width, self.height)

    def processed_bytes(self) -> int:
        """What vLLM's processor cache holds for it: the crops and the global view, 3 x 448 x 448 values each,
        in bf16."""
        columns, rows = phi4mm_grid(self.width, self.height)
        return (columns * rows + 1) * 3 * 448 * 448 * 2


def phi4mm_image_tokens(width: int, height: int, dynamic_hd: int = 36, crop: int = 448, patch: int = 14) -> int:
    """What vLLM counts for a Phi-4-multimodal image (model_executor/models/phi4mm.py
    `_compute_num_image_tokens`, 0.11-0.33; dynamic_hd 36 from the snapshot's preprocessor config): the image
    fitted to a grid of 448 px crops, 2x2-compressed 14 px patches of the unpadded part plus a newline token
    per row, and a 16x16 global view with its newlines and one separator. 448x448 -> 545, 2560x1440 -> 5511."""
    columns, rows = phi4mm_grid(width, height, dynamic_hd, crop)
    target_w, target_h = columns * crop, rows * crop
    if target_w / width < target_h / height:
        pad_w, pad_h = 0, target_h - int(height * (target_w / width))
    else:
        pad_w, pad_h = target_w - int(width * (target_h / height)), 0
    feat_w, feat_h = target_w // patch - pad_w // patch, target_h // patch - pad_h // patch
    tokens_w, tokens_h = math.ceil(feat_w / 2), math.ceil(feat_h / 2)
    glob = crop // patch // 2
    return glob * glob + 1 + tokens_w * tokens_h + tokens_h + glob


def phi4mm_grid(width: int, height: int, dynamic_hd: int = 36, crop: int = 448) -> tuple[int, int]:
    """The grid of 448 px crops Phi-4-multimodal's processor fits an image to (columns, rows)."""
    columns, rows = math.ceil(width / crop), math.ceil(height / crop)
    return (columns, rows) if columns * rows <= dynamic_hd else _closest_grid(width, height, crop, dynamic_hd)


def _closest_grid(width: int, height: int, crop: int, most: int) -> tuple[int, int]:
    """The crop grid with the aspect ratio closest to the image's (the HF processor's find_closest_aspect_ratio:
    on a tie the larger grid wins while the image covers over half of it)."""
    aspect, best, best_diff = width / height, (1, 1), float("inf")
    for grid in sorted({(i, j) for i in range(1, most + 1) for j in range(1, most + 1) if i * j <= most},
                       key=lambda g: g[0] * g[1]):
        diff = abs(aspect - grid[0] / grid[1])
        if diff < best_diff:
            best, best_diff = grid, diff
        elif diff == best_diff and width * height > 0.5 * crop * crop * grid[0] * grid[1]:
            best = grid
    return best


@dataclass(frozen=True)
class Audio(Keyed):
    data: bytes
    duration_s: float
    speech_sha256: str = ""  # the samples without trailing silence: a padded clip is the same speech
    sample_rate_hz: int = 16000
    uuid: str = ""  # the part's uuid, if it gave one

    def token_count(self) -> int:
        """Phi-4-multimodal's speech encoder emits one token per 80 ms of audio."""
        return max(1, math.ceil(self.duration_s / 0.080))

    def processed_bytes(self) -> int:
        """What vLLM's processor cache holds for it: Phi-4-multimodal's 80 log-mel bins a 10 ms frame, in bf16."""
        return math.ceil(self.duration_s / 0.010) * 80 * 2


def decode_audio(data: bytes) -> Audio:
    """A RIFF/WAVE file; its length comes from the fmt and data chunks."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NotAudio("Invalid or corrupted audio data: expected a WAV (RIFF/WAVE) file.")
    pos, byte_rate, rate, data_len = 12, 0, 0, -1
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and size >= 16:
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
            byte_rate = int.from_bytes(data[pos + 16 : pos + 20], "little")
        elif chunk == b"data":
            data_len = min(size, len(data) - pos - 8)
            break
        pos += 8 + size + (size & 1)
    if byte_rate <= 0 or data_len < 0:
        raise MediaError("Invalid audio: the WAV file has no fmt or data chunk.")
    samples = data[pos + 8 : pos + 8 + data_len].rstrip(b"\x00")
    return Audio(data, data_len / byte_rate, hashlib.sha256(samples).hexdigest(), rate)


def speech_fingerprint(wav: bytes) -> str:
    """What the simulator knows a clip by besides its file hash: its samples without trailing silence."""
    return decode_audio(wav).speech_sha256


def decode_base64(payload: str, what: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError(f"Invalid base64 data in {what}: {exc}") from None


def load_image(url: str, fetch_timeout_s: float, max_bytes: int | None = None) -> Image:
    return decode_image(load_url_bytes(url, fetch_timeout_s, max_bytes))


def load_url_bytes(url: str, fetch_timeout_s: float, max_bytes: int | None = None) -> bytes:
    if url.startswith("data:"):
        header, sep, payload = url.partition(",")
        if not sep or ";base64" not in header:
            raise UnparsedDataUrl("Only base64 data URLs are supported for now.")
        return decode_base64(payload, "data URL")
    if url.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(url, timeout=fetch_timeout_s) as response:  # noqa: S310
                return _read_within(response, max_bytes)
        except urllib.error.HTTPError as exc:
            raise FetchError(f"Failed to fetch media from URL: HTTP {exc.code} error ({url})", exc.code) from None
        except MediaError:
            raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FetchError(f"Failed to fetch media from {url}: {exc}") from None
    if url.startswith("file:"):
        raise LocalFileRefused("Cannot load local files without `--allowed-local-media-path`.")
    raise MediaError(f"Unsupported media URL scheme in {url[:40]!r}: use data:, http:// or https://.")


def _read_within(response: object, max_bytes: int | None) -> bytes:
    """The body, refused on its Content-Length or on the bytes read past the limit (vLLM 0.29+ connections.py)."""
    length = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    if max_bytes is not None and length and length.isdigit() and int(length) > max_bytes:
        raise _download_too_large(max_bytes, int(length))
    data = response.read(max_bytes + 1) if max_bytes is not None else response.read()  # type: ignore[attr-defined]
    if max_bytes is not None and len(data) > max_bytes:
        raise _download_too_large(max_bytes, len(data))
    return data


def _download_too_large(max_bytes: int, received: int) -> DownloadTooLarge:
    return DownloadTooLarge(f"Failed to fetch media from URL: Remote media download exceeds "
                            f"VLLM_MAX_MEDIA_DOWNLOAD_SIZE_MB={max_bytes // MIB} (received at least {received} bytes)")


def decode_image(data: bytes) -> Image:
    for sniff in (_png, _jpeg, _webp, _gif):
        found = sniff(data)
        if found:
            fmt, width, height = found
            if width <= 0 or height <= 0:
                break
            return Image(data, fmt, width, height)
    raise MediaError("cannot identify image file: the data is not a PNG, JPEG, WebP or GIF image.")


def _png(data: bytes) -> tuple[str, int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return "png", width, height


def _gif(data: bytes) -> tuple[str, int, int] | None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return "gif", width, height


def _jpeg(data: bytes) -> tuple[str, int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return "jpeg", width, height
        pos += 2 + length
    return None


def _webp(data: bytes) -> tuple[str, int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return "webp", width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return "webp", width, height
    return None
