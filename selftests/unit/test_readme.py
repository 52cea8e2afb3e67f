"""The README's generated tables match the code that defines options and simulator faults."""
from __future__ import annotations

import subprocess
import sys

from selftests.suite_run import REPO


def test_readme_tables_are_up_to_date() -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "update_readme.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
