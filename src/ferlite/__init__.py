"""ferlite: lightweight, real-time facial emotion recognition."""

__version__ = "0.1.0"
