"""The memory inspector (issue 15) in headless Chromium: a conversation played through the
scripted model, then everything an operator does on the page, at 1280 and 390 px wide,
failing on any JavaScript error in the browser's console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import WAIT, Served, chromedriver, chromium, console_errors, served
from tests.support.openai_server import tool_reply

AGENT = "telegram:user:42"
PERSON = "42"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def server() -> Iterator[Served]:
    chromedriver()  # skip (or fail under CI) before starting anything
    with served(tool_reply("send_message", {"message": "Noted!"})) as s:
        # the conversation: the agent learns a fact about the person into its human block
        s.llm.add(
            tool_reply(
                "core_memory_append",
                {"label": "human", "content": "Loves green tea.", "request_heartbeat": True},
            ),
            tool_reply("send_message", {"message": "Green tea it is."}),
        )
        s.talk(AGENT, "I love green tea.")
        s.talk("telegram:user:7", "hello")  # another person's agent, not to be shown
        yield s


async def search(server: Served, words: str) -> list[str]:
    """What the agent's archival search finds (through the API, as any client would)."""
    async with server.live.client() as pm:
        found = await pm.archival.search(AGENT, words)
    return [hit.passage.text for hit in found.items]


async def insert(server: Served, text: str) -> None:
    async with server.live.client() as pm:
        await pm.archival.insert(AGENT, text)


