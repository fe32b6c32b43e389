"""matplotlib for ferlite's figures: drawn off-screen, and nothing left in the user's home.

matplotlib keeps its font list under ``~/.cache/matplotlib`` and makes ``~/.config/matplotlib``; ferlite promises to
write only where it is told. Unless the user chose ``MPLCONFIGDIR`` themselves, matplotlib gets a private temporary
folder, removed when the process exits. Rebuilding the font list costs about 0.1 s per process (the 2-core VM), which a
report or an evaluation does not notice.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from types import ModuleType

from .errors import UsageError


def pyplot(extra: str) -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend; ``extra`` names the ferlite extra to install when it is missing.

    Example:
        >>> plt = pyplot("apps")  # doctest: +SKIP
    """
    if "MPLCONFIGDIR" not in os.environ and "matplotlib" not in sys.modules:
        folder = tempfile.mkdtemp(prefix="ferlite-matplotlib-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["MPLCONFIGDIR"] = folder
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise UsageError(f"figures need matplotlib: pip install 'ferlite[{extra}]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
