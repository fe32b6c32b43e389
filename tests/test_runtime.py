"""The runtime on real inputs: detectors on a real photo, tracking, bad images, no torch."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_ferlite as _ferlite

from ferlite.core.errors import CheckpointError, DataError
from ferlite.core.paths import find_shared
from ferlite.runtime import (
    Faces,
    FaceTracker,
    FrameSource,
    HaarDetector,
    LabelTally,
    Recognizer,
    SSDDetector,
    YuNetDetector,
    default_model_path,
    read_image,
)
from ferlite.runtime.tracker import box_iou

pytestmark = pytest.mark.needs_shared

FIXTURES = Path(__file__).parent / "fixtures"
ASTRONAUT_FACE = np.array([177, 66, 177 + 95, 66 + 95], np.float32)  # Haar's box, README of shared/media


@pytest.fixture(scope="module")
def astronaut():
    return cv2.imread(str(FIXTURES / "astronaut_nasa_512.png"))


@pytest.mark.parametrize(
    "make",
    [
        YuNetDetector,
        HaarDetector,
        lambda: SSDDetector(
            find_shared("weights/opencv_face_detector_uint8.pb"), find_shared("weights/opencv_face_detector.pbtxt")
        ),
    ],
)
def test_detectors_find_the_one_real_face(astronaut, make):
    faces = make().detect(astronaut)
    assert len(faces) == 1
    assert box_iou(faces.xyxy, ASTRONAUT_FACE[None])[0, 0] > 0.4


def test_yunet_landmarks_are_eyes_nose_mouth_in_order(astronaut):
    f = YuNetDetector().detect(astronaut)
    (x1, y1, x2, y2), lm = f.xyxy[0], f.landmarks[0]
    assert ((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2)).all()
    assert lm[0, 0] < lm[1, 0]  # right eye is on the image's left
    assert lm[2, 1] > lm[:2, 1].max() and lm[3:, 1].min() > lm[2, 1]  # nose below eyes, mouth below nose


def test_recognizer_reads_smile_on_real_photo(astronaut):
    faces = Recognizer(threads=1).predict(astronaut)
    assert len(faces) == 1 and faces.label == ["happy"]
    np.testing.assert_allclose(faces.scores.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY),
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA),
        lambda im: im.astype(np.uint16) * 257,
    ],
)
def test_gray_alpha_and_16bit_images_work(tmp_path, astronaut, convert):
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), convert(astronaut))
    faces = Recognizer(threads=1).predict(read_image(path))
    assert len(faces) == 1 and faces.label == ["happy"]


def test_huge_image_is_shrunk_not_refused(tmp_path, astronaut):
    path = tmp_path / "huge.png"
    cv2.imwrite(str(path), cv2.resize(astronaut, (6000, 6000), interpolation=cv2.INTER_NEAREST))
    image = read_image(path)
    assert max(image.shape[:2]) == 4096
    assert len(Recognizer(threads=1).predict(image)) == 1


def test_no_face_gives_empty_result():
    faces = Recognizer(threads=1).predict(np.full((240, 320, 3), 128, np.uint8))
    assert len(faces) == 0 and faces.to_dicts() == []


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50])
def test_unreadable_images_are_named(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match="bad.png"):
        read_image(path)


def test_missing_and_foreign_model_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Recognizer(tmp_path / "none.onnx")
    with pytest.raises(CheckpointError, match="not a ferlite emotion model"):
        Recognizer(find_shared("weights/face_detection_yunet_2026may.onnx"))
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(CheckpointError, match="broken.onnx"):
        Recognizer(tmp_path / "broken.onnx")
    for backend in ("onnxruntime", "opencv"):  # as a detector: a broken file, and an ONNX model that is not YuNet
        with pytest.raises(CheckpointError, match="broken.onnx: not a YuNet ONNX model"):
            YuNetDetector(tmp_path / "broken.onnx", backend=backend)
        with pytest.raises(CheckpointError, match="not a YuNet ONNX model"):
            YuNetDetector(default_model_path(), backend=backend)


def test_faces_value_object_validates_and_indexes():
    f = Faces(np.array([[0, 0, 10, 10], [5, 5, 50, 50]]), np.array([0.9, 0.4]))
    assert len(f[f.confidence > 0.5]) == 1 and len(Faces.empty()) == 0
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Faces(np.zeros((2, 4)), np.zeros(3))


def test_tracker_keeps_ids_through_motion_and_short_gaps():
    tracker = FaceTracker(lost_track_buffer=3)
    a, b = np.array([10, 10, 60, 60], np.float32), np.array([200, 50, 260, 110], np.float32)
    ids = []
    for t in range(10):
        boxes = [a + 3 * t, b - 2 * t]
        if t in (4, 5):  # face b missed for two frames
            boxes = boxes[:1]
        out = tracker.update(Faces(np.array(boxes), np.ones(len(boxes))))
        ids.append(out.tracker_id.tolist())
    assert all(i[0] == 1 for i in ids)
    assert [i[1] for i in ids if len(i) == 2] == [2] * 8
    new = tracker.update(Faces(np.array([[400, 400, 450, 450]]), np.ones(1)))
    assert new.tracker_id.tolist() == [3]


def test_smoother_averages_each_track_by_its_id_and_forgets_lost_tracks():
    from ferlite.runtime import ScoreSmoother

    tracker, smoother = FaceTracker(), ScoreSmoother(0.5, forget_after=2)
    box = np.array([[0, 0, 50, 50]], np.float32)
    first = tracker.update(Faces(box, np.ones(1), scores=np.array([[1.0, 0.0]]), labels=("a", "b")))
    np.testing.assert_allclose(first.scores, [[1.0, 0.0]])  # the tracker leaves scores alone
    smoother.update(first)
    out = smoother.update(tracker.update(Faces(box, np.ones(1), scores=np.array([[0.0, 1.0]]), labels=("a", "b"))))
    np.testing.assert_allclose(out.scores, [[0.5, 0.5]])
    other = Faces(box, np.ones(1), scores=np.array([[0.0, 1.0]]), tracker_id=[9], labels=("a", "b"))
    np.testing.assert_allclose(smoother.update(other).scores, [[0.0, 1.0]])  # another ID: its own average
    for _ in range(3):
        smoother.update(Faces.empty())
    again = Faces(box, np.ones(1), scores=np.array([[1.0, 0.0]]), tracker_id=[1], labels=("a", "b"))
    np.testing.assert_allclose(smoother.update(again).scores, [[1.0, 0.0]])  # forgotten after 2 absent updates


def test_streams_of_one_recognizer_keep_their_own_tracks():
    from ferlite.runtime import Recognizer

    rec = Recognizer(threads=1)
    frame = cv2.imread(str(FIXTURES / "astronaut_nasa_512.png"))
    a, b = rec.new_stream(), rec.new_stream()
    for _ in range(3):
        a.update(frame)
    assert a.update(frame).tracker_id.tolist() == [1] and b.update(frame).tracker_id.tolist() == [1]
    assert a.tracker is not b.tracker and a.recognizer.classifier is b.recognizer.classifier


def test_a_stream_run_ahead_gives_what_update_gives_frame_by_frame():
    """FaceStream.run locates frame t+1 on a worker while frame t is classified: the boxes, IDs and smoothed scores
    must be those of update, frame for frame, on the hikers clip (several faces, region detection, tracks that end)."""
    from itertools import islice

    from ferlite.runtime import FrameSource, Recognizer, process_video

    video = find_shared("media/faces_multi_hikers_ccby_640x480.mp4")
    rec = Recognizer(threads=1)
    stream = rec.new_stream()
    expected = [stream.update(frame) for _, frame in islice(FrameSource(video), 150)]
    stream.reset()
    ran = list(stream.run(islice(FrameSource(video), 150)))
    assert [i for i, _, _ in ran] == list(range(150)) and sum(len(f) for f in expected) > 300
    for want, (_, _, got) in zip(expected, ran, strict=True):
        np.testing.assert_array_equal(got.xyxy, want.xyxy)
        np.testing.assert_array_equal(got.tracker_id, want.tracker_id)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    stream.reset()
    seen = []
    count = process_video(video, lambda frame, i, faces: seen.append((i, faces)), max_frames=40, progress=False, pipeline=stream)
    assert count == 40 and [i for i, _ in seen] == list(range(40))
    assert all(np.array_equal(f.tracker_id, w.tracker_id) for (_, f), w in zip(seen, expected))


def test_label_tally_counts_shares_and_runs_of_seconds():
    tally = LabelTally()
    box = np.zeros((2, 4), np.float32)
    # Two faces a frame; second 3 has no face at all, so the sad run before it and after it are two runs.
    frames = [(0.1, "aa"), (0.6, "ab"), (1.2, "aa"), (2.5, "bb"), (4.0, "aa"), (4.5, "aa")]
    for t, pair in frames:
        scores = np.array([[1.0, 0.0] if c == "a" else [0.0, 1.0] for c in pair], np.float32)
        tally.update(t, Faces(box, np.ones(2), scores=scores, labels=("sad", "happy")))
    tally.update(5.0, Faces.empty())  # no faces: nothing counted, no second added
    assert tally.total == 12 and tally.shares() == {"sad": 9 / 12, "happy": 3 / 12}
    assert tally.timeline() == [(0, 1, "sad"), (2, 2, "happy"), (4, 4, "sad")]
    assert tally.shares_text() == "sad 75%, happy 25%" and tally.timeline_text() == "sad 0-1 s, happy 2 s, sad 4 s"


def test_track_ids_stable_on_real_multi_face_video():
    rec = Recognizer(threads=1)
    video = find_shared("media/faces_multi_event_ccby_640x480.mp4")
    first_ids, largest_ids = None, []
    for _i, _frame, faces in rec.stream(video):
        if len(faces) == 0:
            continue
        areas = np.prod(faces.xyxy[:, 2:] - faces.xyxy[:, :2], axis=1)
        largest_ids.append(int(faces.tracker_id[areas.argmax()]))  # the large woman on the left
        first_ids = first_ids or set(faces.tracker_id.tolist())
    assert len(largest_ids) >= 80
    assert max(largest_ids.count(x) for x in set(largest_ids)) / len(largest_ids) > 0.95


def test_truncated_video_is_read_to_where_it_breaks(tmp_path):
    video = find_shared("media/face1_emotions_pexels_640x480.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    try:
        source = FrameSource(cut)
    except DataError:
        return  # the container's index is at the end: refused with a clear message, also fine
    frames = sum(1 for _ in source)
    assert 0 < frames < 472


def test_empty_and_missing_videos_are_clear_errors(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        FrameSource(tmp_path / "empty.mp4")
    with pytest.raises(DataError, match="no such video"):
        FrameSource(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 1000)
    with pytest.raises(DataError, match="junk.mp4"):
        FrameSource(tmp_path / "junk.mp4")


def test_runtime_never_imports_torch():
    code = (
        "import sys, cv2, ferlite.runtime, ferlite.commands.predict, ferlite.commands.watch, ferlite.apps.watch, ferlite.commands.bench; "
        "from ferlite.runtime import Recognizer; Recognizer(threads=1).predict(cv2.imread(sys.argv[1])); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(FIXTURES / "astronaut_nasa_512.png")], check=True, timeout=120)


def test_corrupt_frames_mid_video_are_skipped_and_counted(tmp_path):
    video = find_shared("media/face1_emotions_pexels_640x480.mp4")
    data = bytearray(video.read_bytes())
    rng = np.random.default_rng(0)
    for start in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        data[start : start + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    source = FrameSource(path)
    read = sum(1 for _ in source)
    assert source.skipped > 0 and read + source.skipped == 472  # every frame read or counted, none lost silently


def test_read_ahead_gives_the_same_frames_and_stops_when_the_reader_does():
    """A file's frames are decoded ahead on a thread: the same frames in the same order as reading in step (both on one
    FFmpeg thread at 640x480); a reader that stops early leaves no decoding thread and no open capture behind."""
    video = find_shared("media/face1_emotions_pexels_640x480.mp4")
    ahead, in_step = FrameSource(video), FrameSource(video, read_ahead=False)
    assert ahead.read_ahead > 0 and in_step.read_ahead == 0
    assert ahead._cap.get(cv2.CAP_PROP_N_THREADS) == 1 and in_step._cap.get(cv2.CAP_PROP_N_THREADS) == 1
    pairs = list(zip(ahead, in_step))
    assert len(pairs) == 472 and all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in pairs)
    early = FrameSource(video)
    for index, _frame in early:
        if index == 5:
            break
    assert early._decoder is not None and not early._decoder.is_alive() and not early._cap.isOpened()
    with pytest.raises(DataError, match="read to its end"):
        iter(early)


def test_regions_are_shrunk_without_aliasing_and_detected_on_a_small_canvas():
    """shrink_by_halves stays within a few grey levels of OpenCV's INTER_AREA, and a region is detected on its own
    shape rounded up to YuNet's stride, not a padded square: a 640x480 frame at 128 px runs on a 128x96 network."""
    from ferlite.runtime.detector import shrink_by_halves

    frame = next(iter(FrameSource(find_shared("media/face1_emotions_pexels_640x480.mp4"))))[1]
    area = cv2.resize(frame, (128, 96), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(shrink_by_halves(frame, (128, 96)).astype(np.float32) - area).mean() < 2.0
    for backend in ("opencv", "onnxruntime"):
        detector = YuNetDetector(backend=backend)
        faces = detector.detect(frame, max_side=128, pad_to_grid=True)
        engine = detector._onnxruntime
        shapes = set(detector._nets) if engine is None else {(w, h) for h, w in engine._cells}  # (width, height)
        assert len(faces) == 1 and (128, 96) in shapes and (128, 128) not in shapes, backend
        whole = detector.detect(frame)
        assert box_iou(faces.xyxy, whole.xyxy)[0, 0] > 0.8  # boxes back in the frame's pixels


def test_yunet_on_onnxruntime_finds_what_opencv_finds():
    """YuNet's output decoded by ferlite on ONNX Runtime against OpenCV's FaceDetectorYN, on frames of the crowded
    hikers clip, whole frame and regions: the same faces, boxes and landmarks within a thousandth of a pixel (OpenCV
    keeps an overlapping second box for a face now and then, which its NMS threshold should have merged)."""
    from itertools import islice

    engines = [YuNetDetector(score_threshold=0.4, backend=b) for b in ("opencv", "onnxruntime")]
    video = find_shared("media/faces_multi_hikers_ccby_640x480.mp4")
    same = checks = faces = 0
    for _, frame in islice(FrameSource(video), 0, 300, 10):
        for side, pad in ((320, False), (128, True), (640, False)):
            a, b = (e.detect(frame, max_side=side, pad_to_grid=pad) for e in engines)
            checks += 1
            if len(a) == len(b):
                same += 1
                faces += len(a)
                if len(a) == 0:
                    continue
                np.testing.assert_allclose(b.xyxy, a.xyxy, atol=1e-3)
                np.testing.assert_allclose(b.landmarks, a.landmarks, atol=1e-3)
                np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-4)
    assert same >= 0.95 * checks and faces > 200, (same, checks, faces)


