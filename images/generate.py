"""Regenerate the suite's test media, their manifest and the simulator's knowledge of them.

Run `python images/generate.py` after changing an item here (needs Debian's `espeak-ng` and `sox` for the audio).
Images are synthetic Pillow renders (text to read, a colour to name, shapes to count, a chart to read) plus
four public-domain / CC0 photographs in photos/ (licences in the manifest). Audio clips are spoken by
espeak-ng: sentences to transcribe (the audio canary) and vocal sounds named the VocalSound way
(`<n>_<label>.wav`, for AISBench's vocalsound dataset). The manifest holds each item's questions and the
answers that count as right; the simulator's knowledge file (its "weights") maps each file's sha256 to what
a good model would answer, so the two never drift apart.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from simulator.media import speech_fingerprint  # the simulator knows a clip padded with silence too

HERE = Path(__file__).resolve().parent
KNOWLEDGE = HERE.parent / "simulator" / "fake_model" / "knowledge.json"
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
READ_WORD = "What word is written in large letters in this image? Answer with the word only."
DESCRIBE = "What is in this image?"
DESCRIBE_EACH = "Describe each image in one sentence."
DESCRIBE_NTH = "Describe the {ordinal} of these {count} images in one sentence."  # one answer per image


SAMPLE_RATE_HZ = 16000
SYNTHETIC = "synthetic render by images/generate.py (no rights reserved)"


@dataclass(frozen=True)
class Ask:
    """A canary question: what a good model answers, and every short answer that counts as right."""

    question: str
    answer: str
    accepted: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    name: str
    file: str
    draw: Callable[[], Image.Image] | None  # None: a committed photograph
    question: str
    answer: str
    expected: list[list[str]]  # every group must match; any word of a group will do
    description: str
    describe_keywords: list[str]  # any of these in an answer to DESCRIBE
    tags: tuple[str, ...] = ()
    more: tuple[Ask, ...] = ()  # further canary questions
    licence: str = SYNTHETIC

    @property
    def canary(self) -> tuple[Ask, ...]:
        return (Ask(self.question, self.answer, tuple(self.expected[0])), *self.more)


@dataclass(frozen=True)
class Clip:
    """A spoken clip: a sentence to transcribe, or a vocal sound with its VocalSound label."""

    name: str
    file: str
    spoken: str  # what espeak-ng says
    transcript: str = ""  # set for transcription clips
    label: str = ""  # set for vocal sounds: laughter, sigh, cough, throatclearing, sneeze, sniff


def canvas(width: int = 448, height: int = 448) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), WHITE)
    return image, ImageDraw.Draw(image)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def centred_word(word: str, width: int, height: int, size: int) -> Image.Image:
    image, draw = canvas(width, height)
    draw.text((width / 2, height / 2), word, fill=BLACK, font=font(size), anchor="mm")
    return image


def red_circle() -> Image.Image:
    image, draw = canvas()
    draw.ellipse((104, 104, 344, 344), fill=(220, 20, 20))
    return image


def three_squares() -> Image.Image:
    image, draw = canvas(672, 448)
    for left in (48, 264, 480):
        draw.rectangle((left, 144, left + 144, 288), fill=(30, 60, 220))
    return image


def bar_chart() -> Image.Image:
    image, draw = canvas(640, 480)
    draw.text((320, 30), "Fruit sold", fill=BLACK, font=font(32), anchor="mm")
    draw.line((60, 420, 600, 420), fill=BLACK, width=3)
    for index, (label, value) in enumerate((("apples", 3), ("pears", 7), ("plums", 5))):
        left = 100 + index * 170
        draw.rectangle((left, 420 - value * 45, left + 110, 420), fill=(40, 140, 60))
        draw.text((left + 55, 445), label, fill=BLACK, font=font(26), anchor="mm")
        draw.text((left + 55, 400 - value * 45), str(value), fill=BLACK, font=font(24), anchor="mm")
    return image


def tiny_green() -> Image.Image:
    return Image.new("RGB", (28, 28), (20, 170, 40))


SIGN_DESCRIPTION = "The image shows the word ATLAS written in large black letters on a white background."
LETTER_COLOUR = Ask("What colour are the letters? Answer with one word.", "Black.", ("black",))
BACKGROUND = Ask("What colour is the background? Answer with one word.", "White.", ("white",))
SIGN_ASKS = (LETTER_COLOUR, BACKGROUND)
ITEMS = (
    Item("red-circle", "red-circle.png", red_circle, "What colour is the circle? Answer with one word.", "Red.",
         [["red"]], "The image shows a single red circle on a plain white background.", ["red"], ("colour", "several"),
         (Ask("How many circles are in this image? Answer with a number.", "1", ("1", "one")),
          Ask("What shape is shown in this image? Answer with one word.", "Circle.", ("circle",)), BACKGROUND)),
    Item("three-squares", "three-squares.png", three_squares,
         "How many blue squares are in this image? Answer with a number.", "3",
         [["3", "three"]], "The image shows three blue squares in a row on a white background.",
         ["square", "squares"], ("count", "several"),
         (Ask("What colour are the squares? Answer with one word.", "Blue.", ("blue",)),
          Ask("What shape are the blue objects? Answer with one word.", "Squares.", ("square", "squares")))),
    Item("bar-chart", "bar-chart.png", bar_chart,
         "Which fruit has the tallest bar in this chart? Answer with one word.", "Pears.",
         [["pears", "pear"]],
         "The image is a bar chart titled Fruit sold with three bars: apples 3, pears 7 and plums 5.",
         ["chart", "bar", "bars"], ("chart", "several"),
         (Ask("What is the value of the bar for plums? Answer with a number.", "5", ("5", "five")),
          Ask("Which fruit has the shortest bar in this chart? Answer with one word.", "Apples.", ("apples", "apple")),
          Ask("How many bars are in this chart? Answer with a number.", "3", ("3", "three")),
          Ask("What is the title of this chart? Answer with the title only.", "Fruit sold", ("fruit sold",)))),
    Item("sign-png", "sign.png", lambda: centred_word("ATLAS", 640, 320, 120), READ_WORD, "ATLAS",
         [["atlas"]], SIGN_DESCRIPTION, ["atlas"], ("text", "format", "several"), SIGN_ASKS),
    Item("sign-jpeg", "sign.jpeg", lambda: centred_word("ATLAS", 640, 320, 120), READ_WORD, "ATLAS",
         [["atlas"]], SIGN_DESCRIPTION, ["atlas"], ("text", "format"), SIGN_ASKS),
    Item("sign-webp", "sign.webp", lambda: centred_word("ATLAS", 640, 320, 120), READ_WORD, "ATLAS",
         [["atlas"]], SIGN_DESCRIPTION, ["atlas"], ("text", "format"), SIGN_ASKS),
    Item("tiny-28px", "tiny-green.png", tiny_green, "What colour is this image? Answer with one word.", "Green.",
         [["green"]], "The image is a small plain green square.", ["green"], ("size",)),
    Item("large-2560px", "large-sign.png", lambda: centred_word("NPU", 2560, 1440, 520), READ_WORD, "NPU",
         [["npu"]], "The image shows the word NPU written in very large black letters on a white background.",
         ["npu"], ("size",), (LETTER_COLOUR,)),
    # Photographs from scikit-image's data set (skimage/data), resized to 512 px and saved as JPEG.
    Item("photo-cat", "photos/cat.jpeg", None, "What animal is in this photo? Answer with one word.", "Cat.",
         [["cat", "kitten", "kitty"]], "A photo of a tabby cat looking at the camera.", ["cat", "kitten"], ("photo",),
         licence="CC0 by the photographer, Stefan van der Walt (scikit-image data: chelsea)"),
    Item("photo-coffee", "photos/coffee.jpeg", None, "What drink is in the cup? Answer with one word.", "Coffee.",
         [["coffee", "espresso", "latte", "cappuccino"]], "A photo of a cup of coffee with latte art on a saucer.",
         ["coffee", "cup"], ("photo",),
         licence="CC0 by the photographer, Rachel Michetti, courtesy of Pikolo Espresso Bar (scikit-image data: coffee)"),
    Item("photo-astronaut", "photos/astronaut.jpeg", None,
         "What is the profession of the person in this photo? Answer with one word.", "Astronaut.",
         [["astronaut", "cosmonaut"]], "A portrait of an astronaut in an orange flight suit in front of a flag.",
         ["astronaut"], ("photo",),
         licence="public domain, NASA portrait of Eileen Collins (scikit-image data: astronaut)"),
    Item("photo-rocket", "photos/rocket-launch.jpeg", None,
         "What is being launched in this photo? Answer with one word.", "Rocket.",
         [["rocket", "falcon"]], "A photo of a rocket lifting off from a launch pad with a cloud of smoke.",
         ["rocket", "launch"], ("photo",),
         licence="public domain, SpaceX launch photo of Falcon 9 with DSCOVR (scikit-image data: rocket)"),
)
TRANSCRIBE = "Transcribe the audio clip into text."
VOCALSOUND_QUESTION = "In this audio, what kind of sound can you hear?"  # AISBench's vocalsound prompt starts so
VOCALSOUND_CHOICES = {"laughter": "A", "sigh": "B", "cough": "C", "throatclearing": "D", "sneeze": "E", "sniff": "F"}
CLIPS = (
    Clip("asr-fox", "audio/asr-fox.wav", "The quick brown fox jumps over the lazy dog.",
         transcript="The quick brown fox jumps over the lazy dog."),
    Clip("asr-harbour", "audio/asr-harbour.wav", "The weather in the harbour is calm, and the boats stay in port.",
         transcript="The weather in the harbour is calm, and the boats stay in port."),
    Clip("asr-callback", "audio/asr-callback.wav", "Please call me back at seven thirty tomorrow morning.",
         transcript="Please call me back at seven thirty tomorrow morning."),
    Clip("asr-server", "audio/asr-server.wav", "The new server has eight cards and a lot of memory.",
         transcript="The new server has eight cards and a lot of memory."),
    Clip("vocal-laughter", "audio/vocalsound/0001_laughter.wav", "ha ha ha ha ha", label="laughter"),
    Clip("vocal-cough", "audio/vocalsound/0002_cough.wav", "cough, cough", label="cough"),
    Clip("vocal-throat", "audio/vocalsound/0003_throatclearing.wav", "ahem, ahem", label="throatclearing"),
    Clip("vocal-sneeze", "audio/vocalsound/0004_sneeze.wav", "ah, choo!", label="sneeze"),
    Clip("vocal-sigh", "audio/vocalsound/0005_sigh.wav", "haaah", label="sigh"),
)

TEXT_PROMPTS = (
    {"name": "capital", "question": "What is the capital of France? Answer with one word.", "answer": "Paris.",
     "expected": [["paris"]]},
)
# Text whose stream must tell the same as the plain answer (tests/test_stream_fidelity.py): English, and CJK with
# emoji, whose multi-byte characters streams have split into U+FFFD (vllm#8627).
STREAM_PROMPTS = (
    {"name": "english", "question": "Describe a quiet harbour at dawn in two sentences.",
     "answer": "Fishing boats rest on still water while gulls circle over the pier. The first light turns the fog "
               "above the harbour a pale gold."},
    {"name": "cjk-emoji", "question": "Write the word cat in Chinese characters and in Japanese kana, then two cat "
                                      "emoji, then say in one English sentence what you wrote.",
     "answer": "猫, ねこ 🐱🐈 I wrote the word cat in Chinese and in Japanese kana, followed by two cat emoji."},
)
# Grade-school arithmetic in GSM8K's shape (`solution #### number`), for AISBench's gsm8k in the self-tests.
ARITHMETIC = (
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "3 + 4 = 7", 7),
    ("A box holds 12 eggs. How many eggs are in 2 boxes?", "12 * 2 = 24", 24),
    ("Sara had 10 dollars and spent 6. How much money is left?", "10 - 6 = 4", 4),
    ("There are 5 cats with 4 legs each. How many legs are there in all?", "5 * 4 = 20", 20),
    ("A train travels 60 km each hour for 3 hours. How far does it go?", "60 * 3 = 180", 180),
    ("Ana reads 15 pages a day. How many pages does she read in a week?", "15 * 7 = 105", 105),
)
REMOTE_IMAGES = (
    {
        "name": "boardwalk",
        "url": "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-"
               "boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg",
        "question": DESCRIBE,
        "expected": [["boardwalk", "walkway", "path", "trail", "wooden"]],
    },
)
GENERIC_MEDIA_ANSWER = "The picture is unclear to me; I cannot say what it shows."
GENERIC_TEXT_ANSWER = "I am not sure how to answer that; could you tell me more about what you need?"
# What Phi-4-multimodal says to speech when served without its speech LoRA (see shared/reference).
NO_SPEECH_LORA_ANSWER = "Certainly! Here is the transcription of the audio you provided."


def save(image: Image.Image, path: Path) -> None:
    options = {".jpeg": {"quality": 90}, ".webp": {"quality": 90, "method": 6}, ".png": {"optimize": True}}
    image.save(path, **options[path.suffix])


def speak(clip: Clip, path: Path) -> None:
    """espeak-ng's output (22,050 Hz) resampled by sox to 16 kHz mono 16-bit, the rate speech models take
    (Phi-4-multimodal's and Whisper's feature extractors; vLLM resamples any other rate, and on a server
    without torchaudio fails it). Both are byte-for-byte repeatable for one version and voice."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"images/generate.py: the audio needs Debian's {' and '.join(missing)} "
                         f"(apt-get install -y {' '.join(missing)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        spoken = Path(scratch) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(spoken), clip.spoken], check=True)
        subprocess.run(["sox", str(spoken), "-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", str(path)], check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_entries() -> tuple[list[dict[str, object]], dict[str, dict[str, object]]]:
    manifest, knowledge = [], {}
    for item in ITEMS:
        path = HERE / item.file
        if item.draw is not None:
            save(item.draw(), path)
        sha = sha256(path)
        with Image.open(path) as written:
            width, height, fmt = written.width, written.height, written.format.lower()
        manifest.append({
            "name": item.name, "file": item.file, "format": fmt, "width": width, "height": height,
            "sha256": sha, "question": item.question, "expected": item.expected,
            "describe_keywords": item.describe_keywords, "tags": list(item.tags), "licence": item.licence,
            "canary": [{"question": ask.question, "accepted": list(ask.accepted)} for ask in item.canary],
        })
        knowledge[sha] = {"name": item.name, "description": item.description,
                          "answers": {ask.question: ask.answer for ask in item.canary}}
    return manifest, knowledge


def clip_entries() -> tuple[list[dict[str, object]], dict[str, dict[str, object]]]:
    manifest, knowledge = [], {}
    for clip in CLIPS:
        path = HERE / clip.file
        speak(clip, path)
        sha = sha256(path)
        entry: dict[str, object] = {"name": clip.name, "file": clip.file, "sha256": sha, "licence": SYNTHETIC}
        if clip.transcript:
            entry |= {"question": TRANSCRIBE, "transcript": clip.transcript}
            answers = {TRANSCRIBE: clip.transcript}
        else:
            entry |= {"label": clip.label}
            answers = {VOCALSOUND_QUESTION: VOCALSOUND_CHOICES[clip.label]}
        manifest.append(entry)
        knowledge[sha] = {"name": clip.name, "description": clip.transcript or f"The sound of {clip.label}.",
                          "answers": answers, "speech_sha256": speech_fingerprint(path.read_bytes())}
    return manifest, knowledge


def main() -> None:
    images, image_knowledge = image_entries()
    clips, clip_knowledge = clip_entries()
    arithmetic = [{"question": q, "solution": f"{working}\n#### {result}"} for q, working, result in ARITHMETIC]
    manifest = {"images": images, "audio": clips, "remote_images": list(REMOTE_IMAGES),
                "text_prompts": [{k: v for k, v in p.items() if k != "answer"} for p in TEXT_PROMPTS],
                "arithmetic": arithmetic, "describe_question": DESCRIBE, "describe_each_question": DESCRIBE_EACH,
                "describe_nth_question": DESCRIBE_NTH,
                "stream_prompts": [{k: v for k, v in p.items() if k != "answer"} for p in STREAM_PROMPTS]}
    text = {p["question"]: p["answer"] for p in (*TEXT_PROMPTS, *STREAM_PROMPTS)}
    text |= {q: f"{working}. The answer is {result}.\nanswer: {result}" for q, working, result in ARITHMETIC}
    knowledge = {"media": image_knowledge | clip_knowledge, "text": text,
                 "generic_media_answer": GENERIC_MEDIA_ANSWER, "generic_text_answer": GENERIC_TEXT_ANSWER,
                 "no_speech_lora_answer": NO_SPEECH_LORA_ANSWER}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    KNOWLEDGE.write_text(json.dumps(knowledge, indent=2) + "\n")
    print(f"wrote {len(ITEMS)} images, {len(CLIPS)} clips, {HERE / 'manifest.json'} and {KNOWLEDGE}")


if __name__ == "__main__":
    main()
