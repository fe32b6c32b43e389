"""ferlite: lightweight, real-time facial emotion recognition.

Example:
    >>> import cv2
    >>> from ferlite import Recognizer
    >>> faces = Recognizer().predict(cv2.imread("photo.jpg"))  # doctest: +SKIP
    >>> faces.label  # doctest: +SKIP
    ['happy']
"""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so that ``import ferlite`` costs nothing and training code never loads the runtime.
    if name in ("Recognizer", "Faces", "FaceTracker", "EmotionClassifier"):
        from . import runtime

        return getattr(runtime, name)
    if name == "analyze":
        from .apps.analyze import analyze

        return analyze
    raise AttributeError(name)
