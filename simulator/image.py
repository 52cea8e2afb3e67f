"""Build the simulator's container image with no registry: Debian minbase + python3, plus the simulator.

`python -m simulator.image --tag phi4mm-sim:latest` runs `debootstrap --variant=minbase
--include=python3,procps,libnuma1 bookworm` once into a cached root file system (about 40 s), copies the
simulator in with a `vllm` shim on PATH. procps gives `pkill`, which the suite runs inside a serving container
to end a tool that overran, as in a vllm-ascend image; libnuma1 is for the real vLLM image built on the same tree
(selftests/vllm_cpu_image.py: vLLM's CPU kernels link it). The Debian tree is `docker import`ed as a base once; the simulator is
added by a COPY-only build. Needs root, debootstrap and a Docker engine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM = """#!/usr/bin/env python3
import sys
sys.path.insert(0, "/opt/phi4mm-sim")
from simulator.cli import main
sys.exit(main())
"""


PACKAGES = "python3,procps,libnuma1"
BASE_IMAGE = "phi4mm-sim-base:bookworm-2"
DEFAULT_ROOTFS_CACHE = Path("/var/cache/phi4mm-sim-rootfs")


def base_rootfs(cache: Path) -> Path:
    """A Debian bookworm minbase tree with PACKAGES, made once and reused (remade when PACKAGES change)."""
    done = cache / ".complete"
    if not done.exists() or done.read_text() != PACKAGES:
        shutil.rmtree(cache, ignore_errors=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(cache)],
                       check=True, stdout=subprocess.DEVNULL)
        done.write_text(PACKAGES)
    return cache


def docker_import(tar_command: list[str], tag: str, changes: tuple[str, ...] = ()) -> None:
    """`docker import` the tar stream that `tar_command` writes as image `tag` (one layer, no build context)."""
    tar = subprocess.Popen(tar_command, stdout=subprocess.PIPE)
    change_args = [arg for change in changes for arg in ("--change", change)]
    done = subprocess.run(["docker", "import", *change_args, "-", tag], stdin=tar.stdout,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if tar.wait() != 0 or done.returncode != 0:
        raise SystemExit(f"docker import of {tag} failed: {done.stderr.strip() or 'tar failed'}")


def build(tag: str, cache: Path) -> None:
    """Import the Debian tree as a base image (once), then add the simulator with a COPY-only build."""
    base = BASE_IMAGE
    if subprocess.run(["docker", "image", "inspect", base], capture_output=True).returncode != 0:
        docker_import(["tar", "-C", str(base_rootfs(cache)), "--exclude=./.complete", "-c", "."], base)
    with tempfile.TemporaryDirectory() as scratch:
        context = Path(scratch)
        shutil.copytree(HERE, context / "simulator", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (context / "vllm").write_text(SHIM)
        (context / "vllm").chmod(0o755)
        (context / "Dockerfile").write_text(
            f"FROM {base}\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
            "COPY simulator /opt/phi4mm-sim/simulator\nCOPY vllm /usr/local/bin/vllm\n")
        done = subprocess.run(["docker", "build", "--quiet", "--network", "host", "-t", tag, str(context)],
                              capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        if done.returncode != 0:
            raise SystemExit(f"docker build of {tag} failed:\n{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="phi4mm-sim:latest")
    parser.add_argument("--rootfs-cache", type=Path, default=DEFAULT_ROOTFS_CACHE)
    args = parser.parse_args(argv)
    build(args.tag, args.rootfs_cache)
    print(f"built {args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
