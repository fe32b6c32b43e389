import numpy as np
import pytest

from ferlite.evaluation.metrics import classification_metrics, format_metrics, plot_confusion_matrix


def test_metrics_against_hand_computed_values():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert m["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["c"]["recall"] == pytest.approx(1.0)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["macro"]["f1"] == pytest.approx(np.mean([0.8, 0.5, 2 / 3]))
    weighted = (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6
    assert m["weighted"]["f1"] == pytest.approx(weighted)


def test_absent_class_counts_as_zero_not_error():
    m = classification_metrics([0, 0], [0, 0], ["a", "b"])
    assert m["per_class"]["b"]["f1"] == 0.0 and m["macro"]["f1"] == pytest.approx(0.5)


def test_report_text_and_png(tmp_path):
    m = classification_metrics([0, 1, 1], [0, 1, 0], ["happy", "sad"])
    text = format_metrics(m)
    assert "macro avg" in text and "happy" in text and "0.6667" in text
    plot_confusion_matrix(m, tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
