import json
from pathlib import Path

import pytest

from ferlite.commands import study as study_command
from ferlite.core.errors import UsageError
from ferlite.training import study

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def test_study_runs_every_configuration_and_writes_the_report(tmp_path, synthetic_faces):
    report = tmp_path / "RESULTS.md"
    args = study_command.get_args_parser().parse_args(
        [
            "--dataset",
            "folder",
            "--data-path",
            str(synthetic_faces),
            "--classes",
            "angry,happy,sad,surprise",
            "--input-size",
            "48",
            "--epochs",
            "1",
            "--per-class",
            "70",
            "--workers",
            "0",
            "--no-progress",
            "--out",
            str(tmp_path / "runs"),
            "--report",
            str(report),
        ]
    )
    results = study.run_study(study_command.study_config(args))
    for name in study.CONFIGS:
        r = results[name]
        assert 0 <= r["accuracy"] <= 1 and r["train_seconds"] > 0 and r["latency_ms"] > 0
        assert r["parameters"] >= r["trainable_parameters"] > 0
    assert (
        results["mobilenetv2_head"]["trainable_parameters"]
        < results["mobilenetv2_top"]["trainable_parameters"]
        < results["mobilenetv2_full"]["parameters"]
    )
    long_opts = results["mobilenetv2_full_long"]["train_options"]
    assert (long_opts["mixup"], long_opts["cutmix"], long_opts["ema"], long_opts["epochs"]) == (0.2, 1.0, 0.999, 1)
    assert json.loads((tmp_path / "runs" / "results.json").read_text()).keys() >= set(study.CONFIGS)
    text = report.read_text()
    assert "custom CNN" in text and "51%" in text and "MobileNetV2 full fine-tuning" in text
    # Resuming a finished study trains nothing more and gives the same numbers.
    again = study.run_study(study_command.study_config(args))
    assert again["cnn_small"]["train_seconds"] == results["cnn_small"]["train_seconds"]
    assert "## The bar" in text and "not reached" in text  # synthetic, one epoch: far below 80%
    text = report.read_text()  # as the resumed run rewrote it (latency is measured again)
    report.unlink()
    note = tmp_path / "note.md"
    note.write_text("shared machine\n")
    vars(args).update(report_only=True, note=str(note))
    study.run_study(study_command.study_config(args))
    assert report.read_text().replace("\n\nshared machine", "").replace(f" --note {note}", "") == text
    vars(args).update(note=str(tmp_path / "missing.md"))
    with pytest.raises(UsageError, match="missing.md"):
        study.run_study(study_command.study_config(args))


def test_repository_results_hold_their_note():
    """docs/RESULTS.md is the study's report with docs/RESULTS_note.md in it, as its command line says."""
    docs = Path(__file__).parent.parent / "docs"
    results = (docs / "RESULTS.md").read_text()
    assert "--note docs/RESULTS_note.md" in results.split("```")[1]
    assert (docs / "RESULTS_note.md").read_text().strip() in results
