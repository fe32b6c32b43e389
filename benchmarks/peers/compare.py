"""ferlite against the `fer` package (25.10.3), both measured in one run on the same inputs.

Run through ``benchmarks/peers/run.sh``, which builds the venv this needs (fer with
TensorFlow, and ferlite's runtime installed without its dependencies beside it).

1. FER2013 PrivateTest accuracy and macro-F1: the 48x48 faces are given to each tool as
   face crops, each with its own preprocessing (ferlite: ``EmotionClassifier.predict``;
   fer: ``FER.detect_emotions`` with the whole crop as the face rectangle).
2. End-to-end FPS on the same 640x480 clip: each tool's own pipeline with a box on every frame (ferlite: its video
   stream, ``Recognizer.stream``, YuNet with region detection between whole-frame scans + align + classify + track,
   locating frame t+1 while frame t is classified; fer: Haar + its TFLite model, ``detect_emotions`` per frame with
   frames decoded ahead on another thread), each frame decoded from the file inside the timing, in paired rounds.
3. Model size on disk: the classifier, and the detector it ships.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from itertools import islice
from pathlib import Path

import numpy as np

FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


# FERPlus's vote columns, as FER2013 names (the last two: unknown, not a face).
FERPLUS_COLUMNS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt", "unknown", "not a face")


def load_private_test(npz: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """PrivateTest faces, their original labels, and the share of them whose FERPlus majority vote differs."""
    with np.load(npz, allow_pickle=False) as z:
        rows = np.flatnonzero(z["usage"] == "PrivateTest")
        labels = z["emotion"][rows].astype(np.int64)
        majority = np.array(FERPLUS_COLUMNS)[z["ferplus_votes"][rows].argmax(1)]
        relabelled = float((majority != np.array(FER2013_CLASSES)[labels]).mean())
        return z["images"][rows], labels, relabelled


def load_rafdb_test(npz: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """RAF-DB's official test faces as the colour 100x100 BGR crops the file holds, and their labels (FER order).

    Read here rather than through ferlite's reader: each tool gets the same colour crop and does its own
    preprocessing (ferlite's gray models make it gray, its colour default keeps the colour)."""
    import cv2

    with np.load(npz, allow_pickle=False) as z:
        rows = np.flatnonzero(z["split"] == "test")
        blob, offsets = z["jpeg"], z["offsets"]
        crops = [cv2.imdecode(blob[offsets[r] : offsets[r + 1]], cv2.IMREAD_COLOR) for r in rows]
        return crops, z["labels"][rows].astype(np.int64)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    # Macro over the true classes: a model class the test set lacks (contempt) is not averaged in.
    return accuracy_score(y_true, y_pred), f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0)


