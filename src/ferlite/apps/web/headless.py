"""Real headless Chromium for the web page, through chromedriver (Selenium, in the ``test`` extra): what the tests and
``benchmarks/web_fps.py`` drive the page with, a fake camera playing a video file.

Example:
    >>> driver = open_chromium(Path("clip.y4m"))  # doctest: +SKIP
    >>> driver.get("http://127.0.0.1:8000/")  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
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
