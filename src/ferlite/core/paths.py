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


def readable_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path when it is a regular file with something in it; otherwise a DataError that names the real
    problem (a folder, a broken symbolic link, a missing file, a device or pipe, an empty file) rather than "not found".

    Example:
        >>> readable_file("/", "image")
        Traceback (most recent call last):
        ...
        ferlite.core.errors.DataError: /: is a folder, not an image (ferlite analyze reads folders)
    """
    from .errors import DataError

    path, noun = Path(path), f"an {what}" if what[:1] in "aeiou" else f"a {what}"
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not {noun} (ferlite analyze reads folders)")
    if path.is_symlink() and not path.exists():
        raise DataError(f"{path}: broken symbolic link (its target {os.readlink(path)} does not exist)")
    if not path.exists():
        raise DataError(f"{path}: no such {what}")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file (a device, pipe or socket), so not {noun}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file, not {noun}")
    return path


def output_folder(path: str | Path, empty: bool = False) -> Path:
    """``path`` as a folder to write into, made when missing; a UsageError naming it when it is a file (or a link to
    one), when ``empty`` and it holds something, or when it cannot be made.

    Example:
        >>> output_folder("/etc/hostname")
        Traceback (most recent call last):
        ...
        ferlite.core.errors.UsageError: /etc/hostname: is a file, not a folder to write into
    """
    from .errors import UsageError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: is a file, not a folder to write into")
    if empty and path.is_dir() and any(path.iterdir()):
        raise UsageError(f"{path}: folder is not empty; choose a new one")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{path}: cannot make the folder ({e.strerror or e})") from None
    return path
