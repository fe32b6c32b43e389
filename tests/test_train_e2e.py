"""End to end: train for seconds, then evaluate through the CLI; resume; bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_training

from ferlite.cli import main as cli_main
from ferlite.commands import train
from ferlite.data import load_dataset
from ferlite.evaluation.evaluate import evaluate_model, predict_logits
from ferlite.models.checkpoint import model_from_checkpoint

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def _train_args(out, data, *extra):
    return train.get_args_parser().parse_args(
        [
            "--dataset",
            "folder",
            "--data-path",
            str(data),
            "--model",
            "cnn_small",
            "--input-size",
            "48",
            "--per-class",
            "0",
            "--batch-size",
            "32",
            "--lr",
            "2e-3",
            "--workers",
            "0",
            "--no-progress",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_cnn_learns_synthetic_faces_well_above_chance(tmp_path, synthetic_faces):
    summary = run_training(_train_args(tmp_path / "run", synthetic_faces, "--epochs", "12"))
    model, cfg, _ = model_from_checkpoint(summary["best_path"])
    test = load_dataset("folder", "test", synthetic_faces, classes=cfg.labels)
    m = evaluate_model(model, test, cfg)
    assert m["accuracy"] > 0.8, m["accuracy"]  # chance is 0.25
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(12))
    assert all(r["images_per_s"] > 0 for r in log)


def test_resume_continues_without_losing_epochs(tmp_path, synthetic_faces):
    out = tmp_path / "run"
    run_training(_train_args(out, synthetic_faces, "--epochs", "2"))
    first = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    summary = run_training(_train_args(out, synthetic_faces, "--epochs", "4", "--resume"))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2, 3]
    assert log[:2] == first  # the finished epochs are kept as they were
    assert summary["train_seconds"] >= log[1]["train_seconds"]


@pytest.mark.parametrize("mode", [["--mode", "head"], ["--mode", "top", "--top-blocks", "3", "--amp"]], ids=["head", "top-bf16"])
def test_mobilenet_learns_real_fer2013_above_chance(tmp_path, mode):
    """Real data: an ImageNet MobileNetV2, its head or its top blocks trained (under bfloat16 autocast on the CPU), 300 faces per class."""
    args = train.get_args_parser().parse_args(
        [
            *mode,
            "--classes",
            "happy,surprise",
            "--per-class",
            "300",
            "--cap",
            "--input-size",
            "64",
            "--epochs",
            "2",
            "--lr",
            "3e-3",
            "--workers",
            "0",
            "--no-progress",
            "--out",
            str(tmp_path / "fer"),
        ]
    )
    summary = run_training(args)
    assert summary["best"]["val_accuracy"] > 0.7  # chance is 0.5 on balanced classes; PublicTest is 68% happy


def test_cli_evaluate_writes_reports(tmp_path, synthetic_faces, capsys):
    summary = run_training(_train_args(tmp_path / "run", synthetic_faces, "--epochs", "2"))
    rc = cli_main(
        [
            "evaluate",
            summary["best_path"],
            "--dataset",
            "folder",
            "--data-path",
            str(synthetic_faces),
            "--split",
            "test",
            "--out",
            str(tmp_path / "ev"),
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["n"] == 48 and set(report["per_class"]) == {"angry", "happy", "sad", "surprise"}
    assert (tmp_path / "ev" / "confusion.png").stat().st_size > 1000
    assert "macro avg" in capsys.readouterr().out


def test_cli_evaluate_scores_a_model_on_a_subset_of_its_classes(tmp_path, synthetic_faces):
    """A 4-class model on the 2-class task: those faces only, the prediction being the better of the two."""
    summary = run_training(_train_args(tmp_path / "run", synthetic_faces, "--epochs", "2"))
    model, cfg, _ = model_from_checkpoint(summary["best_path"])
    pair = load_dataset("folder", "test", synthetic_faces, classes=("sad", "happy"))
    logits = predict_logits(model, pair, cfg)
    sad, happy = cfg.labels.index("sad"), cfg.labels.index("happy")
    expected = (np.where(logits[:, sad] >= logits[:, happy], 0, 1) == pair.labels).mean()
    rc = cli_main(
        [
            "evaluate",
            summary["best_path"],
            "--dataset",
            "folder",
            "--data-path",
            str(synthetic_faces),
            "--split",
            "test",
            "--classes",
            "sad,happy",
            "--out",
            str(tmp_path / "ev"),
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["n"] == len(pair) == 24 and list(report["per_class"]) == ["sad", "happy"]
    assert report["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["evaluate", "nope.pth"], "nope.pth: checkpoint not found"),
        (["train", "--dataset", "folder", "--data-path", "/no/such/dir"], "/no/such/dir: not a folder"),
        (["train", "--dataset", "fer2013", "--data-path", "/no/such.csv"], "/no/such.csv: file not found"),
        (["train", "--classes", "boredom"], "unknown emotion"),
        (["evaluate", "src/ferlite/assets/emotion_default.int8.onnx", "--classes", "happy,boredom"], "unknown emotion"),
    ],
)
def test_cli_bad_input_is_one_clear_line(argv, message):
    proc = subprocess.run([sys.executable, "-m", "ferlite", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_help_explains_each_subcommand():
    for cmd in ("train", "evaluate", "study"):
        proc = subprocess.run([sys.executable, "-m", "ferlite", cmd, "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "usage: ferlite " + cmd in proc.stdout


def test_a_resumed_run_repeats_an_uninterrupted_one_bit_for_bit(tmp_path, synthetic_faces):
    """Every random stream (shuffle, augmentation in the workers, mixing, dropout) restarts from the epoch's seed."""
    import torch

    extra = ("--workers", "1", "--mixup", "0.2", "--mix-prob", "0.5")
    whole = run_training(_train_args(tmp_path / "whole", synthetic_faces, "--epochs", "3", *extra))
    run_training(_train_args(tmp_path / "split", synthetic_faces, "--epochs", "3", "--stop-after", "2", *extra))
    log = tmp_path / "split" / "log.jsonl"
    log.write_text(log.read_text() + '{"epoch": 2, "train_lo')  # a line half-written when the run was killed
    (tmp_path / "split" / "best.pth").unlink()  # and the best checkpoint lost
    split = run_training(_train_args(tmp_path / "split", synthetic_faces, "--epochs", "3", "--resume", *extra))
    a = torch.load(tmp_path / "whole" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "last.pth", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [0, 1, 2]
    assert Path(split["best_path"]).is_file() and whole["best"]["score"] >= split["best"]["score"] - 1e-9
