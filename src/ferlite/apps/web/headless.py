"""Real headless Chromium for the web page, through chromedriver (Selenium, in the ``test`` extra): what the tests and
``benchmarks/web_fps.py`` drive the page with, a fake camera playing a video file, and the local server they start.

Example:
    >>> driver = open_chromium(Path("clip.y4m"))  # doctest: +SKIP
    >>> driver.get("http://127.0.0.1:8000/")  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from ...core.errors import UsageError


def open_chromium(fake_video: Path | None = None, network_log: bool = False):
    """Debian's headless Chromium through chromedriver (Selenium), with a fake camera playing ``fake_video`` (a
    .y4m file) when given; ``network_log`` records the DevTools network events (``driver.get_log("performance")``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        raise UsageError("chromium and chromedriver are needed (Debian: apt install chromium chromium-driver; make system-deps)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"):
        opts.add_argument(arg)
    if fake_video is not None:
        for arg in (
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_video}",
        ):
            opts.add_argument(arg)
    if network_log:
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


def wait_until_ready(driver, seconds: float = 30) -> str:
    """Until the page's status line says it is ready (its models loaded), at most ``seconds``; the status line."""
    deadline = time.time() + seconds
    while time.time() < deadline and "Ready" not in driver.find_element("id", "status").text:
        time.sleep(0.2)
    return driver.find_element("id", "status").text


def free_ports(n: int) -> list[int]:
    """``n`` different TCP ports free on 127.0.0.1 now (for servers started next): all held while chosen."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for_port(port: int, seconds: float = 30, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Until something listens on 127.0.0.1:``port`` (a server started in another process); fails at once if that
    process, ``proc``, exits first, with the end of its ``log`` when given."""
    tail = (lambda: "\n" + log.read_text()[-3000:]) if log else (lambda: "")
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}:{tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s{tail()}")
