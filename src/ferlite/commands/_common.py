"""Options shared by the runtime commands (predict, watch, bench)."""

from __future__ import annotations

import argparse

from ..core.options import non_negative_float, positive_int
from ..runtime import TTA_MODES, Recognizer
from ..runtime.detector import build_detector
from ..runtime.engines import BACKENDS


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument(
        "--model",
        default=None,
        help="emotion ONNX model from 'ferlite export', or a bundled one by name: default (FERPlus classes, 112 px, "
        "trained on faces from three sources; the default), accurate (a 112 px and a 160 px network averaged in one file, "
        "better on AffectNet and FERPlus, level on RAF-DB, about 3x the cost per face) or fer2013 (FER2013's 7 classes, 224 px; ten-view TTA by default)",
    )
    g.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="where the emotion model runs: cpu (default) or cuda (needs onnxruntime-gpu in place of onnxruntime)",
    )
    g.add_argument("--detector", default="yunet", choices=("yunet", "haar", "ssd"), help="face detector (default yunet, bundled)")
    g.add_argument(
        "--ssd-model",
        nargs=2,
        metavar=("PB", "PBTXT"),
        default=None,
        help="res10 SSD files for --detector ssd (default: the shared weights folder)",
    )
    g.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="ONNX Runtime threads for the classifier (default 1: a frame's few faces gain little from more, and the "
        "detector uses the other cores)",
    )
    g.add_argument(
        "--margin", type=non_negative_float, default=0.15, help="context around each face box, as a fraction of its side"
    )
    g.add_argument("--no-align", action="store_true", help="do not level the eyes before classifying")
    g.add_argument(
        "--tta",
        default=None,
        choices=TTA_MODES,
        help="test-time augmentation of the classifier: none, flip (each face and its mirror image: twice the "
        "classifier cost) or shift-flip (ten shifted and mirrored views: ten times the cost); default: the "
        "model's own (shift-flip for fer2013, with which its number was measured; none for the others)",
    )
    g.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="the emotion model's engine: onnxruntime, or OpenCV's DNN module where onnxruntime has no wheel "
        "(default: onnxruntime if installed, else opencv)",
    )
    g.add_argument(
        "--personalization",
        default=None,
        metavar="NPZ",
        help="a personal head from 'ferlite personalize' for this model, blended with the shipped one",
    )
    g.add_argument(
        "--detect-every",
        type=positive_int,
        default=1,
        help="video: detect faces on every n-th frame and track in between (default 1: every frame)",
    )


def build_recognizer(args: argparse.Namespace) -> Recognizer:
    detector = build_detector(args.detector, args.ssd_model)
    return Recognizer(
        args.model,
        detector=detector,
        threads=args.threads,
        margin=args.margin,
        align=not args.no_align,
        detect_every=args.detect_every,
        device=args.device,
        tta=args.tta,
        personalization=args.personalization,
        backend=args.backend,
    )
