"""The two threads that every REST call and WebSocket of one server shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...runtime import Recognizer


class InferenceWorkers:
    """The server's recognizer and its two threads. OpenCV's detector and the ONNX sessions are shared by all clients,
    so one thread runs them in turn; frames and uploads are decoded on another, so that decoding never blocks the
    event loop, the other clients, or inference.

    Example:
        >>> workers = InferenceWorkers(Recognizer(threads=1))  # doctest: +SKIP
        >>> faces = await workers.infer(workers.recognizer.predict, image)  # doctest: +SKIP
    """

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-infer")
        self._decoding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-decode")

    async def infer(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the inference thread, after the models' earlier work."""
        return await asyncio.get_running_loop().run_in_executor(self._inference, fn, *args)

    async def decode(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the decoding thread."""
        return await asyncio.get_running_loop().run_in_executor(self._decoding, fn, *args)
