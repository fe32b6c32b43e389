"""Generated sections of Markdown reports: each command owns one marked block of a file.

Several commands write into one document (``ferlite bench`` and the peer comparison both
write docs/BENCHMARKS.md); each replaces only its own block and keeps the rest.
"""

from __future__ import annotations

from pathlib import Path


def write_block(path: str | Path, name: str, text: str) -> Path:
    """Put ``text`` between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``.

    The block is replaced if present, appended otherwise; the file is created if missing.

    Example:
        >>> write_block("docs/BENCHMARKS.md", "peers", "## Peers\\n...")  # doctest: +SKIP
    """
    path = Path(path)
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
    return path