class Page:
    """The browser with the waits a person does: until the thing is there."""

    def __init__(self, driver: Any, url: str, width: int) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.url, self.by, self.ec = driver, url, By, ec
        self.wait = WebDriverWait(driver, WAIT)
        self.errors: list[str] = []
        self.width = width

    def open(self, path: str = "/") -> None:
        self.driver.get(self.url + path)

    def find(self, css: str) -> Any:
        return self.wait.until(self.ec.visibility_of_element_located((self.by.CSS_SELECTOR, css)))

    def click(self, css: str) -> None:
        self.wait.until(self.ec.element_to_be_clickable((self.by.CSS_SELECTOR, css))).click()

    def text_in(self, css: str, text: str) -> None:
        located = (self.by.CSS_SELECTOR, css)
        self.wait.until(self.ec.text_to_be_present_in_element(located, text))

    def gone(self, css: str) -> None:
        self.wait.until(self.ec.invisibility_of_element_located((self.by.CSS_SELECTOR, css)))

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(self.by.CSS_SELECTOR, css))

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def check_console(self) -> None:
        self.errors += console_errors(self.driver)
        assert self.errors == [], f"JavaScript errors in the console: {self.errors}"

    def fits(self) -> None:
        """Usable at this width: nothing sticks out sideways."""
        wide = self.js("return document.documentElement.scrollWidth")
        out = self.js(
            "return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > arguments[0])"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(-5)",
            self.width,
        )
        assert wide <= self.width, f"the page is {wide} px wide in {self.width} px: {out}"

    def sign_in(self, key: str) -> None:
        self.open("/")
        self.find("#api-key").send_keys(key)
        self.click("#sign-in button[type=submit]")
        self.find("#agent-filters")

    def find_agent(self, person: str) -> None:
        self.find("#f-person").send_keys(person)
        self.click("#agent-filters button[type=submit]")
        self.text_in("#agents", AGENT)

    def screenshot(self, name: str) -> None:
        """The whole page (for the README: made here, so it shows the page as it is)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        height = min(int(self.js("return document.documentElement.scrollHeight")), 6000)
        self.viewport(height)
        self.driver.save_screenshot(str(SHOTS / name))
        self.viewport(900)

    def viewport(self, height: int) -> None:
        metrics = {"width": self.width, "height": height, "deviceScaleFactor": 1}
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", metrics | {"mobile": self.width < 500}
        )


@pytest.mark.parametrize("width", [1280, 390])
def test_an_operator_inspects_and_corrects_an_agent(
    server: Served, width: int, tmp_path: Path
) -> None:
    with chromium(width) as driver:
        page = Page(driver, server.url, width)
        page.sign_in(server.live.admin_key)
        assert server.live.admin_key not in driver.page_source, "the key is never shown back"
        page.find_agent(PERSON)
        keys = [row.get_attribute("data-key") for row in page.all("#agents tr[data-key]")]
        assert keys == [AGENT], "found by the person's id, and only theirs"
        page.fits()
        page.click(f'tr[data-key="{AGENT}"] a.agent-link')

        # the fact the agent learnt is in its human block, with the block's limit
        page.text_in("#agent-key", AGENT)
        human = page.find('textarea[data-label="human"]')
        assert "Loves green tea." in human.get_property("value")
        page.text_in('[data-block="human"] .count', "characters")
        page.fits()

        # upload a file with a progress bar; search finds it with scores, grouped by source
        notes = tmp_path / "teas.txt"
        notes.write_text("Oolong from Taiwan is the person's favourite afternoon tea.\n")
        page.find("#upload-file").send_keys(str(notes))
        page.click("#upload")
        page.wait.until(
            lambda d: d.find_element(page.by.ID, "upload-status").get_attribute("data-status")
        )
        assert page.find("#upload-status").get_attribute("data-status") == "stored"
        progress = page.find("#upload-progress")
        assert progress.get_property("value") == progress.get_property("max") == 1
        page.text_in("#sources", "teas.txt")
        page.find("#archival-query").send_keys("oolong")
        page.click("#archival-search button[type=submit]")
        page.text_in("#archival-results", "Oolong from Taiwan")
        assert page.find("#archival-results .group h4").text == "teas.txt"
        assert float(page.find("#archival-results .hit .score").text) > 0
        if width == 1280:
            page.screenshot("agent.png")

        # delete the uploaded source: the page's search and the agent's no longer find it
        page.click('#sources li:not([data-source="own"]) .delete-source')
        driver.switch_to.alert.accept()
        page.text_in("#search-total", "0 found")
        assert not page.all("#archival-results .hit")
        assert server.call(search(server, "oolong")) == []

        # one passage of the agent's own: delete it from the search results
        server.call(insert(server, "Miso the cat sleeps on the tea shelf."))
        query = page.find("#archival-query")
        query.clear()
        query.send_keys("Miso")
        page.click("#archival-search button[type=submit]")
        page.text_in('#archival-results .group[data-source="own"]', "Miso the cat")
        page.click("#archival-results .delete-passage")
        page.text_in("#search-total", "0 found")
        assert server.call(search(server, "Miso")) == []

        # check-ins: create, see it listed, cancel it
        page.find('#checkin-form input[name="note"]').send_keys("ask how the tea was")
        page.find('#checkin-form input[name="when"]').send_keys("1d")
        page.click("#checkin-form button[type=submit]")
        page.text_in("#checkins", "ask how the tea was")
        page.click("#checkins li[data-id] .cancel")
        page.text_in("#checkins", "No check-ins.")

        # usage: a bar per day with the calls the conversation made
        assert page.all("#usage svg.usage-chart rect.prompt")
        page.text_in("#usage .usage-days", "2")
        page.fits()
        page.check_console()


def test_a_viewer_sees_everything_and_every_change_control_is_disabled(
    server: Served,
) -> None:
    with chromium(1280) as driver:
        page = Page(driver, server.url, 1280)
        page.sign_in(server.live.viewer_key)
        page.text_in("#who", "viewer")
        page.find_agent(PERSON)
        page.click(f'tr[data-key="{AGENT}"] a.agent-link')
        human = page.find('textarea[data-label="human"]')
        assert "Loves green tea." in human.get_property("value")
        assert human.get_property("readOnly")
        page.find("#sources")
        page.find("#checkin-form")
        controls = page.all(
            "#upload, #upload-file, .delete-source, .delete-passage, #checkin-form button,"
            " #checkin-form input, .cancel, .save, .revert, #pause, #resume, #erase,"
            " #erase-confirm"
        )
        assert controls and all(not c.is_enabled() for c in controls)
        page.check_console()


def test_the_page_needs_no_key_but_every_api_call_does(server: Served) -> None:
    """The page's files hold no data; what it shows comes from the API with a key."""
    with chromium(1280) as driver:
        page = Page(driver, server.url, 1280)
        page.open("/")
        page.find("#api-key")
        status = page.js("return fetch('/api/agents').then(r => r.status)")
        assert status == 401
        names = json.loads(page.js("return JSON.stringify(Object.keys(sessionStorage))"))
        assert names == []
