"""Run a `formats` command in a subprocess and measure it: wall time, the peak memory of the
command's own process and of the processes it started (the template sandbox workers).

The bounds the hostile tests assert are generous on purpose (a slow, busy 2-core machine): what
they catch is a case that hangs or grows without limit, not a slow one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Optional

SECONDS = 30.0  # every hostile case ends within this
PARENT_MB = 300  # the command's own process stays under this
CHILD_MB = 350  # a sandbox worker stays under its 256 MB address-space limit (RSS <= that)

_CODE = """
import atexit, resource, sys

@atexit.register
def _measured():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write(f"\\nMEASURED {own} {children}\\n")

from chatformats.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Measured:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str  # without the measurement line
    seconds: float
    parent_mb: float
    child_mb: float

    def __str__(self) -> str:
        return (
            f"formats {' '.join(self.args)[:120]}: exit {self.returncode}, {self.seconds:.1f} s, "
            f"{self.parent_mb:.0f} MB (children {self.child_mb:.0f} MB)\n{self.stderr[-600:]}"
        )


def run_measured(args: list[str], cwd: Optional[str] = None, env: Optional[dict[str, str]] = None) -> Measured:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _CODE, *args],
        capture_output=True, text=True, timeout=SECONDS * 4, cwd=cwd,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - start
    found = re.search(r"\nMEASURED (\d+) (\d+)\n$", result.stderr)
    own, children = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    stderr = result.stderr[: found.start()] if found else result.stderr
    return Measured(args, result.returncode, result.stdout, stderr, seconds, own / 1024, children / 1024)


def run_all(cases: Iterable[list[str]], cwd: Optional[str] = None, workers: int = 3) -> list[Measured]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda args: run_measured(args, cwd), cases))


def bounded(measured: Measured) -> Optional[str]:
    """Why a run broke the time or memory bounds or left a traceback (None when it did not)."""
    if "Traceback" in measured.stderr:
        return "traceback"
    if measured.seconds > SECONDS:
        return f"took {measured.seconds:.1f} s"
    if measured.parent_mb > PARENT_MB:
        return f"reached {measured.parent_mb:.0f} MB"
    if measured.child_mb > CHILD_MB:
        return f"a child reached {measured.child_mb:.0f} MB"
    return None