def test_shift_flip_views_are_the_face_shifted_four_ways_and_mirrored():
    from ferlite.runtime import tta_views

    x = np.random.default_rng(0).standard_normal((2, 3, 50, 50)).astype(np.float32)
    assert [v.shape for v in tta_views(x, "none")] == [x.shape]
    views = tta_views(x, "shift-flip")
    d = 2  # 4% of 50 px
    assert len(views) == 10 and all(v.shape == x.shape and v.flags.c_contiguous for v in views)
    np.testing.assert_array_equal(views[0], x)
    down, up, right, left = views[1:5]  # the content moves away from the padded side
    np.testing.assert_array_equal(down[..., d:, :], x[..., :-d, :])
    np.testing.assert_array_equal(down[..., :d, :], np.repeat(x[..., :1, :], d, axis=2))  # edge rows repeated
    np.testing.assert_array_equal(up[..., :-d, :], x[..., d:, :])
    np.testing.assert_array_equal(right[..., d:], x[..., :-d])
    np.testing.assert_array_equal(left[..., :-d], x[..., d:])
    for plain, mirrored in zip(views[:5], views[5:]):
        np.testing.assert_array_equal(mirrored, plain[..., ::-1])
    with pytest.raises(ValueError, match="none, flip, shift-flip"):
        tta_views(x, "tencrop")


