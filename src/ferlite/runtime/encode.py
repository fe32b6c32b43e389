"""Annotated videos that play in a browser: H.264 in MP4 or VP9 in WebM through PyAV, with the input's audio kept.

PyAV (``pip install "ferlite[video]"``) ships its own FFmpeg with libx264 and libvpx, which pip's OpenCV wheels lack:
OpenCV can only write MPEG-4 Part 2 into an MP4, which browsers do not play and which came out ten times the size of
its input. :class:`~ferlite.runtime.video.VideoSink` uses this writer where PyAV can be imported, and OpenCV otherwise.

The input's audio is carried over packet by packet as the video is written, interleaved by time, so memory stays flat
on long files. Audio a container cannot hold as it is (AAC in WebM) is re-encoded to its usual codec (Opus).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError

# Per extension: the container, the video encoder and its options, the audio codecs the container holds as they are,
# and the audio encoder for the rest. x264's veryfast preset and VP9's realtime speed encode 640x480 at 150-300 FPS on
# one core, well over the pipeline's rate. At these quality settings alone a busy clip came out 2.2x (H.264) and 3.5x
# (VP9) its input's size, so the bitrate is also capped at OUTPUT_BITRATE_CAP times the input's (1.6x on the hikers
# clip, 0.6x and 0.9x on the one-face clip).
FORMATS: dict[str, dict[str, Any]] = {
    ".mp4": {
        "container": "mp4",
        "codec": "libx264",
        "options": {"crf": "23", "preset": "veryfast"},
        "container_options": {"movflags": "+faststart"},  # playable while it downloads
        "audio_as_is": {"aac", "mp3", "opus", "alac", "ac3"},
        "audio_codec": "aac",
    },
    ".webm": {
        "container": "webm",
        "codec": "libvpx-vp9",
        "options": {"crf": "33", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
        "container_options": {},
        "audio_as_is": {"opus", "vorbis"},
        "audio_codec": "libopus",
    },
}
FORMATS[".m4v"] = FORMATS[".mp4"]
OUTPUT_BITRATE_CAP = 1.5


def bitrate_cap(codec: str, source_bit_rate: int | None) -> dict[str, str]:
    """The encoder options that hold the output under ``OUTPUT_BITRATE_CAP`` times the source's bitrate: x264's VBV
    (``maxrate``, ``bufsize``) over its CRF, and VP9's constrained quality (``b`` as the ceiling of its CRF). Without
    a source bitrate (a camera) the CRF alone decides."""
    if not source_bit_rate:
        return {"b": "0"} if codec == "libvpx-vp9" else {}
    cap = int(OUTPUT_BITRATE_CAP * source_bit_rate)
    return {"b": str(cap)} if codec == "libvpx-vp9" else {"maxrate": str(cap), "bufsize": str(2 * cap)}


def pyav_available() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


class PyAVWriter:
    """Write BGR frames of a fixed size and rate to ``path`` (``.mp4``, ``.m4v`` or ``.webm``). ``source``, the video
    the frames come from, gives its audio (when it has any) and a bitrate the output stays near.

    Example:
        >>> with PyAVWriter("out.mp4", 640, 480, 30.0, source="clip.mp4") as writer:  # doctest: +SKIP
        ...     writer.write(frame)
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, source: str | Path | None = None) -> None:
        import av

        self.path = Path(path)
        self._audio_in: Any = None  # the source's container: its bitrate, and its audio when it has some
        self._audio_packets: Any = None
        self._audio_out: Any = None
        self._reencode = False
        self._pending: Any = None  # the next input audio packet, read ahead of the video's clock
        if source is not None:
            try:
                self._audio_in = av.open(str(source))
            except av.error.FFmpegError:
                pass  # a camera, a stream or a file FFmpeg cannot open: no audio or bitrate to keep
        spec = FORMATS[self.path.suffix.lower()]
        self.codec = "h264" if spec["codec"] == "libx264" else "vp9"
        # 4:2:0 chroma needs even sides: the last row or column of an odd-sized frame is dropped.
        self.width, self.height = width - width % 2, height - height % 2
        rate = Fraction(fps).limit_denominator(1001)
        try:
            self._out = av.open(str(self.path), "w", format=spec["container"], options=spec["container_options"])
            source_bit_rate = self._audio_in.bit_rate if self._audio_in is not None else None
            options = {**spec["options"], **bitrate_cap(spec["codec"], source_bit_rate)}
            self._video = self._out.add_stream(spec["codec"], rate=rate, options=options)
        except av.error.FFmpegError as e:
            raise DataError(f"{self.path}: cannot open for writing video ({e})") from None
        self._video.width, self._video.height, self._video.pix_fmt = self.width, self.height, "yuv420p"
        self._video.time_base = 1 / rate
        self._frames = 0
        self._rate = rate
        if self._audio_in is not None and self._audio_in.streams.audio:
            self._keep_audio(spec)

    def _keep_audio(self, spec: dict[str, Any]) -> None:
        assert self._audio_in is not None
        stream = self._audio_in.streams.audio[0]
        self._audio_packets = self._audio_in.demux(stream)
        if stream.codec_context.name in spec["audio_as_is"]:
            self._audio_out = self._out.add_stream_from_template(stream)
        else:
            self._reencode = True
            self._audio_out = self._out.add_stream(spec["audio_codec"], rate=48000)

    def __enter__(self) -> PyAVWriter:
        return self

    def write(self, frame: np.ndarray) -> None:
        import av

        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[: self.height, : self.width]), format="bgr24")
        picture.pts = self._frames
        self._frames += 1
        self._out.mux(self._video.encode(picture))
        self._mux_audio_until(self._frames / self._rate)

    def _mux_audio_until(self, seconds: float | Fraction) -> None:
        """Carry the input's audio over up to ``seconds`` of the output's clock."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._pending if self._pending is not None else next(self._audio_packets, None)
            if packet is None:
                self._audio_packets = None
                return
            if packet.dts is None:  # the demuxer's end-of-stream packet
                self._pending = None
                continue
            if packet.pts is not None and packet.pts * packet.time_base >= seconds:
                self._pending = packet
                return
            self._pending = None
            if self._reencode:
                for samples in packet.decode():
                    samples.pts = None
                    self._out.mux(self._audio_out.encode(samples))
            else:
                packet.stream = self._audio_out
                self._out.mux(packet)

    def close(self) -> None:
        self._out.mux(self._video.encode(None))
        if self._audio_packets is not None:
            self._mux_audio_until(self._frames / self._rate)
        if self._reencode:
            self._out.mux(self._audio_out.encode(None))
        self._out.close()
        if self._audio_in is not None:
            self._audio_in.close()

    def __exit__(self, *exc) -> None:
        self.close()
