"""Odd but valid media, made in memory and the same every time: images of a pixel or thousands of pixels a
side and speech-band audio at other rates, lengths and channel counts. A server must answer each (or refuse
it alone) and keep serving everyone else (vllm#55546, #15404: one bad item took the server down). Also the
spoken clips padded with silence, for speech requests of mixed lengths at once, and distinct pictures and clips
for the memory soak and the loads.
"""
from __future__ import annotations

import base64
import io
import math
import struct
import wave
from dataclasses import dataclass

from PIL import Image

from phi4mm_acceptance.protocol.media import audio_url_part, image_part


@dataclass(frozen=True)
class OddItem:
    name: str  # as in test ids and messages: "image-1x1", "audio-8000hz-0.5s"
    modality: str  # image or audio
    part: dict  # the content part that carries it


def _png(width: int, height: int) -> bytes:
    """Two crossed gradients: content a model can see, at any size, built in C (PIL), not pixel by pixel."""
    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    down = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (across, down, Image.new("L", (width, height), 128)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _wav(rate: int, seconds: float, channels: int) -> bytes:
    """A 440 Hz tone with a 3 Hz tremolo, 16-bit PCM."""
    frames = int(rate * seconds)
    samples = (int(12000 * math.sin(2 * math.pi * 440 * n / rate) * (0.6 + 0.4 * math.sin(2 * math.pi * 3 * n / rate)))
               for n in range(frames))
    return _pcm16_wav(rate, channels, b"".join(struct.pack("<h", value) * channels for value in samples))


def silent_wav(rate: int, seconds: float, channels: int) -> bytes:
    """Silence as 16-bit PCM: a valid clip of any length or size, made at memory speed."""
    return _pcm16_wav(rate, channels, bytes(int(rate * seconds) * 2 * channels))


def _pcm16_wav(rate: int, channels: int, pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()


def padded_with_silence(wav: bytes, seconds: float) -> bytes:
    """The same clip with `seconds` of silence after it: the same words in a longer request."""
    with wave.open(io.BytesIO(wav)) as reader:
        params, frames = reader.getparams(), reader.readframes(reader.getnframes())
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setparams(params)
        writer.writeframes(frames + b"\x00" * (int(params.framerate * seconds) * params.sampwidth * params.nchannels))
    return out.getvalue()


def distinct_image_url(number: int, size: int = 448) -> str:
    """The number-th of as many different images as asked for: a gradient with a square placed and coloured
    by the number, so no two share bytes (nor a cache entry)."""
    image = Image.merge("RGB", (Image.linear_gradient("L").resize((size, size)),) * 3)
    side, step = size // 8, (number * 7919) % (size * size)
    x, y = step % (size - side), (step // size) % (size - side)
    image.paste(((number * 37) % 256, (number * 91) % 256, (number * 53) % 256), (x, y, x + side, y + side))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def distinct_clip_url(speech: bytes, number: int, seconds: float) -> str:
    """The number-th of as many different spoken clips as asked for, `seconds` long: the speech (16-bit mono WAV)
    looped to that length, the number written into the lowest bit of its first 40 samples (inaudible), so no two
    share bytes (nor a cache entry), as an audio_url data: URL (the part vLLM gives the speech adapter)."""
    with wave.open(io.BytesIO(speech)) as reader:
        rate, pcm = reader.getframerate(), reader.readframes(reader.getnframes())
    if not pcm:
        raise ValueError("the speech clip holds no samples")
    wanted = int(rate * seconds) * 2
    looped = bytearray((pcm * (wanted // len(pcm) + 1))[:wanted])
    for bit in range(min(40, len(looped) // 2)):
        looped[2 * bit] = (looped[2 * bit] & 0xFE) | ((number >> bit) & 1)
    return "data:audio/wav;base64," + base64.b64encode(_pcm16_wav(rate, 1, bytes(looped))).decode()


IMAGE_SIZES = ((1, 1), (2, 2), (1, 512), (2400, 1600))
AUDIO_SHAPES = ((8000, 0.5, 1), (22050, 2.0, 1), (44100, 3.0, 2), (48000, 8.0, 1))  # rate, seconds, channels


def odd_media(modalities: set[str]) -> list[OddItem]:
    """The odd items of the modalities the deployment serves."""
    items = []
    if "image" in modalities:
        for width, height in IMAGE_SIZES:
            url = "data:image/png;base64," + base64.b64encode(_png(width, height)).decode()
            items.append(OddItem(f"image-{width}x{height}", "image", image_part(url)))
    if "audio" in modalities:
        for rate, seconds, channels in AUDIO_SHAPES:
            url = "data:audio/wav;base64," + base64.b64encode(_wav(rate, seconds, channels)).decode()
            label = f"audio-{rate}hz-{seconds:g}s" + ("-stereo" if channels == 2 else "")
            items.append(OddItem(label, "audio", audio_url_part(url)))
    return items
