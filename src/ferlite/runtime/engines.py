"""Which engine runs the runtime's ONNX models (the emotion model and YuNet): ONNX Runtime where it is installed
(the ``cpu`` or ``gpu`` extra), else OpenCV's DNN module, which is slower but needs nothing more."""

from __future__ import annotations

import functools
import sys
from typing import Any

BACKENDS = ("onnxruntime", "opencv")


def chosen_backend(name: str | None) -> str:
    """``name``, checked, or :func:`default_backend` for None; an unknown name is the caller's mistake, a UsageError
    (for the emotion model and YuNet alike).

    Example:
        >>> chosen_backend("opencv")
        'opencv'
    """
    if name is None:
        return default_backend()
    if name not in BACKENDS:
        from ..core.errors import UsageError

        raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def default_backend() -> str:
    """onnxruntime where it can be imported, else OpenCV's DNN module, said once on stderr: the user installed ferlite
    without the cpu or gpu extra, and should know that they could be faster."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        _say_opencv_fallback()
        return "opencv"
    return "onnxruntime"


@functools.cache
def _say_opencv_fallback() -> None:
    print(
        'ferlite: ONNX Runtime is not installed, so the models run on OpenCV\'s DNN module (slower); pip install "ferlite[cpu]"',
        file=sys.stderr,
    )


def onnxruntime_options(threads: int | None) -> Any:
    """ONNX Runtime session options for the runtime's models: ``threads`` intra-op threads (None: ONNX Runtime's
    choice) and no spin-waiting. After each call ONNX Runtime's idle threads would spin on the cores that the other
    model of the frame needs next, and a video frame alternates between the two; on the 2-core VM paired runs did not
    settle it either way (docs/BENCHMARKS.md, benchmarks/threads.py), and the video pipeline's one thread has no pool
    to spin.

    On x86 CPUs without VNNI (AVX2 only: many AMD Zen 2 and 3 and pre-2019 Intel machines), ONNX Runtime multiplies
    the int8 models' uint8 activations by int8 weights with an instruction whose 16-bit sums saturate. There the
    bundled default's scores moved 0.041 on average (0.179 at most) from OpenCV's on the one-face clip, and agreed
    with the browser's onnxruntime-web on 94% of top labels (the parity test's 98% failed). ``session.x64quantprecision``
    has ONNX Runtime use uint8 weights there instead, which do not saturate: 0.009 from OpenCV's on average. It costs
    such CPUs 1.36x the classifier's time at batch 1 and changes nothing on CPUs with VNNI or on float models
    (``python benchmarks/int8_precision.py``, AMD EPYC without VNNI; ``test_int8_scores_do_not_depend_on_the_cpus_instructions``).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.x64quantprecision", "1")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return opts
