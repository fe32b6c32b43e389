"""Errors that are the user's to fix. The CLI prints them as one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable


def stderr_reporter(command: str) -> Callable[[str], None]:
    """``say(message)`` for ``ferlite COMMAND``'s notes to the user (a skipped file, a summary): one line on stderr,
    named as the CLI names the command's errors, so that stdout stays the command's output."""

    def say(message: str) -> None:
        print(f"ferlite {command}: {message}", file=sys.stderr)

    return say


class FerliteError(ValueError):
    """A problem with the user's input: a file, a row, an option. The message names it."""


class DataError(FerliteError):
    """A missing, corrupt or mismatched dataset, named by file or row."""


class CheckpointError(FerliteError):
    """A missing, corrupt or foreign checkpoint file."""


class UsageError(FerliteError):
    """An option value that cannot work (an unknown class, model or mode)."""
