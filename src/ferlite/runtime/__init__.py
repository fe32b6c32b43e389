"""The runtime: detector, aligner, ONNX classifier, tracker, pipeline and label tally. No torch here."""

from ..core.spec import TTA_MODES, ModelSpec
from .annotate import BoxAnnotator, CaptionAnnotator, FPSAnnotator, LabelAnnotator, annotate_faces
from .classifier import EmotionClassifier
from .detector import Detector, HaarDetector, SSDDetector, YuNetDetector, create_detector
from .faces import Faces
from .image import read_image
from .model_io import LogitCalibration, preprocess_faces, tta_views
from .personalize import Personalization, fit_personalization
from .recognizer import BUNDLED_MODELS, FaceStream, Recognizer, default_model_path, resolve_model_path
from .tally import LabelTally
from .tracker import FaceTracker, ScoreSmoother
from .video import FPSMonitor, FrameSource, StopVideo, VideoInfo, VideoSink, process_video

__all__ = [
    "BUNDLED_MODELS",
    "TTA_MODES",
    "BoxAnnotator",
    "CaptionAnnotator",
    "Detector",
    "EmotionClassifier",
    "FPSAnnotator",
    "FPSMonitor",
    "FaceStream",
    "FaceTracker",
    "Faces",
    "FrameSource",
    "HaarDetector",
    "LabelAnnotator",
    "LabelTally",
    "LogitCalibration",
    "ModelSpec",
    "Personalization",
    "Recognizer",
    "ScoreSmoother",
    "SSDDetector",
    "StopVideo",
    "VideoInfo",
    "VideoSink",
    "YuNetDetector",
    "annotate_faces",
    "create_detector",
    "default_model_path",
    "fit_personalization",
    "preprocess_faces",
    "process_video",
    "read_image",
    "resolve_model_path",
    "tta_views",
]
