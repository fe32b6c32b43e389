"""``LabelTally``: what a video's faces were read as, overall and second by second.

The numbers a person asks of a clip first ("mostly neutral?", "when did the smile start?"),
kept as counts while the frames stream by, so nothing needs the per-frame records afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .faces import Faces


@dataclass
class LabelTally:
    """Counts of the top label of every face, over the whole video and per second of its clock.

    Example:
        >>> import numpy as np
        >>> tally = LabelTally()
        >>> box = np.zeros((1, 4), np.float32)
        >>> for t, p in [(0.2, [0.9, 0.1]), (0.7, [0.8, 0.2]), (1.1, [0.3, 0.7])]:
        ...     scores = np.array([p], np.float32)
        ...     tally.update(t, Faces(box, np.ones(1, np.float32), scores=scores, labels=("sad", "happy")))
        >>> tally.shares_text()
        'sad 67%, happy 33%'
        >>> tally.timeline_text()
        'sad 0 s, happy 1 s'
    """

    overall: Counter = field(default_factory=Counter)
    per_second: dict[int, Counter] = field(default_factory=dict)

    def update(self, time_s: float, faces: Faces) -> None:
        """Count the labels of one frame's faces (faces without scores count nothing)."""
        labels = faces.label
        if not labels:
            return
        self.overall.update(labels)
        self.per_second.setdefault(int(time_s), Counter()).update(labels)

    @property
    def total(self) -> int:
        """Faces counted."""
        return sum(self.overall.values())

    def shares(self) -> dict[str, float]:
        """Each label's share of all faces counted, the most frequent first."""
        return {label: n / self.total for label, n in self.overall.most_common()}

    def timeline(self) -> list[tuple[int, int, str]]:
        """Runs of seconds with the same most frequent label: ``(first_s, last_s, label)``.

        Seconds without a face end a run, so a gap shows as one.
        """
        runs: list[tuple[int, int, str]] = []
        for second in sorted(self.per_second):
            label = self.per_second[second].most_common(1)[0][0]
            if runs and runs[-1][2] == label and runs[-1][1] == second - 1:
                runs[-1] = (runs[-1][0], second, label)
            else:
                runs.append((second, second, label))
        return runs

    def shares_text(self) -> str:
        """``'neutral 89%, happy 9%, sad 2%, angry <1%'`` (whole percent; a label seen at all never reads 0%)."""
        parts = (f"{label} {share:.0%}" if share >= 0.005 else f"{label} <1%" for label, share in self.shares().items())
        return ", ".join(parts)

    def timeline_text(self) -> str:
        """``'sad 0-8 s, happy 9-14 s'``."""
        return ", ".join(f"{label} {a} s" if a == b else f"{label} {a}-{b} s" for a, b, label in self.timeline())