def test_shift_flip_classifier_keeps_the_astronaut_happy(astronaut):
    from ferlite.runtime import EmotionClassifier, default_model_path

    clf = EmotionClassifier(default_model_path(), threads=1, tta="shift-flip")
    probs = clf.predict([astronaut[60:170, 170:280]])
    assert probs.shape == (1, len(clf.labels)) and probs.argmax() == clf.labels.index("happy")
    assert abs(probs.sum() - 1) < 1e-5


def test_flip_tta_averages_the_face_and_its_mirror(astronaut):
    from ferlite.runtime import EmotionClassifier, default_model_path

    crops = [astronaut[60:170, 170:280], astronaut[40:200, 150:300]]
    plain = EmotionClassifier(default_model_path(), threads=1)
    tta = EmotionClassifier(default_model_path(), threads=1, tta="flip")
    mirrored = [c[:, ::-1] for c in crops]
    from ferlite.runtime.model_io import preprocess_faces

    expected = (
        plain.predict_logits(preprocess_faces(crops, plain.spec)) + plain.predict_logits(preprocess_faces(mirrored, plain.spec))
    ) / 2
    np.testing.assert_allclose(tta.predict_logits(preprocess_faces(crops, tta.spec)), expected, atol=1e-5)
    assert tta.predict(crops).argmax(1)[0] == tta.labels.index("happy")


