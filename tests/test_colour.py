"""Colour models (``color_mode = "rgb"``): the readers keep colour, training and the runtime feed the same RGB input,
and a colour model learns what a gray one cannot see."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import run_ferlite

from ferlite.core.errors import DataError
from ferlite.core.paths import find_shared
from ferlite.core.spec import ModelSpec
from ferlite.core.taxonomy import PRESETS
from ferlite.data import load_dataset, read_packed_jpeg_npz
from ferlite.data.loader import make_loader
from ferlite.data.mixture import build_mixture, parse_mixture
from ferlite.data.transforms import ClassificationPresetEval, ClassificationPresetTrain
from ferlite.runtime import EmotionClassifier
from ferlite.runtime.align import align_crops
from ferlite.runtime.faces import Faces
from ferlite.runtime.model_io import preprocess_faces


def test_rafdb_keeps_its_colour_when_asked_and_the_gray_faces_are_its_luminance():
    path = find_shared("data/rafdb_basic.npz")
    gray, colour = read_packed_jpeg_npz(path, "test"), read_packed_jpeg_npz(path, "test", color=True)
    assert colour.images.shape == (*gray.images.shape, 3) and colour.ids == gray.ids
    assert np.array_equal(colour.labels, gray.labels)
    assert np.array_equal(cv2.cvtColor(colour.images[0], cv2.COLOR_BGR2GRAY), gray.images[0])
    assert np.abs(colour.images[:100, ..., 2].astype(int) - colour.images[:100, ..., 0]).mean() > 5  # real colour
    # AffectNet's file is gray: asking for colour changes nothing.
    affectnet = load_dataset("affectnet", "val", color=True)
    assert affectnet.images.ndim == 3 and len(affectnet) == 3508


def test_a_colour_mixture_holds_gray_and_colour_faces_and_both_presets_make_rgb_input():
    mixed = build_mixture(parse_mixture("ferplus:1,rafdb:1"), "val", PRESETS["ferplus8"], color=True)
    dims = {np.asarray(im).ndim for im in mixed.data.images}
    assert dims == {2, 3}  # FERPlus gray, RAF-DB colour
    spec = ModelSpec(input_size=64, color_mode="rgb", labels=PRESETS["ferplus8"])
    for preset in (ClassificationPresetEval(spec), ClassificationPresetTrain(spec, downscale_prob=0.3)):
        x, _ = next(iter(make_loader(mixed.data.subset(np.arange(len(mixed.data) - 32, len(mixed.data))), preset, 32, False, 0)))
        assert tuple(x.shape) == (32, 3, 64, 64)
        assert (x[:, 0] - x[:, 2]).abs().mean() > 0.05  # the RAF-DB faces' channels differ


def test_training_and_the_runtime_preprocess_a_colour_face_alike():
    face = read_packed_jpeg_npz(find_shared("data/rafdb_basic.npz"), "test", color=True).images[7]
    for mode in ("rgb", "gray2rgb"):
        spec = ModelSpec(input_size=112, color_mode=mode)
        runtime = preprocess_faces([face], spec)[0]
        assert np.abs(ClassificationPresetEval(spec)(face) - runtime).max() < 1e-5
    gray_input = preprocess_faces([face], ModelSpec(input_size=112))[0]
    rgb = preprocess_faces([face], ModelSpec(input_size=112, color_mode="rgb"))[0]
    # Unnormalised, a gray model's three channels are one picture; a colour model's red and blue differ.
    std, mean = np.array(ModelSpec().std)[:, None, None], np.array(ModelSpec().mean)[:, None, None]
    assert np.abs(np.diff(gray_input * std + mean, axis=0)).max() < 1e-5
    assert np.abs((rgb * std + mean)[0] - (rgb * std + mean)[2]).mean() > 0.05


def test_colour_crops_for_colour_models():
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[50:150, 50:150] = (255, 0, 0)  # a blue square where the face is
    faces = Faces(xyxy=np.array([[50, 50, 150, 150]], np.float32), confidence=np.ones(1, np.float32))
    (colour,) = align_crops(frame, faces, 64, margin=0.0, color=True)
    (gray,) = align_crops(frame, faces, 64, margin=0.0)
    assert colour.shape == (64, 64, 3) and tuple(colour[32, 32]) == (255, 0, 0)
    assert gray.shape == (64, 64) and gray[32, 32] == 29  # BGR2GRAY of pure blue


def _hue_only_faces(root, per_class: int = 60) -> None:
    """Two classes that differ only in hue at equal luminance: a gray model sees one class, a colour one two."""
    rng = np.random.default_rng(0)
    # Red up, green down (class "happy") or the reverse ("sad"), weighted so that 0.299 R + 0.587 G stays level.
    shift = np.array([0.0, -40 * 0.299 / 0.587, 40.0])  # B, G, R
    for name, sign in (("happy", 1), ("sad", -1)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            g = cv2.GaussianBlur(rng.integers(70, 180, (32, 32)).astype(np.float32), (5, 5), 0)
            img = np.clip(np.round(g[..., None] + sign * shift), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), img)


@pytest.mark.slow
def test_a_colour_model_learns_hue_that_a_gray_one_cannot_see_and_its_onnx_file_keeps_it(tmp_path):
    data = tmp_path / "hue"
    _hue_only_faces(data)
    common = ["--dataset", "folder", "--data-path", data, "--model", "cnn_small", "--input-size", 24, "--per-class", 0]
    common += ["--batch-size", 16, "--lr", "3e-3", "--epochs", 8, "--no-progress", "--workers", 0, "--no-augment"]
    common += ["--select-metric", "accuracy"]
    best = {}
    for mode in ("rgb", "gray2rgb"):
        result = run_ferlite("train", *common, "--color-mode", mode, "--out", tmp_path / mode)
        assert result.returncode == 0, result.stderr[-2000:]
        log = [json.loads(line) for line in (tmp_path / mode / "log.jsonl").read_text().splitlines()]
        best[mode] = max(r["val_accuracy"] for r in log)
    assert best["rgb"] > 0.9 and best["gray2rgb"] < 0.75, best
    export = run_ferlite(
        "export", tmp_path / "rgb" / "best.pth", "--dataset", "folder", "--data-path", data, "--out", tmp_path / "onnx"
    )
    assert export.returncode == 0, export.stderr[-2000:]
    clf = EmotionClassifier(tmp_path / "onnx" / "model.onnx")
    assert clf.spec.takes_colour
    test = load_dataset("folder", "test", data, classes=clf.labels, color=True)
    accuracy = (clf.predict_logits(preprocess_faces(list(test.images), clf.spec)).argmax(1) == test.labels).mean()
    assert accuracy > 0.9


def test_a_gray_teacher_sees_a_colour_students_faces_gray_and_a_colour_teacher_needs_a_colour_student(tmp_path):
    import torch

    from ferlite.models import create_model
    from ferlite.models.checkpoint import make_checkpoint, save_checkpoint
    from ferlite.training.config import TrainConfig
    from ferlite.training.trainer import build_distiller

    teacher = create_model("cnn_small", num_classes=2, input_size=24)
    teacher.spec = teacher.spec.with_labels(("happy", "sad"))
    save_checkpoint(tmp_path / "gray.pth", make_checkpoint(teacher, "cnn_small", {"input_size": 24}))
    spec = ModelSpec(input_size=24, mean=teacher.spec.mean, std=teacher.spec.std, labels=("happy", "sad"))
    colour_student = replace(spec, color_mode="rgb")
    distiller = build_distiller(TrainConfig(teacher=str(tmp_path / "gray.pth")), colour_student, "cpu")
    faces = load_dataset("rafdb", "test", color=True).images[:4]
    colour = torch.from_numpy(np.stack([ClassificationPresetEval(colour_student)(f) for f in faces]))
    gray = torch.from_numpy(np.stack([ClassificationPresetEval(spec)(f) for f in faces]))
    teacher.eval()
    with torch.no_grad():
        want = torch.log_softmax(teacher(gray) / distiller.temperature, 1)
    # The teacher's targets for the colour batch are those it gives the same faces made gray (up to uint8 rounding).
    got = distiller.teacher_log_probs(colour)
    with torch.no_grad():
        unconverted = torch.log_softmax(teacher(colour) / distiller.temperature, 1)
    assert (got - want).abs().max() < 0.1 * (unconverted - want).abs().max()
    teacher.spec = colour_student
    save_checkpoint(tmp_path / "colour.pth", make_checkpoint(teacher, "cnn_small", {"input_size": 24}))
    with pytest.raises(DataError, match="the teacher takes colour \\(rgb\\) faces, the student gray2rgb ones"):
        build_distiller(TrainConfig(teacher=str(tmp_path / "colour.pth")), spec, "cpu")


def test_a_model_built_from_a_colour_checkpoint_stays_colour_unless_told(tmp_path):
    """build_model (also the federated global model's) takes the colour mode from --color-mode, else from --init."""
    import torch

    from ferlite.models import create_model
    from ferlite.models.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
    from ferlite.training.config import TrainConfig
    from ferlite.training.trainer import build_model

    start = create_model("cnn_small", num_classes=2, input_size=24)
    start.spec = replace(start.spec.with_labels(("happy", "sad")), color_mode="rgb")
    save_checkpoint(tmp_path / "rgb.pth", make_checkpoint(start, "cnn_small", {"input_size": 24}))
    init = load_checkpoint(tmp_path / "rgb.pth")
    for told, want in ((None, "rgb"), ("gray2rgb", "gray2rgb")):
        config = TrainConfig(model="cnn_small", init=str(tmp_path / "rgb.pth"), pretrained="none", color_mode=told)
        model, _ = build_model(config, ("happy", "sad"), init, torch.device("cpu"))
        assert model.spec.color_mode == want
