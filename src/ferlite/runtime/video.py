"""Video as plain functions (supervision style): a frames generator, a sink, an FPS monitor.

OpenCV does the decoding and encoding. A frame that fails to decode in the middle of a
file is skipped and counted in ``FrameSource.skipped``; the stream goes on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ..core.errors import DataError
from ..core.paths import readable_file

# Consecutive undecodable frames after which a file is taken to have ended (truncated).
_MAX_CONSECUTIVE_FAILURES = 25
# A file's frames are decoded this many ahead of the pipeline, by a background thread: decoding then overlaps
# detection and classification on the other core (OpenCV releases the GIL while it decodes). Cameras and streams are
# read in step, so that a slow pipeline never works on a stale queue of live frames.
READ_AHEAD = 4
# Up to this many pixels a frame, FFmpeg decodes a file on one thread: its frame threads cost more CPU than they save
# at these sizes, and the pipeline needs the other core, whether frames are read ahead or in step by
# FaceStream.run (``python benchmarks/decode_ahead.py``). Larger frames keep FFmpeg's own choice.
ONE_DECODER_THREAD_PIXELS = 1280 * 720
_END = object()  # the read-ahead thread's last item


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    total_frames: int | None

    @classmethod
    def from_capture(cls, cap: cv2.VideoCapture) -> VideoInfo:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = cap.get(cv2.CAP_PROP_FPS)
        return cls(
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps if 0 < fps < 1000 else 30.0,
            n if n > 0 else None,
        )


class FrameSource:
    """Frames of a video file, a webcam index (``"0"``) or a stream URL.

    Args:
        source: a video file, a camera index or a stream URL.
        read_ahead: decode a file's frames ahead on a background thread (``READ_AHEAD``); cameras and streams are
            always read in step.

    Example:
        >>> src = FrameSource("clip.mp4")  # doctest: +SKIP
        >>> for index, frame in src: ...  # doctest: +SKIP
    """

    def __init__(self, source: str | int | Path, read_ahead: bool = True) -> None:
        self.source = str(source)
        self.is_camera = self.source.isdigit()
        self.is_file = not self.is_camera and "://" not in self.source
        if self.is_file:
            readable_file(self.source, "video")
        self._cap = cv2.VideoCapture(int(self.source) if self.is_camera else self.source)
        if not self._cap.isOpened():
            raise DataError(self._why_not_opened())
        self.info = VideoInfo.from_capture(self._cap)
        self.read_ahead = READ_AHEAD if self.is_file and read_ahead else 0
        if self.is_file and self.info.width * self.info.height <= ONE_DECODER_THREAD_PIXELS:
            self._use_one_decoder_thread()
        self.skipped = 0
        self.frames_read = 0
        self._opened = time.monotonic()
        self._decoder: threading.Thread | None = None  # the read-ahead thread, once iterated

    def _why_not_opened(self) -> str:
        if self.is_camera:
            return (
                f"camera {self.source}: no camera answers at this index (none attached, another program holds it, "
                "or this user may not open it)"
            )
        if self.is_file:
            return f"{self.source}: not a readable video (corrupt, truncated or an unsupported format)"
        return f"{self.source}: the stream cannot be opened (unreachable, or not a video stream)"

    def time_of(self, index: int) -> float:
        """Seconds since the start: a file's own clock (frame index / fps), the wall clock for cameras and streams."""
        return index / self.info.fps if self.is_file else time.monotonic() - self._opened

    def _use_one_decoder_thread(self) -> None:
        if self._cap.getBackendName() != "FFMPEG":
            return
        cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if cap.isOpened():
            self._cap.release()
            self._cap = cap

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        self._check_unread()
        return self._read_ahead() if self.read_ahead else self._read()

    def in_step(self) -> Iterator[tuple[int, np.ndarray]]:
        """The frames decoded on the caller's thread, whatever ``read_ahead`` says: for a consumer that keeps the other
        core busy itself (:meth:`~ferlite.runtime.recognizer.FaceStream.run`), where a third thread decoding ahead
        only competes with its two for the two cores."""
        self._check_unread()
        return self._read()

    def _check_unread(self) -> None:
        if not self._cap.isOpened():
            # Iterated before (the capture is released at the end): its frames are gone, none of them corrupt.
            raise DataError(f"{self.source}: this FrameSource has been read to its end; open a new one to read it again")

    def _read_ahead(self) -> Iterator[tuple[int, np.ndarray]]:
        frames: queue.Queue = queue.Queue(self.read_ahead)
        stop = threading.Event()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    frames.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def decode() -> None:
            reader = self._read()
            try:
                for item in reader:
                    if not put(item):
                        return
            except BaseException as e:  # handed to the consumer, which raises it where the frames are used
                put(e)
            finally:
                reader.close()  # releases the capture, also when the consumer stopped early
            put(_END)

        thread = self._decoder = threading.Thread(target=decode, name=f"ferlite-decode:{Path(self.source).name}", daemon=True)
        thread.start()
        try:
            while (item := frames.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()

    def _read(self) -> Generator[tuple[int, np.ndarray], None, None]:
        index, failures = 0, 0
        total = self.info.total_frames if self.is_file else None
        try:
            while True:
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    failures = 0
                    self.frames_read += 1
                    yield index, frame
                    index += 1
                    continue
                # A failed read before the container's frame count is a corrupt frame; skip it.
                if total is None or index >= total or failures >= _MAX_CONSECUTIVE_FAILURES:
                    break
                failures += 1
                self.skipped += 1
                index += 1
        finally:
            self._cap.release()


# The codecs OpenCV tries for each output extension, best first, where PyAV (the video extra) is not installed. pip's
# OpenCV wheels have no H.264 encoder, and asking for it printed four FFmpeg errors a run, so MP4 gets MPEG-4 Part 2
# (browsers do not play it); WebM gets VP9, else VP8 (slow); AVI Motion JPEG.
CODECS_BY_SUFFIX = {".mp4": ("mp4v",), ".m4v": ("mp4v",), ".webm": ("VP90", "VP80"), ".avi": ("MJPG",)}
# Codecs this process found it cannot encode: tried once, so FFmpeg's complaint is printed once, not per file.
_UNAVAILABLE_CODECS: set[str] = set()


class VideoSink:
    """Write BGR frames to a video file; a context manager.

    With PyAV installed (``pip install "ferlite[video]"``), ``.mp4`` holds H.264 and ``.webm`` VP9, both of which
    browsers play, with the audio of ``source_file`` (the input video) carried over and its bitrate as a guide
    (:mod:`ferlite.runtime.encode`).
    Otherwise OpenCV writes the codec its extension names in ``CODECS_BY_SUFFIX``, or ``codec`` forces one, without
    audio; a fallback to a lesser codec is logged as a warning.

    Example:
        >>> with VideoSink("out.mp4", VideoInfo(640, 480, 30, None), source_file="clip.mp4") as sink:  # doctest: +SKIP
        ...     sink.write(frame)
    """

    def __init__(
        self, path: str | Path, info: VideoInfo, codec: str | None = None, source_file: str | Path | None = None
    ) -> None:
        from .encode import FORMATS, pyav_available

        self.path, self.info, self.source_file = Path(path), info, source_file
        suffix = self.path.suffix.lower()
        if codec is None and suffix not in CODECS_BY_SUFFIX:
            raise DataError(
                f"{self.path}: unknown video extension {suffix or '(none)'!r}; use one of {', '.join(CODECS_BY_SUFFIX)}"
            )
        self.use_pyav = codec is None and suffix in FORMATS and pyav_available()
        self.candidates = (codec,) if codec else CODECS_BY_SUFFIX[suffix]
        self.codec: str | None = None
        self._writer: Any = None

    def __enter__(self) -> VideoSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.use_pyav:
            from .encode import PyAVWriter

            self._writer = PyAVWriter(self.path, self.info.width, self.info.height, self.info.fps, source=self.source_file)
            self.codec = self._writer.codec
            return self
        import logging

        size = (self.info.width, self.info.height)
        for codec in self.candidates:
            if codec in _UNAVAILABLE_CODECS and codec != self.candidates[-1]:
                continue
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*codec), self.info.fps, size)
            if writer.isOpened():
                self._writer, self.codec = writer, codec
                break
            writer.release()
            _UNAVAILABLE_CODECS.add(codec)
        if self._writer is None:
            raise DataError(f"{self.path}: cannot open for writing video (codecs tried: {', '.join(self.candidates)})")
        if self.codec != self.candidates[0]:
            logging.getLogger(__name__).warning(
                "%s: this OpenCV build cannot encode %s; wrote %s instead", self.path, self.candidates[0], self.codec
            )
        return self

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[1] != self.info.width or frame.shape[0] != self.info.height:
            frame = cv2.resize(frame, (self.info.width, self.info.height))
        if self._writer is None:
            raise RuntimeError("VideoSink.write outside its with-block")
        self._writer.write(frame)

    def __exit__(self, *exc) -> None:
        if self._writer is None:
            return
        if self.use_pyav:
            self._writer.close()
        else:
            self._writer.release()


