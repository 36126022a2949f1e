"""Headless Chromium (the system's ``chromium`` and ``chromidriver``, never a download)
driven by Selenium, against a demo (sandbox + gateway) running on a background loop."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import zxingcpp
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from unifyport.cli.demo import Demo, running_demo

T = TypeVar("T")
WAIT = 45.0
"""Bound on any wait for the page (the machine may be busy)."""
SCREENSHOTS = "UNIFYPORT_CONSOLE_SCREENSHOTS"
"""A directory (e.g. ``docs/console``) to copy the screenshots into."""


def browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("the console tests need Debian's headless Chromium: apt-get install "
                    "chromium chromium-driver (python3 dev.py test installs them as root)")
    return chromium, driver


def chromium(width: int = 412, height: int = 915) -> WebDriver:
    """A phone-sized headless Chromium that records every request in its performance log."""
    binary, driver = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-sync", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.set_page_load_timeout(WAIT)
    return browser


def requested_urls(browser: WebDriver) -> list[str]:
    """Every URL the browser requested since the last call (CDP ``Network`` events)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign(urls: list[str], origin: str) -> list[str]:
    """The URLs that went anywhere but ``origin`` (``data:`` URLs go nowhere)."""
    return [u for u in urls if not u.startswith("data:")
            and urllib.parse.urlsplit(u)._replace(path="", query="", fragment="").geturl()
            != origin]


def wait(browser: WebDriver, until: Callable[[WebDriver], T], timeout: float = WAIT) -> T:
    return WebDriverWait(browser, timeout, poll_frequency=0.2).until(until)


def element(browser: WebDriver | WebElement, name: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')


def text_of(name: str) -> Callable[[WebDriver], str]:
    def read(browser: WebDriver) -> str:
        found = browser.find_elements(By.CSS_SELECTOR, f'[data-testid="{name}"]')
        return found[0].text if found else ""
    return read


def decode_qr(png: bytes) -> tuple[str, float]:
    """The text of the QR code in ``png`` and its left quiet zone, in modules."""
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("RGB"))
    assert results, "no QR code found in the screenshot"
    result = results[0]
    modules = 17 + 4 * int(result.extra["Version"])
    left, right = result.position.top_left.x, result.position.top_right.x
    return result.text, left / ((right - left) / modules)


class Background:
    """A demo on its own event loop in a thread, so Selenium's blocking calls never stall
    the gateway; coroutines (sandbox control calls) are run there with :meth:`run`."""

    def __init__(self, workdir: Path, qr_ttl: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._stop = asyncio.Event()
        ready: asyncio.Future[Demo] = asyncio.run_coroutine_threadsafe(
            self._ready_future(), self.loop).result(5)
        self._held = asyncio.run_coroutine_threadsafe(self._hold(workdir, qr_ttl, ready),
                                                      self.loop)
        self.demo = asyncio.run_coroutine_threadsafe(self._wait(ready), self.loop).result(120)

    async def _ready_future(self) -> asyncio.Future[Demo]:
        return asyncio.get_running_loop().create_future()

    async def _wait(self, ready: asyncio.Future[Demo]) -> Demo:
        return await ready

    async def _hold(self, workdir: Path, qr_ttl: float, ready: asyncio.Future[Demo]) -> None:
        try:
            async with running_demo(workdir, qr_ttl=qr_ttl) as demo:
                ready.set_result(demo)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        try:
            self._held.result(60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@contextmanager
def screenshots(tmp: Path) -> Iterator[Callable[[WebDriver, str], None]]:
    """``shot(browser, name)`` saves ``name.png``; copied to $UNIFYPORT_CONSOLE_SCREENSHOTS
    (e.g. ``docs/console``) when set."""
    target = os.environ.get(SCREENSHOTS)

    def shot(browser: WebDriver, name: str) -> None:
        path = tmp / f"{name}.png"
        browser.save_screenshot(str(path))
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / path.name)

    yield shot


def follow(browser: WebDriver, name: str) -> None:
    """Click the link or button ``name`` and wait until the page it leads to replaced this
    one (htmx swaps the body in place, so the clicked element goes stale)."""
    clicked = wait(browser, lambda b: element(b, name))
    clicked.click()
    wait(browser, staleness_of(clicked))
