"""One page's WebSocket at ``/ws`` (protocol: see :mod:`ferlite.apps.web`): its own tracker, smoother and
corrections over the server's shared models."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import WebSocket

from ...runtime.personalize import StreamPersonalization
from .frames import FrameLimits
from .workers import InferenceWorkers

# A WebSocket that sends nothing for this long is closed: idle sockets would otherwise hold the client slots.
IDLE_TIMEOUT_S = 60.0


class StreamSession:
    """Answers one client's messages in order: a frame gets its faces, a correction is learnt, anything else gets an
    error reply and the connection stays open.

    Args:
        ws: the accepted WebSocket.
        workers: the server's recognizer and threads.
        limits: the frame rate, message size and frame side this client may send.
        idle_timeout: seconds of silence after which the socket is closed (code 1001).
    """

    def __init__(
        self, ws: WebSocket, workers: InferenceWorkers, limits: FrameLimits, idle_timeout: float = IDLE_TIMEOUT_S
    ) -> None:
        self.ws, self.workers, self.limits, self.idle_timeout = ws, workers, limits, idle_timeout
        self.stream = workers.recognizer.new_stream()  # this client's tracker, smoother and detect-every state
        self.personal = StreamPersonalization(workers.recognizer)  # corrections (keys 1-8), for this visit only
        self.frames_answered = 0
        self.last_frame_at = -float("inf")

    def hello(self) -> dict[str, Any]:
        labels = list(self.workers.recognizer.labels)
        limits = self.limits
        return {
            "type": "hello",
            "labels": labels,
            "max_fps": limits.max_fps,
            "max_bytes": limits.max_bytes,
            "max_side": limits.max_side,
        }

    async def run(self) -> None:
        """Greet, then answer until the client leaves or stays silent for ``idle_timeout`` seconds."""
        await self.ws.send_json(self.hello())
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), self.idle_timeout)
            except TimeoutError:
                await self.ws.close(code=1001, reason=f"idle for {self.idle_timeout:g} s")
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            await self.ws.send_json(await (self.answer_text(message.get("text")) if data is None else self.answer_frame(data)))

    async def answer_text(self, text: str | None) -> dict[str, Any]:
        """A correction, ``{"type": "correct", "label": "happy"}``, is learnt; any other text is an error."""
        label = _label_of_correction_message(text)
        if label is None:
            return {"type": "error", "message": "expected a binary message with one JPEG or PNG frame"}
        return await self.workers.infer(self.personal.correct, label)

    async def answer_frame(self, data: bytes) -> dict[str, Any]:
        """The faces of one encoded frame, or an error for a frame too large, too soon or not decodable."""
        try:
            self.limits.check_size(data)  # before anything else: an oversized message costs nothing more
        except ValueError as e:
            return {"type": "error", "message": str(e)}
        now = time.monotonic()
        if self.limits.too_soon(now, self.last_frame_at):
            return {"type": "error", "message": f"too many frames: at most {self.limits.max_fps:g} per second"}
        self.last_frame_at = now
        try:
            frame = await self.workers.decode(self.limits.decode, data)
        except ValueError as e:
            return {"type": "error", "message": str(e)}
        start = time.perf_counter()
        faces = await self.workers.infer(lambda: self.personal.apply(frame, self.stream.update(frame)))
        self.frames_answered += 1
        return {
            "type": "faces",
            "frame": self.frames_answered,
            "width": frame.shape[1],
            "height": frame.shape[0],
            "faces": faces.to_dicts(),
            "ms": round((time.perf_counter() - start) * 1000, 1),
        }


def _label_of_correction_message(text: str | None) -> str | None:
    """The label of a ``{"type": "correct", "label": ...}`` text message, else None (any other text is refused)."""
    if not text or len(text) > 200:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("type") == "correct" and isinstance(message.get("label"), str):
        return message["label"]
    return None
