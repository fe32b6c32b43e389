import pytest
import torch

from ferlite.models import create_model
from ferlite.models.checkpoint import CheckpointError, load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint


def test_round_trip_rebuilds_model_and_preprocessing(tmp_path):
    model = create_model("mobilenetv2_fer", num_classes=3, input_size=64, mode="top")
    model.spec = model.spec.with_labels(("happy", "sad", "angry"))
    path = tmp_path / "best.pth"
    (tmp_path / ".best.pth.killed1.tmp").write_bytes(b"")  # left by a run killed mid-write
    (tmp_path / ".other.pth.x.tmp").write_bytes(b"")  # another file's write in progress: not touched
    save_checkpoint(path, make_checkpoint(model, "mobilenetv2_fer", {"mode": "top", "input_size": 64}, epoch=3))
    # the atomic write leaves no temporary file and clears the stale one
    assert [p.name for p in tmp_path.glob(".*tmp")] == [".other.pth.x.tmp"]
    torch.load(path, weights_only=True)  # loads without unpickling arbitrary objects
    rebuilt, cfg, state = model_from_checkpoint(path)
    assert cfg.labels == ("happy", "sad", "angry") and cfg.input_size == 64 and state["epoch"] == 3
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), rebuilt(x))


def test_corrupt_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "bad.pth").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="bad.pth"):
        load_checkpoint(tmp_path / "bad.pth")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match="not a ferlite checkpoint"):
        load_checkpoint(tmp_path / "foreign.pth")


def test_a_checkpoint_written_before_the_model_spec_loads_and_resumes(tmp_path, tiny_run):
    """Format 1 (before ModelSpec) stored the spec as "cfg", with label_names and no arch: it loads, and a run whose
    last.pth is in that form resumes."""
    from conftest import train_run

    train_run(tiny_run)
    for name in ("last.pth", "best.pth"):
        state = torch.load(tmp_path / "run" / name, weights_only=True)
        spec = state.pop("spec")
        spec["label_names"] = spec.pop("labels")
        del spec["arch"], spec["tta"]
        state.update(cfg=spec, format_version=1)
        torch.save(state, tmp_path / "run" / name)
    model, spec, _ = model_from_checkpoint(tmp_path / "run" / "best.pth")
    assert spec.labels == ("angry", "happy", "sad", "surprise") and spec.arch == "cnn_small"
    result = train_run(tiny_run, epochs=2, resume=True)
    assert result["best"]["epoch"] in (0, 1) and load_checkpoint(tmp_path / "run" / "last.pth")["epoch"] == 1