def _astronaut() -> np.ndarray:
    return cv2.imread(str(FIXTURES / "astronaut_nasa_512.png"))


def test_a_group_photo_keeps_its_small_faces():
    """24 faces of about 110 px on a 3072x2048 photo: video's 320 px detection size loses most of them."""
    from ferlite.runtime import Recognizer

    face = cv2.resize(_astronaut()[40:200, 150:300], (110, 117), interpolation=cv2.INTER_AREA)
    photo = np.full((2048, 3072, 3), 200, np.uint8)
    for row in range(4):
        for col in range(6):
            y, x = 200 + row * 450, 150 + col * 480
            photo[y : y + 117, x : x + 110] = face
    found = len(Recognizer(threads=1).predict(photo))
    assert found >= 22, found
    assert len(Recognizer(threads=1, det_size=320).predict(photo)) < found


def test_predict_takes_a_path_and_gives_boxes_in_the_files_own_pixels(tmp_path):
    """A 6000 px photo is shrunk on reading (4096 px at most); the boxes must still be the file's own pixels."""
    from ferlite.runtime import Recognizer

    big = np.full((4000, 6000, 3), 90, np.uint8)
    big[1000:3048, 2000:4048] = cv2.resize(_astronaut(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), big)
    faces = Recognizer(threads=1).predict(path)
    assert len(faces) == 1
    expected = ASTRONAUT_FACE * 4 + np.array([2000, 1000, 2000, 1000], np.float32)
    assert box_iou(faces.xyxy, expected[None])[0, 0] > 0.5, faces.xyxy
    proc = _ferlite("predict", path, "--threads", "1")
    record = json.loads(proc.stdout)
    assert (record["width"], record["height"]) == (6000, 4000)
    assert box_iou(np.array([[record["faces"][0][k] for k in ("x1", "y1", "x2", "y2")]], np.float32), expected[None])[0, 0] > 0.5


