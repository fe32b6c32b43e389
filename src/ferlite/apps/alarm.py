"""An alarm with hysteresis: on after a condition holds for a while, off after it clears for a while."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Hysteresis:
    """Debounced on/off state of a condition over time.

    The alarm turns on once ``condition`` has been true for ``on_after`` seconds and off
    once it has been false for ``off_after`` seconds, so a flickering signal neither
    floods the log nor flaps the display.

    Example:
        >>> a = Hysteresis(on_after=1.0, off_after=0.5)
        >>> [a.update(c, t) for c, t in [(True, 0.0), (True, 1.0), (False, 1.2), (False, 1.7)]]
        [None, 'on', None, 'off']
    """

    on_after: float = 1.0
    off_after: float = 1.0
    active: bool = False
    since: float | None = None  # when the condition last changed away from the alarm's state

    def update(self, condition: bool, t: float) -> str | None:
        """Feed the condition at time ``t`` (seconds); returns ``"on"`` or ``"off"`` on a change, else None."""
        if condition == self.active:
            self.since = None
            return None
        if self.since is None:
            self.since = t
        if t - self.since >= (self.on_after if condition else self.off_after):
            self.active, self.since = condition, None
            return "on" if condition else "off"
        return None

    def reset(self) -> None:
        self.active, self.since = False, None