def ferlite_predictions(
    images, model: Path, threads: int, restrict_to: tuple[str, ...] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """ferlite's predictions; with ``restrict_to``, the best of those classes, as indices into ``restrict_to``."""
    from ferlite.runtime import EmotionClassifier

    clf = EmotionClassifier(model, threads=threads)
    probs = np.concatenate([clf.predict(list(images[i : i + 256])) for i in range(0, len(images), 256)])
    if restrict_to is None:
        return probs.argmax(1), clf.labels
    columns = [clf.labels.index(c) for c in restrict_to]
    return probs[:, columns].argmax(1), restrict_to


def fer_predictions(images, detector) -> np.ndarray:
    labels = list(FER2013_CLASSES)
    out = np.empty(len(images), np.int64)
    for i, face in enumerate(images):
        bgr = np.repeat(face[:, :, None], 3, axis=2) if face.ndim == 2 else face
        result = detector.detect_emotions(bgr, face_rectangles=[(0, 0, face.shape[1], face.shape[0])])
        emotions = result[0]["emotions"]
        out[i] = labels.index(max(emotions, key=emotions.get))
    return out


def time_video(fn, video: Path, limit: int) -> tuple[float, float]:
    """FPS and faces per frame of ``fn`` on the first ``limit`` frames, each decoded from the file inside the timing
    (as a user's video is), after a warm-up on the first ten."""
    from ferlite.runtime import FrameSource

    for _, frame in islice(FrameSource(video), 10):
        fn(frame)
    faces, frames, start = 0, 0, time.perf_counter()
    for _, frame in islice(FrameSource(video), limit):
        faces += fn(frame)
        frames += 1
    return frames / (time.perf_counter() - start), faces / frames


def time_stream(rec, video: Path, limit: int) -> tuple[float, float]:
    """FPS and faces per frame of ferlite's video stream (``Recognizer.stream``: decoding, locating and classifying
    overlapped, as ``ferlite watch`` and ``analyze`` run a file) on the first ``limit`` frames, after a warm-up."""
    from contextlib import closing

    for frames_wanted in (10, limit):  # a warm-up on the first ten, then the timed pass
        faces, frames, start = 0, 0, time.perf_counter()
        with closing(rec.stream(video)) as stream:
            for _, _, found in stream:
                faces += len(found)
                frames += 1
                if frames >= frames_wanted:
                    break
        seconds = time.perf_counter() - start
    return frames / seconds, faces / frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=None, help="the shared folder (default: found like ferlite does)")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help="ferlite ONNX model(s) to score, repeat for several (default: the bundled one); the first is also timed",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="ONNX Runtime threads for ferlite's classifier (default: ferlite's own)"
    )
    p.add_argument("--frames", type=int, default=300, help="frames of the clip for the FPS runs")
    p.add_argument("--rounds", type=int, default=3, help="paired end-to-end rounds (ferlite, then fer, each round)")
    p.add_argument(
        "--fer-offsets",
        type=int,
        nargs=2,
        default=(0, 0),
        help="fer's padding around a given face rectangle; 0 0 for FER2013's already cropped faces (fer's default 10 10 is for detector boxes)",
    )
    p.add_argument("--write", default=None, metavar="MD", help="write the results into this Markdown file's 'peers' block")
    p.add_argument("--speed-only", action="store_true", help="only the end-to-end rounds (no accuracy; nothing written)")
    args = p.parse_args()
    if args.speed_only and args.write:
        p.error("--speed-only writes nothing; leave out --write")

    import cv2
    import fer as fer_package
    import onnxruntime
    import tensorflow as tf
    from fer import __version__ as fer_version
    from fer.fer import FER

    from ferlite.core.paths import find_shared
    from ferlite.core.system import cpu_model
    from ferlite.evaluation.reporting import write_block
    from ferlite.runtime import Recognizer, default_model_path
    from ferlite.runtime.detector import bundled_yunet_path
    from ferlite.runtime.recognizer import VIDEO_THREADS

    def shared(rel: str) -> Path:
        return Path(args.shared) / rel if args.shared else find_shared(rel)

    models = [Path(m) for m in args.model] if args.model else [default_model_path()]
    model = models[0]
    video = shared("media/face1_emotions_pexels_640x480.mp4")
    rec = Recognizer(model, threads=args.threads)  # its default pipeline: whole frame every few, regions between
    fer_video = FER()  # its defaults: Haar cascade, TFLite model, offsets (10, 10)
    # Paired rounds: drift of the machine's speed falls on both tools alike; the medians are reported.
    ferlite_runs, fer_runs = [], []
    for r in range(args.rounds):
        ferlite_runs.append(time_stream(rec, video, args.frames))
        fer_runs.append(time_video(lambda f: len(fer_video.detect_emotions(f)), video, args.frames))
        print(f"round {r}: ferlite {ferlite_runs[-1][0]:.1f} FPS, fer {fer_runs[-1][0]:.1f} FPS", flush=True)
    ferlite_fps, ferlite_faces = float(np.median([x[0] for x in ferlite_runs])), ferlite_runs[-1][1]
    fer_fps, fer_faces = float(np.median([x[0] for x in fer_runs])), fer_runs[-1][1]
    ratios = [a[0] / b[0] for a, b in zip(ferlite_runs, fer_runs)]
    print(
        f"end to end on {video.name}: ferlite {ferlite_fps:.1f} FPS ({ferlite_faces:.2f} faces/frame), "
        f"fer {fer_fps:.1f} FPS ({fer_faces:.2f} faces/frame); ferlite/fer per round {', '.join(f'{x:.1f}' for x in ratios)}",
        flush=True,
    )

    if args.speed_only:
        return

    images, labels, relabelled = load_private_test(shared("data/fer2013.npz"))
    fer_crops = FER(offsets=tuple(args.fer_offsets))

    rows = []
    for m in models:
        pred, classes = ferlite_predictions(images, m, args.threads)
        # Scored on the FER2013 faces of the classes the model has; a class FER2013 lacks (contempt) is always wrong.
        keep = np.isin(labels, [FER2013_CLASSES.index(c) for c in classes if c in FER2013_CLASSES])
        y = np.array([classes.index(FER2013_CLASSES[k]) for k in labels[keep]])
        acc, f1 = scores(y, pred[keep])
        rows.append(("ferlite", f"{m.name} ({len(classes)} classes: {', '.join(classes)})", int(keep.sum()), acc, f1))
        print(f"ferlite {m.name}: PrivateTest accuracy {acc:.4f}, macro-F1 {f1:.4f} on {keep.sum()} faces", flush=True)
    fer_pred = fer_predictions(images, fer_crops)
    acc, f1 = scores(labels, fer_pred)
    rows.append(("fer 25.10.3", f"mini-Xception TFLite (7 classes), offsets {tuple(args.fer_offsets)}", len(labels), acc, f1))
    print(f"fer: PrivateTest accuracy {acc:.4f}, macro-F1 {f1:.4f} on {len(labels)} faces", flush=True)

    # RAF-DB test: in-the-wild faces neither tool's FER2013 training saw. RAF-DB's 7 classes are FER2013's.
    raf_crops, raf_labels = load_rafdb_test(shared("data/rafdb_basic.npz"))
    raf_rows = []
    for m in models:
        pred, classes = ferlite_predictions(raf_crops, m, args.threads, restrict_to=FER2013_CLASSES)
        acc, f1 = scores(raf_labels, pred)
        raf_rows.append(("ferlite", m.name, len(raf_labels), acc, f1))
        print(f"ferlite {m.name}: RAF-DB test accuracy {acc:.4f}, macro-F1 {f1:.4f} on {len(raf_labels)} faces", flush=True)
    acc, f1 = scores(raf_labels, fer_predictions(raf_crops, fer_crops))
    raf_rows.append(("fer 25.10.3", "mini-Xception TFLite (7 classes)", len(raf_labels), acc, f1))
    print(f"fer: RAF-DB test accuracy {acc:.4f}, macro-F1 {f1:.4f} on {len(raf_labels)} faces", flush=True)

    fer_dir = Path(fer_package.__file__).parent / "data"
    sizes = {
        "ferlite": (model.stat().st_size, bundled_yunet_path().stat().st_size),
        "fer": (
            (fer_dir / "emotion_model_quantized.tflite").stat().st_size,
            (fer_dir / "haarcascade_frontalface_default.xml").stat().st_size,
        ),
    }
    machine = (
        f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, "
        f"TensorFlow {tf.__version__}, OpenCV {cv2.__version__}, fer {fer_version}"
    )
    print(machine)
    if args.write:
        threads_text = (
            f"{args.threads} ONNX Runtime threads"
            if args.threads
            else f"its default ONNX Runtime threads (all cores on the crops, {VIDEO_THREADS} in the video pipeline)"
        )
        lines = [
            "## Peer comparison: ferlite and `fer`",
            "",
            "Generated by `benchmarks/peers/run.sh"
            + "".join(f" --model {m}" for m in args.model or [])
            + f" --rounds {args.rounds} --write {args.write}` "
            "(fer 25.10.3 in its own venv: `pip install --no-deps fer==25.10.3`, then tensorflow-cpu, opencv-contrib-python<5, "
            "setuptools<81, pandas); do not edit this block by hand.",
            "",
            f"Machine: {machine}. ferlite: {threads_text}; fer: TensorFlow Lite's default threads.",
            "",
            "FER2013 PrivateTest, each tool given the 48x48 faces as crops with its own preprocessing (fer: "
            f"`detect_emotions(face, face_rectangles=[whole crop])`, offsets {tuple(args.fer_offsets)}):",
            "",
            "| tool | model | faces | accuracy | macro-F1 |",
            "|---|---|---|---|---|",
            *[f"| {t} | {m} | {n} | {a:.1%} | {f:.3f} |" for t, m, n, a, f in rows],
            "",
            "RAF-DB basic test (3,068 in-the-wild faces, 7 classes), each tool given the colour 100x100 aligned crop "
            "with its own preprocessing (fer: the whole crop as the face rectangle; ferlite: its 8-class models' "
            "argmax restricted to the 7 classes). RAF-DB is research-only data; no image of it is shipped:",
            "",
            "| tool | model | faces | accuracy | macro-F1 |",
            "|---|---|---|---|---|",
            *[f"| {t} | {m} | {n} | {a:.1%} | {f:.3f} |" for t, m, n, a, f in raf_rows],
            "",
            f"End to end on `{video.name}` (640x480, {args.frames} frames, each decoded from the file inside the timing; "
            f"a box on every frame from each tool's own pipeline; the median of {args.rounds} paired rounds, ferlite/fer "
            f"per round {', '.join(f'{x:.1f}x' for x in ratios)}):",
            "",
            "| tool | pipeline | FPS | faces/frame | classifier size | detector size |",
            "|---|---|---|---|---|---|",
            f"| ferlite | YuNet on ONNX Runtime (whole frame every {rec.full_scan_every} frames, regions around the tracked faces between) + align + {model.name} (the first model above) + tracker, detection of frame t+1 overlapping classification of frame t (`Recognizer.stream`) | {ferlite_fps:.1f} | {ferlite_faces:.2f} | "
            f"{sizes['ferlite'][0] / 1e6:.2f} MB | {sizes['ferlite'][1] / 1e6:.2f} MB |",
            f"| fer 25.10.3 | Haar cascade + TFLite mini-Xception | {fer_fps:.1f} | {fer_faces:.2f} | "
            f"{sizes['fer'][0] / 1e6:.2f} MB | {sizes['fer'][1] / 1e6:.2f} MB |",
            "",
            f"A model trained on FERPlus's labels is scored here against FER2013's original ones: FERPlus's ten-vote majority "
            f"differs from the original label for {relabelled:.1%} of these faces, and contempt is never right; its own "
            "benchmark is FERPlus PrivateTest (MODEL_CARD.md).",
            "",
            "Caveat: fer's model comes from oarriaga/face_classification, trained on FER2013 with its own random "
            "split, so PrivateTest faces may have been in its training data; that can only flatter fer's accuracy.",
        ]
        write_block(args.write, "peers", "\n".join(lines))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
