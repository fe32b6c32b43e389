"""MixUp and CutMix: what each face keeps of itself is what its target says, and training with them still learns."""

import pytest
import torch
from conftest import run_training, train_run

from ferlite.commands import train
from ferlite.core.errors import UsageError
from ferlite.data.mixing import MixupCutmix


def _batch(n=16, size=32):
    # Face i is filled with the value i and is its own class, so a mixed face's mean pixel value
    # must equal its target's expected class index.
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()
    return x, torch.arange(n)


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixed_pixels_match_mixed_targets(kind):
    x, y = _batch()
    mixer = MixupCutmix(16, **{f"{kind}_alpha": 1.0}, seed=3)
    for _ in range(20):
        mx, my = mixer(x, y)
        assert mx.shape == x.shape and my.shape == (16, 16)
        assert torch.allclose(my.sum(1), torch.ones(16))
        expected = my @ torch.arange(16, dtype=torch.float32)
        assert torch.allclose(mx.mean((1, 2, 3)), expected, atol=1e-4)
    assert not torch.equal(mx, x)  # something was mixed
    if kind == "cutmix":
        assert set(mx.unique().tolist()) <= set(range(16))  # patches are pasted, never blended


def test_off_or_unlucky_batches_pass_through_with_one_hot_targets():
    x, y = _batch()
    for mixer in (MixupCutmix(16), MixupCutmix(16, cutmix_alpha=1.0, prob=0.0)):
        mx, my = mixer(x, y)
        assert torch.equal(mx, x) and torch.equal(my, torch.eye(16))
    soft = torch.softmax(torch.randn(16, 16), 1)
    assert torch.equal(MixupCutmix(16)(x, soft)[1], soft)  # soft (FERPlus) targets are kept as they are


def test_reseeding_repeats_the_same_mixing():
    x, y = _batch()
    mixer = MixupCutmix(16, mixup_alpha=0.4, cutmix_alpha=1.0, prob=0.5)
    mixer.reseed(7)
    first = [mixer(x, y) for _ in range(5)]
    mixer.reseed(7)
    again = [mixer(x, y) for _ in range(5)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))


@pytest.mark.slow
def test_training_with_cutmix_and_mixup_still_learns(tmp_path, eyes_run):
    result = train_run(eyes_run, epochs=3, cutmix=1.0, mixup=0.2, mix_prob=0.5, out=str(tmp_path))
    assert result["best"]["val_accuracy"] > 0.8


def test_bad_mixing_options_are_refused_before_any_data_loads():
    with pytest.raises(UsageError, match="--mix-prob"):
        run_training(train.get_args_parser().parse_args(["--cutmix", "1", "--mix-prob", "1.5", "--input-size", "48"]))
