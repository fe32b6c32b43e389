"""Spoken cues for the emotion of each person: espeak-ng, only on changes, rate-limited.

An accessibility aid for users who cannot see the screen: "person 1 looks happy" is
spoken when a person's dominant emotion changes, at most once per ``min_interval``
seconds, never repeating itself. Speech runs in the background (a subprocess), so the
video never waits for it.

Example:
    >>> cues = SpokenCues()  # doctest: +SKIP
    >>> cues.update(faces, t=time.monotonic())  # speaks when a label changed  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..core.errors import UsageError
from ..runtime.faces import Faces

# How a label reads in "person 1 looks ...".
ADJECTIVES = {"disgust": "disgusted", "fear": "afraid", "surprise": "surprised", "contempt": "contemptuous"}


class SpokenCues:
    """Announce changes of each track's dominant emotion through espeak-ng.

    Args:
        min_interval: seconds between two utterances.
        voice: an espeak-ng voice (``espeak-ng --voices``).
        rate: words per minute.
        wav_dir: write each cue to a WAV file there instead of the speakers (for headless use and tests).
        binary: the espeak-ng executable.
    """

    def __init__(
        self,
        min_interval: float = 4.0,
        voice: str = "en",
        rate: int = 160,
        wav_dir: str | Path | None = None,
        binary: str = "espeak-ng",
    ) -> None:
        self.binary = shutil.which(binary)
        if self.binary is None:
            raise UsageError(f"spoken cues need {binary!r}: install it (Debian/Ubuntu: apt install espeak-ng)")
        self.min_interval, self.voice, self.rate = min_interval, voice, rate
        self.wav_dir = Path(wav_dir) if wav_dir else None
        if self.wav_dir:
            self.wav_dir.mkdir(parents=True, exist_ok=True)
        self._announced: dict[int, str] = {}
        self._last_time = float("-inf")
        self._process: subprocess.Popen | None = None
        self.spoken: list[str] = []

    def pending_text(self, faces: Faces) -> str | None:
        """What would be said for these faces now (labels that changed since last announced), or None."""
        if faces.tracker_id is None or faces.scores is None:
            return None
        changed = [
            (int(tid), label)
            for tid, label in zip(faces.tracker_id, faces.label)
            if tid >= 0 and label and self._announced.get(int(tid)) != label
        ]
        if not changed:
            return None
        return ", ".join(f"person {tid} looks {ADJECTIVES.get(label, label)}" for tid, label in changed)

    def update(self, faces: Faces, t: float) -> str | None:
        """Speak the changes at time ``t`` (seconds) if the rate limit allows; returns what was said."""
        text = self.pending_text(faces)
        if text is None or t - self._last_time < self.min_interval:
            return None
        if self._process is not None and self._process.poll() is None:
            return None  # still speaking the previous cue
        for tid, label in zip(faces.tracker_id, faces.label):
            if tid >= 0 and label:
                self._announced[int(tid)] = label
        self._last_time = t
        cmd = [self.binary, "-v", self.voice, "-s", str(self.rate)]
        if self.wav_dir:
            cmd += ["-w", str(self.wav_dir / f"cue_{len(self.spoken):04d}.wav")]
        self._process = subprocess.Popen([*cmd, text], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.spoken.append(text)
        return text

    def close(self) -> None:
        """Wait for the last cue to finish."""
        if self._process is not None:
            self._process.wait(timeout=30)
