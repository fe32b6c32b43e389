"""Annotated videos that a browser plays: H.264 in MP4 and VP9 in WebM through PyAV, near the input's size, with the
input's audio, and no FFmpeg error lines on the way."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import run_ferlite

from ferlite.core.paths import find_shared

pytestmark = pytest.mark.needs_shared

av = pytest.importorskip("av")


def clip_with_audio(path: Path, frames: int = 72) -> Path:
    """The first ``frames`` frames of the one-face clip, re-encoded with a 440 Hz AAC tone as long as the video."""
    source = av.open(str(find_shared("media/face1_emotions_pexels_640x480.mp4")))
    rate = source.streams.video[0].average_rate
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=rate)
    video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
    audio = out.add_stream("aac", rate=48000)
    for i, frame in enumerate(source.decode(video=0)):
        if i == frames:
            break
        picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
        picture.pts = i
        out.mux(video.encode(picture))
    out.mux(video.encode(None))
    seconds = frames / rate
    t = np.arange(int(48000 * seconds)) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    for start in range(0, tone.shape[1], 1024):
        samples = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start : start + 1024]), format="fltp", layout="mono")
        samples.sample_rate = 48000
        samples.pts = start
        out.mux(audio.encode(samples))
    out.mux(audio.encode(None))
    out.close()
    source.close()
    return path


def streams(path: Path) -> dict[str, tuple[str, float]]:
    """Each stream's type -> (codec, duration in seconds)."""
    with av.open(str(path)) as c:
        return {
            s.type: (s.codec_context.name, float(s.duration * s.time_base) if s.duration else c.duration / 1e6) for s in c.streams
        }


@pytest.mark.slow
def test_mp4_is_h264_near_the_input_size_without_error_lines(tmp_path):
    """`-o x.mp4` ended in MPEG-4 Part 2 at 10x the input (15.5 MB from 1.5 MB) after four `[ERROR] h264_v4l2m2m`."""
    clip = find_shared("media/faces_multi_hikers_ccby_640x480.mp4")
    out = tmp_path / "hikers.mp4"
    proc = run_ferlite("watch", clip, "-o", out, "--show", "no", "--threads", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "[ERROR" not in proc.stderr and "ERROR:" not in proc.stderr
    info = streams(out)
    assert info["video"][0] == "h264" and "audio" not in info  # the hikers clip is silent
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p" and c.streams.video[0].frames == 521
    assert out.stat().st_size <= 2 * clip.stat().st_size, out.stat().st_size / clip.stat().st_size


@pytest.mark.parametrize("suffix,video_codec,audio_codec", [(".mp4", "h264", "aac"), (".webm", "vp9", "opus")])
def test_the_input_audio_is_kept(tmp_path, suffix, video_codec, audio_codec):
    """AAC goes into MP4 as it is, and is re-encoded to Opus for WebM, over the whole video."""
    clip = clip_with_audio(tmp_path / "talk.mp4")
    out = tmp_path / f"annotated{suffix}"
    proc = run_ferlite("watch", clip, "-o", out, "--show", "no", "--threads", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = streams(out)
    assert info["video"][0] == video_codec and info["audio"][0] == audio_codec, info
    assert abs(info["audio"][1] - 72 / 23.976) < 0.15, info
    with av.open(str(out)) as c:
        heard = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert np.abs(heard).max() > 0.2  # the tone, not silence


def test_max_frames_cuts_the_audio_with_the_video(tmp_path):
    clip = clip_with_audio(tmp_path / "talk.mp4")
    out = tmp_path / "short.mp4"
    proc = run_ferlite("watch", clip, "-o", out, "--show", "no", "--max-frames", 24, "--threads", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = streams(out)
    assert info["audio"][1] < 24 / 23.976 + 0.1, info


def test_pyav_writer_rounds_odd_sizes_down_to_even(tmp_path):
    from ferlite.runtime import VideoInfo, VideoSink

    with VideoSink(tmp_path / "odd.mp4", VideoInfo(65, 49, 10.0, None)) as sink:
        for _ in range(5):
            sink.write(np.full((49, 65, 3), 100, np.uint8))
    assert sink.codec == "h264"
    with av.open(str(tmp_path / "odd.mp4")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (64, 48)
        assert c.streams.video[0].average_rate == Fraction(10)
