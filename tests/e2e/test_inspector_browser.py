"""The memory inspector (issue 15) in headless Chromium: a conversation played through the
scripted model, then everything an operator does on the page, at 1280 and 390 px wide,
failing on any JavaScript error in the browser's console.

The README's screenshots are made here: ``PAGEMIND_SCREENSHOTS=docs/screenshots`` writes
them there; otherwise they go to a temporary directory (a test run leaves the tree as it
was: the pictures differ in their timestamps every time)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import WAIT, Served, chromedriver, chromium, console_errors, served
from tests.support.openai_server import tool_reply

AGENT = "telegram:user:42"
PERSON = "42"
SHOTS = Path(
    os.environ.get("PAGEMIND_SCREENSHOTS") or Path(tempfile.gettempdir()) / "pagemind-screenshots"
)

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


async def context(server: Served) -> Any:
    async with server.live.client() as pm:
        return await pm.context.get(AGENT)


async def insert(server: Served, text: str) -> None:
    async with server.live.client() as pm:
        await pm.archival.insert(AGENT, text)


async def said(server: Served) -> list[str]:
    async with server.live.client() as pm:
        return [m.text async for m in pm.messages.list(AGENT)]


async def erased(server: Served) -> bool:
    """Nothing of the agent is left that the API can show: itself, its messages, archival
    memory, check-ins (each answers 404 or lists nothing), nor the person's search."""
    from pagemind_client import NotFoundError

    async def nothing(items: Any) -> bool:
        try:
            return [i async for i in items] == []
        except NotFoundError:
            return True

    async with server.live.client() as pm:
        try:
            await pm.agents.get(AGENT)
            return False
        except NotFoundError:
            pass
        return (
            await nothing(pm.messages.list(AGENT))
            and await nothing(pm.archival.sources(AGENT))
            and await nothing(pm.checkins.list(AGENT))
            and await nothing(pm.agents.list(person=PERSON))
            and await server.live.svc.storage.agents.load(AGENT) is None
        )


