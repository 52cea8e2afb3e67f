"""A stand-in Atlas host tree for docker tests: NPU device nodes, driver files, `npu-smi`, cached weights.

Device nodes are character devices made with mknod (major 1, minor 3: the kernel's /dev/null), so the
container really gets device files at /dev/davinciN; `npu-smi info` prints one of the layout samples.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from selftests.fake_hub import make_fake_snapshot, phi4mm_files

SAMPLES = Path(__file__).resolve().parent / "data" / "npu-smi"  # copies of shared/reference/samples
DRIVER_DIRS = ("usr/local/dcmi", "usr/local/Ascend/driver/lib64", "root/.cache", "data")
DRIVER_FILES = ("usr/local/Ascend/driver/version.info", "etc/ascend_install.info")


def make_standin_host(root: Path, npus: int = 8, npu_smi_sample: str = "a2-idle.txt",
                      skip_devices: tuple[str, ...] = (), weights: dict[str, bytes] | None = None,
                      npu_smi_later: tuple[int, str] | None = None,
                      npu_smi_serving: str | None = "a2-serving.txt") -> Path:
    """`weights`: the files of the cached snapshot (default: a complete fake Phi-4-multimodal; {} for none).
    `npu-smi info` prints `npu_smi_sample` on its first call (the pre-flight's) and `npu_smi_serving` after
    (the NPUs holding the server: None, the first sample again, as NPUs the server never took);
    `npu_smi_later`: (calls, sample): after that many calls it prints the other sample (an NPU whose health
    changes mid-run)."""
    (root / "dev").mkdir(parents=True, exist_ok=True)
    for name in [f"davinci{n}" for n in range(npus)] + ["davinci_manager", "devmm_svm", "hisi_hdc"]:
        if name not in skip_devices:
            os.mknod(root / "dev" / name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    for folder in DRIVER_DIRS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for file in DRIVER_FILES:
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text("Version=25.2.0 (stand-in)\n")
    files = phi4mm_files() if weights is None else weights
    if files:
        make_fake_snapshot(root / "root/.cache/huggingface/hub", files)
    npu_smi = root / "usr/local/bin/npu-smi"
    npu_smi.parent.mkdir(parents=True, exist_ok=True)
    first = (SAMPLES / npu_smi_sample).read_text()
    serving = (SAMPLES / npu_smi_serving).read_text() if npu_smi_serving else first
    calls, later = npu_smi_later or (0, "")
    later = (SAMPLES / later).read_text() if later else serving
    counter = root / "npu-smi.calls"
    npu_smi.write_text(f"#!/bin/sh\nn=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}\n"
                       f"if [ $n -le 1 ]; then\ncat <<'FIRST'\n{first}FIRST\n"
                       f"elif [ $n -le {calls} ] || [ {calls} -eq 0 ]; then\ncat <<'SERVING'\n{serving}SERVING\n"
                       f"else\ncat <<'LATER'\n{later}LATER\nfi\n")
    npu_smi.chmod(0o755)
    return root
