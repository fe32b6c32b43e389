"""The build hook that puts the on-device page's onnxruntime-web into every wheel (everything else is in pyproject.toml).

A wheel built from a checkout or an sdist without the vendored files fetches the pinned package with npm and checks
its registry hash first (tools/vendor_onnxruntime_web.py): without npm, or offline, the build stops with one line that
says so. FERLITE_WITHOUT_WEB=1 builds a wheel without it, whose page then runs on the server only. Editable installs
skip the hook: they serve the page from the checkout, where ``make web-vendor`` puts the files.
"""

import importlib.util
import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

VENDOR_TOOL = Path(__file__).resolve().parent / "tools" / "vendor_onnxruntime_web.py"


class BuildWithOnnxruntimeWeb(build_py):
    def run(self) -> None:
        if not getattr(self, "editable_mode", False) and not os.environ.get("FERLITE_WITHOUT_WEB"):
            spec = importlib.util.spec_from_file_location("vendor_onnxruntime_web", VENDOR_TOOL)
            tool = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(tool)
            if not tool.is_vendored():
                tool.vendor()
        super().run()


setup(cmdclass={"build_py": BuildWithOnnxruntimeWeb})
