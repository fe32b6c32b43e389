"""One emotion taxonomy for every dataset, with name mapping and class presets.

Datasets spell the same emotion differently (FER2013 ``angry``/``happy``, FERPlus
``anger``/``happiness``, the reference study's folders ``sad``/``happiness``). Everything
in ferlite uses the canonical names below, in this order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import UsageError

# FER2013's own order (label 0..6), then FERPlus's extra class.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")

_ALIASES = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "calm": "neutral",
    "contemptuous": "contempt",
}

PRESETS: dict[str, tuple[str, ...]] = {
    # The reference study's 5-class setup.
    "ref5": ("angry", "happy", "neutral", "sad", "surprise"),
    "fer7": EMOTIONS[:7],
    "ferplus8": ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"),
}


def canonical(name: str) -> str:
    """Canonical name of an emotion label.

    Example:
        >>> canonical("Happiness"), canonical("anger")
        ('happy', 'angry')

    Raises:
        UsageError: for a name that is no known emotion.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in EMOTIONS:
        raise UsageError(f"unknown emotion {name!r}; known: {', '.join(EMOTIONS)} (and aliases {', '.join(_ALIASES)})")
    return key


def parse_classes(spec: str | Sequence[str] | None, available: Iterable[str] | None = None) -> tuple[str, ...] | None:
    """Turn ``--classes`` into canonical names: a preset (``ref5``) or a comma list.

    Example:
        >>> parse_classes("ref5")
        ('angry', 'happy', 'neutral', 'sad', 'surprise')
        >>> parse_classes("Happiness,sadness")
        ('happy', 'sad')
    """
    if spec is None or spec == "" or spec == "all":
        return None
    if isinstance(spec, str):
        if spec in PRESETS:
            names = PRESETS[spec]
        else:
            names = tuple(canonical(s) for s in spec.split(",") if s.strip())
    else:
        names = tuple(canonical(s) for s in spec)
    if len(set(names)) != len(names):
        raise UsageError(f"--classes lists a class twice: {', '.join(names)}")
    if available is not None:
        missing = [n for n in names if n not in set(available)]
        if missing:
            raise UsageError(f"classes {', '.join(missing)} are not in this dataset (it has {', '.join(available)})")
    return names


def subset_columns(model_classes: Sequence[str], classes: Sequence[str]) -> list[int]:
    """Column of each of ``classes`` in a model's outputs, for scoring a model on a subset of its classes.

    A 7-class model is scored on the 5-class task by keeping only those 5 columns of its outputs and taking the
    argmax among them (softmax is monotonic, so logits and probabilities give the same answer).

    Example:
        >>> subset_columns(PRESETS["fer7"], PRESETS["ref5"])
        [0, 3, 6, 4, 5]
    """
    missing = [c for c in classes if c not in model_classes]
    if missing:
        raise UsageError(
            f"classes {', '.join(missing)} are not among the model's classes ({', '.join(model_classes)}); "
            "a model can be scored on its own classes or a subset of them"
        )
    return [list(model_classes).index(c) for c in classes]
