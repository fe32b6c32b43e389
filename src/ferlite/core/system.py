"""A description of the machine, for every benchmark and results page."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def compute_threads() -> int:
    """The threads a computation should use by default: ``OMP_NUM_THREADS`` where it is set to a positive number (the
    convention PyTorch and OpenMP programs follow, and how a user shares a machine between runs), else every core."""
    wanted = os.environ.get("OMP_NUM_THREADS", "")
    return int(wanted) if wanted.isdigit() and int(wanted) > 0 else os.cpu_count() or 1


def machine_summary() -> dict[str, object]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version()}
