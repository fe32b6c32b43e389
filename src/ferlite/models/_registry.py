"""Model registry: one place to add an architecture, found everywhere by name.

Each model file decorates its entry points with ``@register_model``; ``create_model``
(``ferlite.models``, in its ``__init__.py``) looks them up by string, so the CLI, the study and the tests never
import a model class directly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from ..core.errors import UsageError

_model_entrypoints: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register ``fn`` under its own ``__name__``.

    Example:
        >>> @register_model
        ... def my_net(num_classes=7, pretrained=False, **kw): ...
    """
    name = fn.__name__
    if name in _model_entrypoints:
        raise ValueError(f"model {name!r} is registered twice")
    _model_entrypoints[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Names of registered models matching a shell-style ``pattern``.

    Example:
        >>> 'mobilenetv2_fer' in list_models('mobilenet*')
        True
    """
    return sorted(n for n in _model_entrypoints if fnmatch.fnmatch(n, pattern))


def model_entrypoint(name: str) -> Callable:
    try:
        return _model_entrypoints[name]
    except KeyError:
        raise UsageError(f"Unknown model ({name!r}); known: {', '.join(list_models())}") from None
