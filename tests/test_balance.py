import numpy as np

from ferlite.data import FaceDataset, apply_balance, balance_classes


def test_minorities_are_augmented_up_to_target():
    labels = np.array([0] * 50 + [1] * 5 + [2] * 20)
    plan = balance_classes(labels, ("a", "b", "c"), target=30)
    assert plan.before == {"a": 50, "b": 5, "c": 20}
    assert plan.after == {"a": 50, "b": 30, "c": 30}
    assert set(np.unique(plan.index[labels[plan.index] == 1])) == set(range(50, 55))


def test_cap_subsamples_majorities_without_repeats():
    labels = np.array([0] * 50 + [1] * 5)
    plan = balance_classes(labels, ("a", "b"), target=10, cap=True)
    assert plan.after == {"a": 10, "b": 10}
    a_items = plan.index[labels[plan.index] == 0]
    assert len(set(a_items)) == 10


def test_small_classes_are_dropped_and_relabelled():
    labels = np.array([0] * 40 + [1] * 3 + [2] * 40)
    ds = FaceDataset(np.zeros((83, 4, 4), np.uint8), labels, ("happy", "contempt", "sad"))
    plan = balance_classes(labels, ds.classes, target=None, min_count=10)
    assert plan.dropped == ("contempt",)
    out = apply_balance(ds, plan)
    assert out.classes == ("happy", "sad")
    assert out.counts() == {"happy": 40, "sad": 40}
    assert "dropped" in plan.table()


def test_target_none_keeps_counts():
    labels = np.array([0, 0, 1])
    plan = balance_classes(labels, ("a", "b"), target=None)
    assert sorted(plan.index.tolist()) == [0, 1, 2]
