import pytest
import torch

from ferlite.checkpoint import CheckpointError, load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from ferlite.models import create_model


def test_round_trip_rebuilds_model_and_preprocessing(tmp_path):
    model = create_model("mobilenetv2_fer", num_classes=3, input_size=64, mode="top")
    model.pretrained_cfg.label_names = ("happy", "sad", "angry")
    path = tmp_path / "best.pth"
    (tmp_path / ".best.pth.killed1.tmp").write_bytes(b"")  # left by a run killed mid-write
    (tmp_path / ".other.pth.x.tmp").write_bytes(b"")  # another file's write in progress: not touched
    save_checkpoint(path, make_checkpoint(model, "mobilenetv2_fer", {"mode": "top", "input_size": 64}, epoch=3))
    # the atomic write leaves no temporary file and clears the stale one
    assert [p.name for p in tmp_path.glob(".*tmp")] == [".other.pth.x.tmp"]
    torch.load(path, weights_only=True)  # loads without unpickling arbitrary objects
    rebuilt, cfg, state = model_from_checkpoint(path)
    assert cfg.label_names == ("happy", "sad", "angry") and cfg.input_size == 64 and state["epoch"] == 3
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
