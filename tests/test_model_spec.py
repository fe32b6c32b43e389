"""The model file describes itself, and the runtime checks what it says before trusting it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferlite.core.errors import CheckpointError, UsageError
from ferlite.core.paths import asset_path
from ferlite.export.onnx import set_metadata
from ferlite.runtime import EmotionClassifier, Recognizer

pytestmark = pytest.mark.needs_shared


@pytest.fixture()
def copy_of_default(tmp_path):
    src = asset_path("emotion_default.int8.onnx")
    out = tmp_path / "model.onnx"
    out.write_bytes(src.read_bytes())
    return out, dict(EmotionClassifier(src).session.get_modelmeta().custom_metadata_map)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ferlite.labels": json.dumps(["a", "b", "c"])}, "8 outputs but its spec names 3 labels"),
        ({"ferlite.mean": "[0.5]"}, "one value per channel"),
        ({"ferlite.std": "[0.2, 0.0, 0.2]"}, "std values must be above 0"),
        ({"ferlite.color_mode": "bgr"}, "colour mode 'bgr' is not one the runtime honours"),
        ({"ferlite.labels": json.dumps(["happy"] * 8)}, "labels must be distinct"),
        ({"ferlite.tta": "twenty-views"}, "test-time augmentation 'twenty-views'"),
        ({"ferlite.input_size": "big"}, "not a ferlite emotion model"),
    ],
)
def test_a_model_file_that_contradicts_itself_is_refused_with_one_clear_error(copy_of_default, change, message):
    path, meta = copy_of_default
    set_metadata(path, {**meta, **change})
    with pytest.raises(CheckpointError, match=message) as e:
        EmotionClassifier(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_fer2013_uses_the_ten_views_its_published_number_needs_unless_told_otherwise():
    assert Recognizer("fer2013").classifier.tta == "shift-flip"
    assert Recognizer("fer2013", tta="none").classifier.tta == "none"
    assert Recognizer().classifier.tta == "none" and Recognizer("accurate").classifier.tta == "none"


def test_faces_refuse_labels_that_do_not_match_their_score_columns():
    import numpy as np

    from ferlite.runtime import Faces

    with pytest.raises(ValueError, match="2 labels for 3 score columns"):
        Faces(np.zeros((1, 4)), np.ones(1), scores=np.ones((1, 3)), labels=("a", "b"))


def test_a_used_up_frame_source_says_so_instead_of_counting_corrupt_frames():
    from ferlite.core.errors import DataError
    from ferlite.core.paths import find_shared
    from ferlite.runtime import FrameSource

    source = FrameSource(find_shared("media/faces_multi_event_ccby_640x480.mp4"))
    frames = sum(1 for _ in source)
    assert frames > 0 and source.skipped == 0
    with pytest.raises(DataError, match="read to its end"):
        next(iter(source))
    assert source.skipped == 0


def test_loading_a_model_writes_nothing_under_home(tmp_path):
    """ONNX Runtime's telemetry would write a device id and an event queue under ~/.cache; ferlite turns it off."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
    env["HOME"] = str(tmp_path)
    code = "from ferlite.runtime import Recognizer; Recognizer(threads=1)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_missing_execution_provider_is_one_error_listing_the_available_ones(capsys):
    from ferlite.cli import main
    from ferlite.runtime.recognizer import providers_for

    assert providers_for("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(CheckpointError, match=r"CUDAExecutionProvider is not available here \(available: .*CPUExecutionProvider"):
        Recognizer(device="cuda")
    assert main(["predict", "tests/fixtures/astronaut_nasa_512.png", "--device", "cuda"]) == 2
    assert "onnxruntime-gpu" in capsys.readouterr().err


def test_the_default_model_is_standard_ops_that_opencv_dnn_also_runs():
    """ARM and other platforms: the int8 file is standard ONNX ops (QuantizeLinear, DequantizeLinear, Conv, Add,
    GlobalAveragePool, Flatten, Gemm), and OpenCV's DNN module, which has wheels wherever OpenCV does, gives the same
    top label on real faces."""
    import cv2
    import numpy as np

    from ferlite.data import load_dataset
    from ferlite.runtime import preprocess_faces

    path = asset_path("emotion_default.int8.onnx")
    clf = EmotionClassifier(path)
    faces = load_dataset("rafdb", "val").sample(256, seed=0)
    batch = preprocess_faces(list(faces.images), clf.spec)
    net = cv2.dnn.readNetFromONNX(str(path))
    cv_logits = []
    for i in range(len(batch)):
        net.setInput(batch[i : i + 1])
        cv_logits.append(net.forward("logits")[0])
    agree = (np.array(cv_logits).argmax(1) == clf.predict_logits(batch, calibrated=False).argmax(1)).mean()
    assert agree >= 0.97, agree


def test_faces_from_supervision_style_detections():
    """from_detections reads any object shaped like supervision's Detections (supervision itself is optional)."""
    from types import SimpleNamespace

    import numpy as np

    from ferlite.runtime import Faces

    det = SimpleNamespace(
        xyxy=np.array([[1, 2, 30, 40]], np.float32),
        confidence=np.array([0.9], np.float32),
        tracker_id=np.array([4]),
        data={"scores": np.array([[0.2, 0.8]], np.float32)},
    )
    faces = Faces.from_detections(det, labels=("sad", "happy"))
    assert faces.label == ["happy"] and faces.tracker_id.tolist() == [4] and faces.xyxy.tolist() == [[1, 2, 30, 40]]


@pytest.mark.slow
def test_bundled_models_give_the_recorded_outputs_on_fixed_real_faces():
    """The restructure (ModelSpec in place of ModelCfg and Preprocessing) changes no bundled model's output."""
    from ferlite.data import load_dataset

    recorded = np.load(Path(__file__).parent / "fixtures" / "bundled_outputs.npz")
    faces = load_dataset("fer2013", "val").images[:24]
    eyes = load_dataset("cew", "val").images[:24]
    for name in ("emotion_default", "emotion_accurate", "emotion_fer2013", "eye_state"):
        clf = EmotionClassifier(asset_path(f"{name}.int8.onnx"), threads=1)
        got = clf.predict(list(eyes if name == "eye_state" else faces))
        np.testing.assert_allclose(got, recorded[name], atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_opencv_backend_reads_the_files_outline_and_agrees_with_onnx_runtime():
    """Where onnxruntime has no wheel: OpenCV's DNN module runs the bundled models, with the same metadata (read by
    ferlite's own protobuf reader), the same top label and nearly the same embedding."""
    from ferlite.data import load_dataset
    from ferlite.runtime import preprocess_faces
    from ferlite.runtime.opencv_backend import read_onnx_outline

    faces = list(load_dataset("rafdb", "val").sample(128, seed=0).images)
    for name in ("emotion_default", "emotion_accurate", "emotion_fer2013", "eye_state"):  # accurate: an ensemble graph
        path = asset_path(f"{name}.int8.onnx")
        ort, cv = EmotionClassifier(path, threads=1, tta="none"), EmotionClassifier(path, threads=1, tta="none", backend="opencv")
        assert read_onnx_outline(path).metadata == dict(ort.session.get_modelmeta().custom_metadata_map), name
        assert cv.spec == ort.spec and cv.embedding_width == ort.embedding_width, name
        x = preprocess_faces(faces, ort.spec)
        (a, ea), (b, eb) = ort.logits_and_embeddings(x), cv.logits_and_embeddings(x)
        assert (a.argmax(1) == b.argmax(1)).mean() >= 0.97, name
        if ea is not None:
            cosine = (ea * eb).sum(1) / (np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1) + 1e-9)
            assert cosine.min() > 0.98, name
    with pytest.raises(UsageError, match="unknown backend 'tensorrt'"):
        EmotionClassifier(asset_path("emotion_default.int8.onnx"), backend="tensorrt")


def test_without_onnxruntime_the_runtime_falls_back_to_opencv():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"  # as on a platform without its wheel
        "from ferlite import Recognizer\n"
        "rec = Recognizer(threads=1)\n"
        "print(rec.classifier.backend, rec.predict('tests/fixtures/astronaut_nasa_512.png').label)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["opencv", "['happy']"], out.stdout


def test_the_opencv_backend_leaves_opencvs_process_wide_threads_alone():
    """`--threads 1 --backend opencv` set OpenCV's whole pool to one thread, which slowed YuNet as well."""
    import cv2

    from ferlite.runtime import EmotionClassifier, default_model_path

    before = cv2.getNumThreads()
    EmotionClassifier(default_model_path(), threads=1, backend="opencv")
    assert cv2.getNumThreads() == before
