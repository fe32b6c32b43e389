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


def machine_summary() -> dict[str, object]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version()}
