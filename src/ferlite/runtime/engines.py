"""Which engine runs the runtime's ONNX models (the emotion model and YuNet): ONNX Runtime where it is installed
(the ``cpu`` or ``gpu`` extra), else OpenCV's DNN module, which is slower but needs nothing more."""

from __future__ import annotations

import functools
import sys

BACKENDS = ("onnxruntime", "opencv")


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
