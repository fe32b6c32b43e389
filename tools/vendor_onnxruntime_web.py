"""Vendor onnxruntime-web into the web app's static files (``make web-vendor``; ``make test`` and every wheel build,
through setup.py, run it).

The page's on-device mode runs the models with onnxruntime-web, served by ferlite itself: never a CDN at run time.
This fetches the pinned package from the npm registry with ``npm pack``, checks its registry integrity hash, and
copies the files the page loads into ``src/ferlite/apps/web/static/vendor/onnxruntime-web/`` (git-ignored,
shipped in the wheel as package data):

- ``ort.wasm.min.mjs`` with ``ort-wasm-simd-threaded.mjs`` and ``.wasm``: WebAssembly with SIMD and threads, what
  the page runs on by default (the JSEP build that also carries WebGPU ran the int8 models several times slower
  on WebAssembly in an ad-hoc check in Node 20 on the 2-core VM);
- ``ort.webgpu.min.mjs`` with ``ort-wasm-simd-threaded.asyncify.mjs`` and ``.wasm``: the WebGPU build, loaded only
  where the browser offers a WebGPU adapter (about 29 MB more in the package).

Usage: python tools/vendor_onnxruntime_web.py [--check]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.31.1"
# The registry's sha512 of onnxruntime-web-1.31.1.tgz (npm view onnxruntime-web@1.31.1 dist.integrity).
INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
FILES = (
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)
DEST = Path(__file__).resolve().parents[1] / "src" / "ferlite" / "apps" / "web" / "static" / "vendor" / "onnxruntime-web"
LICENSE = f"""onnxruntime-web {VERSION} (https://www.npmjs.com/package/onnxruntime-web), vendored by ferlite.

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def is_vendored() -> bool:
    stamp = DEST / "VERSION"
    return stamp.is_file() and stamp.read_text().strip() == VERSION and all((DEST / f).is_file() for f in FILES)


def vendor() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "vendor_onnxruntime_web: npm not found: the on-device page needs onnxruntime-web, fetched with npm; install "
            "Node.js and npm (make system-deps), or build without the page: FERLITE_WITHOUT_WEB=1"
        )
    with tempfile.TemporaryDirectory(prefix="ferlite-ortweb-") as tmp:
        proc = subprocess.run([npm, "pack", f"onnxruntime-web@{VERSION}", "--silent"], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(
                f"vendor_onnxruntime_web: npm could not fetch onnxruntime-web {VERSION} (offline?): "
                f"{proc.stderr.strip()[-300:]}; build without the on-device page with FERLITE_WITHOUT_WEB=1"
            )
        tgz = Path(tmp) / f"onnxruntime-web-{VERSION}.tgz"
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            sys.exit(f"vendor_onnxruntime_web: {tgz.name} has integrity {digest}, expected {INTEGRITY}")
        if DEST.exists():
            shutil.rmtree(DEST)
        DEST.mkdir(parents=True)
        with tarfile.open(tgz) as tar:
            for name in FILES:
                member = tar.getmember(f"package/dist/{name}")
                source = tar.extractfile(member)
                assert source is not None, name  # a regular file in the package
                (DEST / name).write_bytes(source.read())
    (DEST / "LICENSE").write_text(LICENSE)
    (DEST / "VERSION").write_text(VERSION + "\n")
    print(f"onnxruntime-web {VERSION} vendored into {DEST}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only say whether it is vendored (exit 1 if not)")
    args = p.parse_args()
    if args.check:
        print("vendored" if is_vendored() else "not vendored")
        return 0 if is_vendored() else 1
    if not is_vendored():
        vendor()
    return 0


if __name__ == "__main__":
    sys.exit(main())