class Page:
    """The browser with the waits a person does: until the thing is there."""

    def __init__(self, driver: Any, url: str, width: int) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.url, self.by, self.ec = driver, url, By, ec
        # a section redrawn while it is read: read it again
        self.wait = WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException])
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

    def find_person(self, person: str) -> None:
        field = self.find("#f-person")
        field.clear()
        field.send_keys(person)
        self.click("#agent-filters button[type=submit]")

    def find_agent(self, person: str) -> None:
        self.find_person(person)
        self.text_in("#agents", AGENT)

    def search(self, words: str) -> None:
        query = self.find("#archival-query")
        query.clear()
        query.send_keys(words)
        self.click("#archival-search button[type=submit]")

    def screenshot(self, name: str, css: str | None = None) -> None:
        """The whole page, or one part of it (for the README: made here, so it shows the
        page as it is)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        height = min(int(self.js("return document.documentElement.scrollHeight")), 6000)
        self.viewport(height)
        if css is not None:
            self.find(css).screenshot(str(SHOTS / name))
        else:
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

        # the context window as the next call would send it, to the token, with its lines
        window = server.call(context(server))
        bar = {
            s.get_attribute("data-part"): int(s.get_attribute("data-tokens"))
            for s in page.all("#context-bar .seg")
        }
        assert bar["instructions"] == window.instructions + window.reply_priming
        assert bar["tool_schemas"] == window.tools
        assert bar["working_context"] == window.working_context
        assert bar["fifo"] == window.messages_tokens
        assert bar["reply_reserve"] == window.reply_reserve
        lines = {
            m.get_attribute("data-line"): int(m.get_attribute("data-tokens"))
            for m in page.all("#context-bar .mark")
        }
        assert lines == {"warning": window.warning_line, "flush": window.flush_line}

        # the turn that learnt it: its function call with the arguments
        page.click("#timeline details.turn summary")
        page.text_in(
            '#timeline .call[data-function="core_memory_append"] .args', "Loves green tea."
        )

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
        page.search("oolong")
        page.text_in("#archival-results", "Oolong from Taiwan")
        assert page.find("#archival-results .group h4").text == "teas.txt"
        assert float(page.find("#archival-results .hit .score").text) > 0
        if width == 1280:
            page.screenshot("agent.png")

        # the person asks; the agent searches its archival memory: the turn shows the hits
        server.llm.add(
            tool_reply("archival_memory_search", {"query": "oolong", "request_heartbeat": True}),
            tool_reply("send_message", {"message": "Oolong from Taiwan, you wrote."}),
        )
        asked = len(server.llm.raw_requests)
        server.talk(AGENT, "Which tea did my notes mention?")
        sent = json.loads(server.llm.raw_requests[asked][0])
        driver.refresh()
        page.click("#timeline details.turn summary")  # newest first
        call = '#timeline .call[data-function="archival_memory_search"]'
        page.text_in(f"{call} .args", "oolong")
        page.text_in(f"{call} .result", "Oolong from Taiwan")
        scores = [float(s.text) for s in page.all(f"{call} .hit .score")]
        assert scores and all(score > 0 for score in scores), "the hits with their scores"
        # the exact prompt of that model call: what the model server received
        page.click('#timeline details.turn[open] .step[data-step="1"] details.prompt summary')
        shown = page.find('#timeline details.turn[open] .step[data-step="1"] .request-body')
        assert json.loads(shown.text) == sent
        if width == 1280:
            page.screenshot("turn.png", "#turns")

        # delete the uploaded source: the page's search and the agent's no longer find it
        page.click('#sources li:not([data-source="own"]) .delete-source')
        driver.switch_to.alert.accept()
        page.gone('#sources li[data-source]:not([data-source="own"])')
        page.search("oolong")
        page.text_in("#search-total", "0 found")
        assert not page.all("#archival-results .hit")
        assert server.call(search(server, "oolong")) == []

        # one passage of the agent's own: delete it from the search results
        server.call(insert(server, "Miso the cat sleeps on the tea shelf."))
        page.search("Miso")
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
        page.text_in("#usage .usage-days", "2026")
        page.fits()

        # correct the memory in place: the agent's next model call carries the edit
        edited = "Loves oolong from Taiwan, not green tea."
        human = page.find('textarea[data-label="human"]')
        human.clear()
        human.send_keys(edited)
        page.click('[data-block="human"] .save')
        page.text_in("#notice", "Saved human")
        asked = len(server.llm.requests)
        server.talk(AGENT, "What do I like?")
        assert edited in json.dumps(server.llm.requests[asked][1]), "the next call has the edit"
        # the history names who made each edit; a revert puts the text back
        page.click('[data-block="human"] .show-history')
        page.text_in('[data-block="human"] .edits li:first-child', "alice (admin)")
        page.text_in('[data-block="human"] .edits', "agent")
        page.click('[data-block="human"] .edits li:first-child .revert')
        page.wait.until(
            lambda d: (
                page.find('textarea[data-label="human"]').get_property("value")
                == "Loves green tea."
            )
        )
        page.fits()

        # export: the agent as a file
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
        )
        page.click("#export")
        exported = tmp_path / "telegram_user_42.json"
        page.wait.until(lambda d: exported.exists() and exported.stat().st_size > 0)
        assert "Loves green tea." in exported.read_text()

        # pause: a message is recorded and gets no model call; the list says paused
        page.click("#pause")
        page.text_in("#state", "paused")
        page.text_in("#notice", "Paused")
        asked = len(server.llm.requests)
        server.talk(AGENT, "Are you there?")
        assert len(server.llm.requests) == asked, "a paused agent calls no model"
        assert "Are you there?" in server.call(said(server))
        page.open(f"/#/?person={PERSON}")  # the list says so too
        page.text_in(f'#agents tr[data-key="{AGENT}"]', "paused")
        page.click(f'tr[data-key="{AGENT}"] a.agent-link')
        page.click("#resume")
        page.text_in("#state", "running")

        # erase, after typing the agent's key: everything is gone
        page.click("details.erase summary")
        confirm = page.find("#erase-confirm")
        confirm.send_keys(AGENT[:-1])
        assert not page.find("#erase").is_enabled(), "not before the whole key is typed"
        confirm.send_keys(AGENT[-1])
        page.click("#erase")
        page.text_in("#notice", "Erased")
        page.find("#agent-filters")
        assert server.call(erased(server)), "no agent, messages, passages or check-ins left"
        page.find_person(PERSON)
        page.text_in("#agents", "No agent matches.")
        page.fits()
        page.check_console()


def test_a_viewer_sees_everything_and_every_change_control_is_disabled(
    server: Served,
) -> None:
    with chromium(1280) as driver:
        page = Page(driver, server.url, 1280)
        page.sign_in(server.live.viewer_key)
        page.text_in("#who", "viewer")
        page.open("/#/?platform=telegram&channel=7")  # by platform and channel
        page.text_in("#agents", "telegram:user:7")
        keys = [row.get_attribute("data-key") for row in page.all("#agents tr[data-key]")]
        assert keys == ["telegram:user:7"]
        page.open("/#/")
        page.wait.until(lambda d: page.find("#f-channel").get_property("value") == "")
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
        for needed in ("#pause", "#erase", ".save"):
            assert page.all(needed), f"{needed} is shown (disabled) to a viewer"
        page.click('[data-block="human"] .show-history')
        page.text_in('[data-block="human"] .edits', "agent")
        assert page.all(".revert") and not any(r.is_enabled() for r in page.all(".revert"))
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
