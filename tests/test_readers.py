import cv2
import numpy as np
import pytest

from ferlite.data import (
    DataError,
    FaceDataset,
    ferplus_targets,
    load_dataset,
    read_fer2013_csv,
    read_fer2013_npz,
    read_ferplus,
    read_image_folder,
)
from ferlite.data.readers import read_ferplus_votes_csv

pytestmark = pytest.mark.needs_shared

# Published FER2013 counts (angry, disgust, fear, happy, sad, surprise, neutral).
PUBLISHED = {
    "train": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "val": [467, 56, 496, 895, 653, 415, 607],
    "test": [491, 55, 528, 879, 594, 416, 626],
}


def _write_csv(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return path


def test_csv_reader_reads_rows_and_split(tmp_path):
    px = " ".join(["7"] * 2304)
    path = _write_csv(tmp_path / "f.csv", [f"3,{px},Training", f"0,{px},PrivateTest", f"6,{px},Training"])
    ds = read_fer2013_csv(path, split="train")
    assert len(ds) == 2 and ds.labels.tolist() == [3, 6]
    assert ds.images.shape == (2, 48, 48) and ds.images[0, 0, 0] == 7
    assert ds.classes[3] == "happy"


def test_csv_reader_skips_and_counts_corrupt_rows(tmp_path, caplog):
    good = " ".join(["1"] * 2304)
    rows = [f"3,{good},Training", "3,1 2 3,Training", f"9,{good},Training", f"x,{good},Training", "2", f"4,{good},Training"]
    path = _write_csv(tmp_path / "f.csv", rows)
    ds = read_fer2013_csv(path)
    assert len(ds) == 2 and ds.skipped == 4
    assert "line 3" in caplog.text and "3 pixels" in caplog.text


def test_csv_reader_strict_names_the_line(tmp_path):
    path = _write_csv(tmp_path / "f.csv", [f"3,{' '.join(['1'] * 2304)},Training", "3,1 2,Training"])
    with pytest.raises(DataError, match=r"f\.csv: line 3"):
        read_fer2013_csv(path, strict=True)


def test_csv_reader_rejects_foreign_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="not a FER2013 CSV"):
        read_fer2013_csv(p)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_npz_counts_match_published(fer2013_npz, split):
    ds = read_fer2013_npz(fer2013_npz, split=split)
    assert list(ds.counts().values()) == PUBLISHED[split]
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (48, 48)


def test_ferplus_majority_vote_and_drops():
    votes = np.array(
        [
            [1, 8, 1, 0, 0, 0, 0, 0, 0, 0],  # happiness
            [0, 0, 0, 0, 0, 0, 0, 0, 10, 0],  # unknown -> dropped
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face -> dropped
            [0, 0, 0, 0, 0, 0, 0, 6, 4, 0],  # contempt
        ]
    )
    labels, dist = ferplus_targets(votes)
    assert labels.tolist() == [1, -1, -1, 7]
    np.testing.assert_allclose(dist[0], [0.1, 0.8, 0.1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(dist[3].sum(), 1.0)


def test_ferplus_csv_is_row_aligned_with_npz(fer2013_npz, ferplus_csv):
    votes, usage = read_ferplus_votes_csv(ferplus_csv)
    with np.load(fer2013_npz) as z:
        np.testing.assert_array_equal(votes, z["ferplus_votes"])
        assert usage == z["usage"].tolist()


def test_ferplus_reader(fer2013_npz):
    ds = read_ferplus(fer2013_npz, split="test")
    assert ds.classes == ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt")
    assert 3000 < len(ds) < 3589  # unknown / not-a-face rows dropped
    np.testing.assert_allclose(ds.soft_labels.sum(1), 1.0, rtol=1e-5)
    assert (ds.soft_labels.argmax(1) == ds.labels).mean() > 0.99


def test_select_classes_relabels_in_given_order(fer2013_npz):
    ds = load_dataset("fer2013", "val", fer2013_npz, classes=("surprise", "angry"))
    assert ds.classes == ("surprise", "angry")
    assert ds.counts() == {"surprise": 415, "angry": 467}


def test_image_folder_maps_names_and_skips_corrupt(tmp_path, caplog):
    for name in ("happiness", "sad", "contempt"):
        (tmp_path / name).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / name / f"{i}.png"), np.full((224, 224), 100 + i, np.uint8))
    (tmp_path / "sad" / "broken.png").write_bytes(b"\x89PNG not really")
    ds = read_image_folder(tmp_path)
    assert ds.classes == ("happy", "sad", "contempt")
    assert len(ds) == 9 and ds.skipped == 1
    assert "broken.png" in caplog.text
    with pytest.raises(DataError, match="broken.png"):
        read_image_folder(tmp_path, strict=True)


