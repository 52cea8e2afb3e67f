"""Tiny datasets in AISBench's on-disk formats, made from the suite's own media, for running the real tool
against the simulator: textvqa (jsonl + annotations, the canary's image questions), gsm8k (the manifest's
arithmetic) and vocalsound (the spoken vocal sounds, labels in the file names)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from phi4mm_acceptance.protocol.media import load_manifest

ANNOTATORS = 10  # VQA accuracy counts an answer fully when at least 3 annotators gave it


def write_tiny_datasets(root: Path) -> Path:
    """Lays out <root>/ais_bench/datasets/... as AISBench's configs expect; returns root."""
    manifest = load_manifest()
    base = root / "ais_bench" / "datasets"
    textvqa = base / "textvqa" / "textvqa_json"
    textvqa.mkdir(parents=True)
    questions, annotations = [], []
    for number, (item, ask) in enumerate((i, a) for i in manifest.images for a in i.canary):
        questions.append({"question_id": number, "question": ask.question, "image": str(item.path.resolve())})
        spread = ask.accepted[:3]  # each accepted answer from at least 3 of the 10 annotators
        answers = [{"answer": spread[k % len(spread)], "answer_id": k} for k in range(ANNOTATORS)]
        annotations.append({"question_id": number, "answers": answers})
    (textvqa / "textvqa_val.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (textvqa / "textvqa_val_annotations.json").write_text(json.dumps({"annotations": annotations}))
    gsm8k = base / "gsm8k"
    gsm8k.mkdir(parents=True)
    lines = "".join(json.dumps({"question": a["question"], "answer": a["solution"]}) + "\n" for a in manifest.arithmetic)
    for split in ("train", "test"):
        (gsm8k / f"{split}.jsonl").write_text(lines)
    vocalsound = base / "vocalsound"
    vocalsound.mkdir(parents=True)
    for clip in manifest.vocal_sounds:
        shutil.copy(clip.path, vocalsound / clip.path.name)
    return root
