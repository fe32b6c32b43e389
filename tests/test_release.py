"""The release: the version in one place, the sdist and wheel as users get them, and the API reference."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import ferlite

ROOT = Path(__file__).resolve().parents[1]


def test_the_changelog_has_this_version_with_its_date_and_one_section_of_each_kind():
    text = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", text, flags=re.M)
    assert versions and versions[0][0] == ferlite.__version__, versions[:2]
    release = text.split(f"## [{ferlite.__version__}]", 1)[1].split("\n## [", 1)[0]
    headings = re.findall(r"^### (.+)$", release, flags=re.M)
    assert len(headings) == len(set(headings)) and set(headings) <= {
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    }


@pytest.mark.slow
@pytest.mark.xdist_group("release")  # one build of the release files, on one worker
def test_the_sdist_and_wheel_pass_twine_check_and_install_into_a_fresh_environment(release):
    """`python -m build` from a clean checkout: the sdist carries what a wheel build needs (the build hook's tool, the
    recipes of the study), `twine check --strict` accepts both, and the installed wheel names its version."""
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", release.sdist, release.wheel], capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.count("PASSED") == 2, check.stdout + check.stderr
    assert release.wheel.name == f"ferlite-{ferlite.__version__}-py3-none-any.whl"
    sdist_names = tarfile.open(release.sdist).getnames()
    assert f"ferlite-{ferlite.__version__}/tools/vendor_onnxruntime_web.py" in sdist_names
    wheel_names = set(zipfile.ZipFile(release.wheel).namelist())
    assert {"ferlite/assets/emotion_default.int8.onnx", "ferlite/training/study_recipes.toml", "ferlite/py.typed"} <= wheel_names
    version = subprocess.run([release.venv / "bin" / "ferlite", "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.splitlines()[0] == f"ferlite {ferlite.__version__}", version


@pytest.mark.slow
def test_the_api_reference_is_generated_from_the_docstrings(tmp_path):
    """`make api-docs` (pdoc): a page per module, with the public classes and their docstrings."""
    out = tmp_path / "api"
    pdoc = subprocess.run(
        [sys.executable, "-m", "pdoc", "ferlite", "--docformat", "google", "-o", out], capture_output=True, text=True, timeout=300
    )
    assert pdoc.returncode == 0, pdoc.stderr[-2000:]
    runtime = (out / "ferlite" / "runtime.html").read_text()
    assert "Recognizer" in runtime and "process_video" in runtime
    session = (out / "ferlite" / "apps" / "web" / "session.html").read_text()
    assert "StreamSession" in session and "Answers one client" in session
    assert "TrainConfig" in (out / "ferlite" / "training.html").read_text() and (out / "index.html").is_file()