def test_image_folder_rejects_non_emotion_folder(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(DataError, match="cats"):
        read_image_folder(tmp_path)


def test_folder_with_own_train_test_split(tmp_path):
    for split, n in (("train", 20), ("test", 5)):
        for name in ("angry", "happy"):
            d = tmp_path / split / name
            d.mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(d / f"{i}.png"), np.full((48, 48), i, np.uint8))
    test = load_dataset("folder", "test", tmp_path)
    train = load_dataset("folder", "train", tmp_path, val_fraction=0.25)
    val = load_dataset("folder", "val", tmp_path, val_fraction=0.25)
    assert len(test) == 10 and len(train) == 30 and len(val) == 10
    assert val.counts() == {"angry": 5, "happy": 5}  # stratified
    assert not set(train.ids) & set(val.ids)


def test_plain_folder_stratified_split_is_seeded_and_disjoint(synthetic_faces):
    parts = [load_dataset("folder", s, synthetic_faces, seed=1) for s in ("train", "val", "test")]
    ids = [set(p.ids) for p in parts]
    assert sum(len(p) for p in parts) == 320
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert load_dataset("folder", "val", synthetic_faces, seed=1).ids == parts[1].ids


def test_csv_and_npz_readers_agree_on_real_rows(tmp_path, fer2013_npz):
    """The original CSV form of real FER2013 rows reads back to the same faces and labels."""
    with np.load(fer2013_npz) as z:
        images, emotion, usage = z["images"][:40], z["emotion"][:40], z["usage"][:40]
    rows = [f"{e},{' '.join(map(str, im.ravel()))},{u}" for im, e, u in zip(images, emotion, usage)]
    ds = read_fer2013_csv(_write_csv(tmp_path / "fer2013.csv", rows))
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, emotion)
    train = load_dataset("fer2013", "train", tmp_path / "fer2013.csv")
    assert len(train) == int((usage == "Training").sum())


def test_sample_draws_distinct_items_in_order_reproducibly():
    ds = FaceDataset(
        np.arange(20, dtype=np.uint8).reshape(20, 1, 1).repeat(4, 1).repeat(4, 2), np.arange(20) % 2, ("happy", "sad")
    )
    a, b = ds.sample(8, seed=3), ds.sample(8, seed=3)
    rows = a.images[:, 0, 0].astype(int)
    assert len(a) == 8 and len(set(rows)) == 8 and list(rows) == sorted(rows)
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, ds.sample(8, seed=4).images)
    assert np.array_equal(a.labels, rows % 2)  # labels travel with their images
    assert len(ds.sample(100)) == 20  # asking for more than there is gives all


def test_csv_reader_survives_hostile_rows(tmp_path):
    """An unterminated quote, a 30-digit pixel and a 200 kB field are each one skipped row, never a traceback."""
    good = "3," + " ".join(["7"] * 2304) + ",Training"
    rows = [
        "emotion,pixels,Usage",
        good,
        '4,"' + " ".join(["1"] * 2304) + ",Training",  # the quote never closes
        good,
        "5," + " ".join(["9" * 30] * 2304) + ",Training",
        "6," + "1 " * 100_000 + ",Training",
        good,
    ]
    path = tmp_path / "hostile.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = read_fer2013_csv(path)
    assert len(ds) == 3 and ds.skipped == 3 and ds.ids == ["row 0", "row 2", "row 5"]
    with pytest.raises(DataError, match="line 3"):
        read_fer2013_csv(path, strict=True)
