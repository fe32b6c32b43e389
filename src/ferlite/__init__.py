"""ferlite: lightweight, real-time facial emotion recognition.

Example:
    >>> import cv2
    >>> from ferlite import Recognizer
    >>> faces = Recognizer().predict(cv2.imread("photo.jpg"))  # doctest: +SKIP
    >>> faces.label  # doctest: +SKIP
    ['happy']
"""

import os as _os

__version__ = "0.2.0"

# ferlite is offline and private: ONNX Runtime's telemetry (a device id and an event queue under ~/.cache, and
# uploads in the builds that have them) is turned off before onnxruntime is first imported. A program that
# imported onnxruntime before ferlite has to set these itself.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
_os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")


def __getattr__(name):
    # Lazy, so that ``import ferlite`` costs nothing and training code never loads the runtime.
    if name in ("Recognizer", "Faces", "FaceTracker", "EmotionClassifier"):
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(name)
