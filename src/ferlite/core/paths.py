"""Where the shared data and weights live.

ferlite downloads nothing at run time. Data and ImageNet weights are found in a
``shared/`` folder: ``$FERLITE_SHARED`` if set, else ``./shared`` or ``../shared``
from the working directory or from the source checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dirs() -> list[Path]:
    """Candidate ``shared/`` folders, most specific first."""
    dirs = []
    if os.environ.get("FERLITE_SHARED"):
        dirs.append(Path(os.environ["FERLITE_SHARED"]))
    for base in (Path.cwd(), _REPO_ROOT):
        dirs += [base / "shared", base.parent / "shared"]
    return dirs


def find_shared(relpath: str) -> Path:
    """Path of ``relpath`` inside the first ``shared/`` folder that has it.

    Example:
        >>> find_shared("data/fer2013.npz")  # doctest: +SKIP
        PosixPath('/work/shared/data/fer2013.npz')

    Raises:
        FileNotFoundError: naming every folder searched, and how to point at another.
    """
    for d in shared_dirs():
        if (d / relpath).is_file():
            return d / relpath
    searched = ", ".join(str(d) for d in shared_dirs())
    raise FileNotFoundError(
        f"{relpath} not found in any shared folder ({searched}); set FERLITE_SHARED or pass the file's path explicitly"
    )


def asset_path(name: str) -> Path:
    """A model file shipped inside the package (``ferlite/assets/``).

    Raises:
        CheckpointError: the file is missing (a broken install).

    Example:
        >>> asset_path("eye_state.int8.onnx").name
        'eye_state.int8.onnx'
    """
    from importlib import resources

    from .errors import CheckpointError

    path = Path(str(resources.files("ferlite.assets").joinpath(name)))
    if not path.is_file():
        raise CheckpointError(f"{path}: the bundled model file is missing; reinstall ferlite or pass a model path")
    return path