def test_classify_crops_labels_faces_you_already_have(tmp_path):
    from ferlite.runtime import Recognizer

    rec = Recognizer(threads=1)
    crop = _astronaut()[40:200, 150:300]
    faces = rec.classify_crops([crop, cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)])
    assert faces.labels == rec.labels and faces.scores.shape == (2, len(rec.labels))
    assert faces.label == ["happy", "happy"] and faces.xyxy[0].tolist() == [0, 0, 150, 160]
    cv2.imwrite(str(tmp_path / "crop.png"), crop)
    proc = _ferlite("predict", tmp_path / "crop.png", "--crops", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["faces"][0]["label"] == "happy"


def test_annotate_never_overwrites(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        cv2.imwrite(str(tmp_path / d / "photo.png"), _astronaut())
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo_ferlite.png").write_bytes(b"kept")
    proc = _ferlite("predict", tmp_path / "a" / "photo.png", tmp_path / "b" / "photo.png", "--annotate", out, "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert (out / "photo_ferlite.png").read_bytes() == b"kept"
    assert sorted(p.name for p in out.iterdir()) == ["photo_ferlite.png", "photo_ferlite_2.png", "photo_ferlite_3.png"]


@pytest.mark.slow
def test_two_stage_tracker_keeps_the_hikers_on_fewer_tracks_than_plain_iou():
    """benchmarks/tracking.py's hikers row: the IoU tracker splits the walkers into 24 IDs, the two-stage one 16."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from tracking import run

    before = run("faces_multi_hikers_ccby_640x480.mp4", "before", threads=2, short=15)
    after = run("faces_multi_hikers_ccby_640x480.mp4", "after", threads=2, short=15)
    assert after["ids"] <= before["ids"] - 5 and after["short"] < before["short"]
    assert after["faces"] >= before["faces"]  # no face given up for it


def test_read_image_refuses_bombs_and_strips_from_their_header(tmp_path):
    """A 875 kB PNG of 30000x30000 would take gigabytes; a 100000x100000 header and a 1x20000 strip crashed OpenCV."""
    import struct
    import tracemalloc
    import zlib

    from ferlite.runtime import read_image

    def png(width: int, height: int, rows: int) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        body = zlib.compress((b"\0" + b"\0" * width) * rows, 9)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body)
            + chunk(b"IEND", b"")
        )

    cases = {
        "bomb.png": (png(30000, 30000, 8), "30000x30000 pixels is over the cap"),
        "huge.png": (png(100000, 100000, 1), "100000x100000 pixels is over the cap"),
        "strip.png": (png(20000, 1, 1), "has a side under 8"),
    }
    tracemalloc.start()
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=message):
            read_image(tmp_path / name)
    assert tracemalloc.get_traced_memory()[1] < 50_000_000
    tracemalloc.stop()
    proc = _ferlite("predict", tmp_path / "bomb.png", tmp_path / "strip.png")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stderr.count("skipped") == 3


def test_bench_has_a_clip_of_its_own_for_a_plain_install(tmp_path):
    """Without the shared folder, `ferlite bench` times a clip made from the bundled public-domain photo."""
    from ferlite.evaluation.bench import synthetic_clip
    from ferlite.runtime import FrameSource, Recognizer

    clip = synthetic_clip(tmp_path / "clip.avi", frames=30)
    found = [len(faces) for _, _, faces in Recognizer(threads=1).stream(FrameSource(clip))]
    assert len(found) == 30 and found.count(1) >= 28


@pytest.mark.slow
def test_region_detection_between_full_scans_keeps_the_faces(tmp_path):
    """Between whole-frame scans only the regions around tracked faces are searched: no face of the one-face and
    hikers clips may be lost for it (the regions, searched at a finer scale, may even find more)."""
    from ferlite.runtime import FrameSource, Recognizer

    for clip, frames in (("face1_emotions_pexels_640x480.mp4", 120), ("faces_multi_hikers_ccby_640x480.mp4", 200)):
        decoded = [f for _, f in FrameSource(find_shared(f"media/{clip}"))][:frames]
        counts = {}
        for every in (1, 5):
            stream = Recognizer(threads=1, full_scan_every=every).new_stream()
            counts[every] = sum(len(stream.update(f)) for f in decoded)
        assert counts[5] >= counts[1], (clip, counts)


def test_bench_with_the_ssd_detector_says_where_its_weights_come_from(monkeypatch):
    from ferlite.core.errors import UsageError
    from ferlite.runtime import detector

    def missing(rel):
        raise FileNotFoundError(rel)

    monkeypatch.setattr(detector, "find_shared", missing)
    with pytest.raises(UsageError, match="--ssd-model PB PBTXT"):
        detector.build_detector("ssd")
    proc = _ferlite("bench", "--detector", "ssd", "--ssd-model", "/nope.pb", "/nope.pbtxt")
    assert proc.returncode == 2 and "/nope.pb: SSD model file not found" in proc.stderr


@pytest.fixture(scope="module")
def astronaut_faces(astronaut):
    return astronaut, Recognizer(threads=1).predict(astronaut)


def test_faces_go_to_supervision_detections_and_back(astronaut_faces):
    """to_detections gives real supervision Detections that its annotators draw; from_detections reads them back."""
    import supervision as sv

    image, faces = astronaut_faces
    det = faces.to_detections()
    assert isinstance(det, sv.Detections) and len(det) == len(faces) == 1
    assert np.allclose(det.xyxy, faces.xyxy) and list(det.data["class_name"]) == faces.label
    drawn = sv.LabelAnnotator().annotate(sv.BoxAnnotator().annotate(image.copy(), det), det)
    assert (drawn != image).any()
    back = Faces.from_detections(det, labels=faces.labels)
    assert back.label == faces.label and np.allclose(back.scores, faces.scores)


def test_to_detections_without_supervision_says_how_to_install_it(astronaut_faces, monkeypatch):
    monkeypatch.setitem(sys.modules, "supervision", None)
    with pytest.raises(ImportError, match="pip install supervision"):
        astronaut_faces[1].to_detections()


def test_int8_scores_do_not_depend_on_the_cpus_instructions():
    """The bundled int8 model gives the same scores on ONNX Runtime as on OpenCV's DNN module (and the browser's
    onnxruntime-web). Without ``session.x64quantprecision``, a CPU without VNNI saturated ONNX Runtime's int8 sums:
    0.04 apart on average and 0.18 at most here (AMD EPYC, AVX2 only); with it, under 0.01 on average."""
    from itertools import islice

    onnxruntime_rec, opencv_rec = Recognizer(threads=1), Recognizer(threads=1, backend="opencv")
    differences = []
    for _, frame in islice(FrameSource(find_shared("media/face1_emotions_pexels_640x480.mp4")), 0, 470, 10):
        a, b = onnxruntime_rec.predict(frame), opencv_rec.predict(frame)
        assert len(a) == len(b) == 1
        differences.append(float(np.abs(a.scores[0] - b.scores[0]).max()))
    assert np.mean(differences) < 0.02 and max(differences) < 0.1, (np.mean(differences), max(differences))