class FPSMonitor:
    """Frames per second over the last ``window`` ticks."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window + 1)

    def tick(self) -> None:
        self._times.append(time.perf_counter())

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


def video_to_y4m(source: str | Path, target: str | Path, start_s: float = 0.0, end_s: float | None = None) -> int:
    """Write frames of a video, from ``start_s`` to ``end_s`` seconds, as an uncompressed Y4M (I420) file.

    Y4M is what Chromium's fake camera plays (``--use-file-for-fake-video-capture``), so a real
    clip can stand in for a webcam in browser tests and demos. Returns the number of frames written.

    Example:
        >>> video_to_y4m("clip.mp4", "/tmp/clip.y4m", 10, 16)  # doctest: +SKIP
        144
    """
    frames = FrameSource(source)
    rate = Fraction(frames.info.fps).limit_denominator(1001)  # 23.976 -> 24000/1001, 25.0 -> 25/1
    written = 0
    with open(target, "wb") as out:
        for index, frame in frames:
            t = frames.time_of(index)
            if t < start_s:
                continue
            if end_s is not None and t >= end_s:
                break
            h, w = frame.shape[:2]
            if written == 0:
                out.write(f"YUV4MPEG2 W{w - w % 2} H{h - h % 2} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n".encode())
            frame = frame[: h - h % 2, : w - w % 2]
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
            written += 1
    if written == 0:
        raise DataError(f"{source}: no frames between {start_s} s and {end_s} s")
    return written


class StopVideo(Exception):
    """Raised by a :func:`process_video` callback to end the video early (a key press in a window)."""


class FramePipeline(Protocol):
    """What :func:`process_video` runs ahead of its callback: a :class:`~ferlite.runtime.recognizer.FaceStream`."""

    def run(self, frames: Iterable[tuple[int, np.ndarray]]) -> Generator[tuple[int, np.ndarray, Any], None, None]: ...


def process_video(
    source: str | int | Path | FrameSource,
    callback: Callable[..., np.ndarray | None],
    sink: str | Path | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    pipeline: FramePipeline | None = None,
) -> int:
    """Call ``callback(frame, index)`` on every frame of a video, camera or stream: supervision's ``process_video``
    and its callback's order of arguments, which users of supervision know.

    What the callback returns (an annotated frame) is written to ``sink``, a video file with the source's size and
    frame rate (nothing is written when it returns None). The callback ends the video early by raising
    :class:`StopVideo`; Ctrl-C ends it the same way, so a webcam session stops cleanly. Files get a progress bar.
    With ``pipeline`` (a face stream), the callback is ``callback(frame, index, faces)``, with the faces the stream's
    :meth:`~ferlite.runtime.recognizer.FaceStream.run` found, its two stages overlapped.

    Returns:
        The number of frames the callback saw.

    Example:
        >>> stream = Recognizer().new_stream()  # doctest: +SKIP
        >>> process_video("clip.mp4", lambda frame, i, faces: annotate_faces(frame, faces), "out.mp4", pipeline=stream)  # doctest: +SKIP
    """
    from tqdm import tqdm

    frames = source if isinstance(source, FrameSource) else FrameSource(source)
    total = frames.info.total_frames if frames.is_file else None
    if max_frames and total:
        total = min(total, max_frames)
    count = 0
    writer = VideoSink(sink, frames.info, source_file=frames.source if frames.is_file else None) if sink is not None else None
    bar = tqdm(total=total, unit="frame", disable=not (progress and frames.is_file), dynamic_ncols=True)
    ahead = None if pipeline is None else pipeline.run(frames)
    items: Iterable[tuple[Any, ...]] = frames if ahead is None else ahead
    try:
        if writer is not None:
            writer.__enter__()
        for item in items:
            index, frame, *found = item  # FrameSource gives (index, frame); a pipeline adds the faces
            out = callback(frame, index, *found)
            count += 1
            bar.update(1)
            if writer is not None and out is not None:
                writer.write(out)
            if max_frames and count >= max_frames:
                break
    except (StopVideo, KeyboardInterrupt):
        pass
    finally:
        if ahead is not None:
            ahead.close()  # ends the pipeline's worker thread now, not when the generator is collected
        bar.close()
        if writer is not None:
            writer.__exit__(None, None, None)
    return count
