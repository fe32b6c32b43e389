"""Accessibility aids: spoken cues (espeak-ng, only on changes, rate-limited) and large video captions."""

import subprocess
import sys
import wave

import numpy as np
import pytest

from ferlite.apps.speech import SpokenCues
from ferlite.core.paths import find_shared
from ferlite.runtime import CaptionAnnotator, Faces

pytestmark = pytest.mark.needs_shared

LABELS = ("angry", "happy", "sad")


def _faces(labels_by_track: dict[int, str]) -> Faces:
    ids = list(labels_by_track)
    scores = np.array([[0.9 if name == lab else 0.05 for name in LABELS] for lab in labels_by_track.values()], np.float32)
    return Faces(
        np.tile([[10, 10, 110, 110]], (len(ids), 1)), np.ones(len(ids)), scores=scores, tracker_id=np.array(ids), labels=LABELS
    )


def test_spoken_cues_only_on_changes_and_rate_limited(tmp_path):
    cues = SpokenCues(min_interval=2.0, wav_dir=tmp_path)
    assert cues.update(_faces({1: "sad"}), t=0.0) == "person 1 looks sad"
    cues.close()
    assert cues.update(_faces({1: "sad"}), t=5.0) is None  # no change, no repeat
    assert cues.update(_faces({1: "happy"}), t=5.5) == "person 1 looks happy"
    cues.close()
    assert cues.update(_faces({1: "sad"}), t=6.0) is None  # a change, but too soon
    assert cues.update(_faces({1: "sad", 2: "angry"}), t=8.0) == "person 1 looks sad, person 2 looks angry"
    cues.close()
    wavs = sorted(tmp_path.glob("*.wav"))
    assert len(wavs) == 3
    with wave.open(str(wavs[0])) as w:
        assert w.getnframes() / w.getframerate() > 0.5  # real synthesized speech


def test_caption_band_is_large_and_high_contrast():
    frame = np.full((480, 640, 3), 128, np.uint8)
    out = CaptionAnnotator().annotate(frame.copy(), _faces({1: "happy"}))
    band = out[400:]
    assert (band == 0).all(axis=2).mean() > 0.6 and (band == 255).all(axis=2).sum() > 1500  # white on black
    rows = np.flatnonzero((out == 255).all(axis=2).any(axis=1))
    assert rows.max() - rows.min() >= 20  # text at least 20 px tall on a 480-line frame


@pytest.mark.slow
def test_watch_with_captions_and_spoken_cues_on_real_footage(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferlite",
            "watch",
            str(find_shared("media/face1_emotions_pexels_640x480.mp4")),
            "-o",
            str(tmp_path / "v.mp4"),
            "--captions",
            "--speak-to",
            str(tmp_path / "cues"),
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stderr.splitlines() if "said" in line]
    assert any("looks sad" in s for s in said) and "looks happy" in said[-1]  # crying first, laughing at the end
    assert len(said) == len(list((tmp_path / "cues").glob("*.wav"))) <= 6  # only changes, rate-limited
