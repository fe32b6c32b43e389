"""The files of models/, as models/MANIFEST.toml lists them: check the ones kept here, restore one from git history.

python tools/model_files.py check            # every file here is listed, and matches its sha256
python tools/model_files.py restore NAME     # an intermediate from the commit that holds it, checked
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def manifest() -> dict[str, dict]:
    with open(MODELS / "MANIFEST.toml", "rb") as f:
        return tomllib.load(f)["models"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check() -> list[str]:
    """What is wrong with models/ against the manifest (nothing: an empty list)."""
    listed, problems = manifest(), []
    present = {p.name for p in MODELS.iterdir() if p.suffix in (".onnx", ".tflite")}
    problems += [f"{name}: in models/ but not in MANIFEST.toml" for name in sorted(present - set(listed))]
    for name, entry in listed.items():
        if entry["kept"] and name not in present:
            problems.append(f"{name}: listed as kept, but not in models/")
        if name in present and sha256(MODELS / name) != entry["sha256"]:
            problems.append(f"{name}: its sha256 is not the listed one")
    return problems


def restore(name: str, into: Path = MODELS) -> Path:
    """``models/NAME`` (or ``into/NAME``) from the commit the manifest names, checked against its sha256."""
    entry = manifest().get(name)
    if entry is None:
        raise SystemExit(f"{name}: not in models/MANIFEST.toml")
    path = into / name
    if not entry["kept"]:
        blob = subprocess.run(["git", "show", f"{entry['commit']}:models/{name}"], cwd=ROOT, capture_output=True)
        if blob.returncode != 0:
            raise SystemExit(f"{name}: git has no commit {entry['commit'][:12]} here (a shallow clone? git fetch --unshallow)")
        path.write_bytes(blob.stdout)
    if not path.is_file() or sha256(path) != entry["sha256"]:
        raise SystemExit(f"{name}: its sha256 is not the listed one")
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("check")
    sub.add_parser("restore").add_argument("name")
    args = p.parse_args()
    if args.action == "restore":
        print(restore(args.name))
        return 0
    problems = check()
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
