"""The inspector in a real browser: Debian's headless Chromium driven by Selenium through
``/usr/bin/chromedriver`` (``.ci/run`` installs both), against the operator API served for
real (tests/support/api.py) in an event loop of its own, so the blocking WebDriver calls of
a test never stall the server.

Without a chromedriver the browser tests skip, saying so; under ``CI=true`` they fail
instead (CI installs it, so its absence there is a broken machine, not a reason to skip)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.api import LiveApi, live_api
from tests.support.openai_server import ScriptedOpenAIServer

T = TypeVar("T")
DRIVER = "/usr/bin/chromedriver"
BROWSER = "/usr/bin/chromium"
WAIT = 20  # seconds a positive signal may take to appear on a loaded machine


def chromedriver() -> str:
    path = shutil.which("chromedriver") or (DRIVER if Path(DRIVER).exists() else None)
    if path is None:
        reason = (
            "no chromedriver: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run does it)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return path


class LoopThread:
    """An asyncio loop on its own thread; ``run`` waits for one coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Served:
    """The scripted model and the live API, each on the background loop."""

    def __init__(self, loop: LoopThread, llm: ScriptedOpenAIServer, live: LiveApi) -> None:
        self.loop = loop
        self.llm = llm
        self.live = live

    @property
    def url(self) -> str:
        return self.live.url

    def talk(self, agent_key: str, text: str, author: str = "42") -> None:
        self.loop.run(self.live.talk(agent_key, text, author=author))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro)


@contextmanager
def served(default_reply: dict[str, Any], **settings: Any) -> Iterator[Served]:
    loop = LoopThread()
    stack = AsyncExitStack()

    async def start() -> tuple[ScriptedOpenAIServer, LiveApi]:
        llm = await stack.enter_async_context(ScriptedOpenAIServer(default=default_reply))
        live = await stack.enter_async_context(live_api(llm, **settings))
        return llm, live

    try:
        llm, live = loop.run(start())
        yield Served(loop, llm, live)
    finally:
        loop.run(stack.aclose())
        loop.close()


@contextmanager
def chromium(width: int, height: int = 900) -> Iterator[Any]:
    """A headless Chromium whose viewport is ``width`` CSS pixels wide, logging the console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={max(width, 500)},{height}")
    if Path(BROWSER).exists():
        options.binary_location = BROWSER
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver()), options=options)
    try:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors since the last read (uncaught exceptions, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
