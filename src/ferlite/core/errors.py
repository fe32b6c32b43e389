"""Errors that are the user's to fix. The CLI prints them as one line, never a traceback."""


class FerliteError(ValueError):
    """A problem with the user's input: a file, a row, an option. The message names it."""


class DataError(FerliteError):
    """A missing, corrupt or mismatched dataset, named by file or row."""


class CheckpointError(FerliteError):
    """A missing, corrupt or foreign checkpoint file."""


class UsageError(FerliteError):
    """An option value that cannot work (an unknown class, model or mode)."""
