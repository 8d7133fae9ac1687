"""Files into archival memory: every format, every bad input, once, all or nothing."""

from __future__ import annotations

import json

import pytest

from adapters.documents import parse_document
from core.errors import UploadError
from core.events import Address
from core.records import ArchivalQuery
from core.uploads.pipeline import UploadPipeline, UploadSettings
from tests.support.agents import Harness
from tests.support.files import (
    docx_bytes,
    encrypted_pdf,
    image_only_pdf,
    pdf_bytes,
    png_bytes,
    zip_bomb_docx,
)
from tests.support.scripted import ScriptedModel, call, say

AGENT = "telegram:user:1"


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[int, int]] = []
        self.final = ""

    async def update(self, done: int, total: int, text: str) -> None:
        self.updates.append((done, total))

    async def finish(self, text: str) -> None:
        self.final = text


def pipeline(h: Harness, **kw) -> UploadPipeline:
    return UploadPipeline(
        archival=h.archival,
        parser=parse_document,
        counter=h.counter,
        clock=h.clock,
        notify=_notify(),
        embedder=kw.pop("embedder", None),
        settings=UploadSettings(**kw),
    )


def _notify():
    """Records the events the pipeline sends."""
    events = []

    async def notify(event) -> bool:
        events.append(event)
        return True

    notify.events = events  # type: ignore[attr-defined]
    return notify


async def search(h: Harness, words: str, limit: int = 10):
    return await h.archival.search(AGENT, ArchivalQuery(text=words, limit=limit))


FORMATS = [
    (
        "notes.txt",
        b"The spare key is under the blue flowerpot.\n\nSecond paragraph about tomatoes.",
        "flowerpot",
        None,
    ),
    (
        "guide.md",
        b"# Setup\n\nInstall the pump first.\n\n## Wiring\n\nThe red wire goes to terminal B.",
        "terminal",
        "Setup > Wiring",
    ),
    (
        "page.html",
        b"<html><body><h1>Recipes</h1><p>Bake the sourdough at 230 degrees.</p>"
        b"<script>x()</script></body></html>",
        "sourdough",
        "Recipes",
    ),
    ("data.csv", b"name,city\nAna,Lisbon\nRui,Porto\n", "Porto", "rows 1-2"),
    (
        "config.json",
        json.dumps({"server": {"port": 8080, "host": "example.org"}}).encode(),
        "8080",
        None,
    ),
    (
        "tool.py",
        b"def frobnicate(x):\n    '''Frobnicate the widget.'''\n    return x * 2\n",
        "frobnicate",
        "function frobnicate",
    ),
]


@pytest.mark.parametrize(("name", "data", "word", "label"), FORMATS)
async def test_each_text_format_becomes_cited_passages(name, data, word, label) -> None:
    h = Harness(ScriptedModel())
    result = await pipeline(h).ingest(AGENT, name, data)
    assert result.outcome == "stored" and result.passages >= 1, result.message
    found = await search(h, word)
    assert found.items, f"{word!r} not found in {name}"
    passage = found.items[0]
    assert passage.source == name and passage.document_id is not None
    if label:
        assert passage.section == label


async def test_pdf_and_docx() -> None:
    h = Harness(ScriptedModel())
    p = pipeline(h)
    pdf = await p.ingest(
        AGENT, "manual.pdf", pdf_bytes(["Intro page", "The warranty lasts two years."])
    )
    assert pdf.outcome == "stored"
    hit = (await search(h, "warranty")).items[0]
    assert hit.section == "page 2" and hit.citation().startswith("manual.pdf, page 2")
    doc = await p.ingest(AGENT, "report.docx", docx_bytes())
    assert doc.outcome == "stored" and doc.passages >= 1


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("virus.exe", b"MZ\x90\x00" * 10, "can't read .exe"),
        ("empty.txt", b"", "empty"),
        ("scan.pdf", image_only_pdf(), "no text layer"),
        ("locked.pdf", encrypted_pdf(["secret"], user_password="pw"), "password"),
        ("broken.pdf", pdf_bytes(["some text"])[:200], "couldn't read"),
        ("bomb.docx", zip_bomb_docx(), "zip bomb"),
        ("photo.txt", png_bytes(), "isn't text"),
        ("noise.txt", bytes(range(1, 32)) * 200, "mostly binary data or control characters"),
    ],
)
async def test_bad_input_gets_a_clear_message_and_leaves_nothing(name, data, expected) -> None:
    h = Harness(ScriptedModel())
    progress = Recorder()
    result = await pipeline(h).ingest(AGENT, name, data, progress=progress)
    assert result.outcome == "rejected"
    assert expected in result.message, result.message
    assert "Traceback" not in result.message and progress.final == result.message
    assert await h.archival.count(AGENT) == 0
    # and the same name can be uploaded again once fixed
    fixed = await pipeline(h).ingest(AGENT, "fixed.txt", b"now it is fine")
    assert fixed.outcome == "stored"


async def test_a_file_over_the_limit_is_refused_before_parsing() -> None:
    h = Harness(ScriptedModel())
    result = await pipeline(h, max_bytes=2 * 2**20).ingest(AGENT, "big.txt", b"word " * 2**20)
    assert result.outcome == "rejected"
    assert result.message.startswith('"big.txt" is 5.0 MB; I can take files of up to 2 MB.')


async def test_a_limit_raised_above_the_default_is_honoured() -> None:
    """21 MB, over the parser's own default of 20 MiB; mostly blank, so that it is quick to
    store (what 21 MB of prose costs is measured in ``bench/uploads.py``)."""
    h = Harness(ScriptedModel())
    big = b"The boat is called Maria.\n" + b" " * (21 * 2**20) + b"\nShe sleeps four."
    assert (await pipeline(h).ingest(AGENT, "big.txt", big)).outcome == "rejected"
    result = await pipeline(h, max_bytes=25 * 2**20).ingest(AGENT, "big.txt", big)
    assert result.outcome == "stored", result.message
    found = await search(h, "Maria sleeps four")
    assert found.total == 1 and "The boat is called Maria." in found.items[0].text


async def test_the_same_file_twice_is_stored_once() -> None:
    h = Harness(ScriptedModel())
    p = pipeline(h)
    first = await p.ingest(AGENT, "notes.txt", b"The boat is called Maria.")
    again = await p.ingest(AGENT, "copy-of-notes.txt", b"The boat is called Maria.")
    assert first.outcome == "stored" and again.outcome == "duplicate"
    assert "already have" in again.message
    assert await h.archival.count(AGENT) == first.passages
    other = await p.ingest("telegram:user:2", "notes.txt", b"The boat is called Maria.")
    assert other.outcome == "stored", "another agent gets its own copy"


async def test_a_failure_halfway_leaves_none_of_the_file_searchable() -> None:
    class Failing:
        name = "fails-on-third-batch"

        def __init__(self) -> None:
            self.calls = 0

        async def embed(self, texts):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("embedding service died")
            return [(1.0, 0.0)] * len(texts)

    h = Harness(ScriptedModel())
    text = "\n\n".join(
        f"Chapter {i}: the lighthouse keeper wrote about storm {i}." * 8 for i in range(80)
    )
    embedder = Failing()
    with pytest.raises(RuntimeError):
        await pipeline(h, embedder=embedder, batch=8).ingest(AGENT, "log.txt", text.encode())
    assert embedder.calls == 3
    assert await h.archival.count(AGENT) == 0
    assert (await search(h, "lighthouse storm")).total == 0
    retry = await pipeline(h, batch=8).ingest(AGENT, "log.txt", text.encode())
    assert retry.outcome == "stored" and await h.archival.count(AGENT) == retry.passages


async def test_long_files_report_progress_and_embeddings_are_batched() -> None:
    class Counting:
        name = "unit"

        def __init__(self) -> None:
            self.batches: list[int] = []

        async def embed(self, texts):
            self.batches.append(len(texts))
            return [(1.0, float(len(t))) for t in texts]

    h = Harness(ScriptedModel())
    embedder = Counting()
    progress = Recorder()
    text = "\n\n".join(f"Paragraph {i} about gardening and compost heaps." * 6 for i in range(100))
    result = await pipeline(h, embedder=embedder, batch=16).ingest(
        AGENT, "garden.md", text.encode(), progress=progress
    )
    assert result.passages > 16
    assert max(embedder.batches) <= 16 and sum(embedder.batches) == result.passages
    assert progress.updates[-1] == (result.passages, result.passages)
    assert [d for d, _ in progress.updates] == sorted(d for d, _ in progress.updates)
    assert progress.final == f'Stored "garden.md": {result.passages} passages.'
    passages = await h.archival.all(AGENT)
    assert all(p.embedding is not None for p in passages)
    assert all(h.counter.count(p.text) <= UploadSettings().chunk_tokens for p in passages)


async def test_the_agent_is_told_in_its_queue_and_can_use_it() -> None:
    model = ScriptedModel(
        [
            call("archival_memory_search", query="warranty", request_heartbeat=True),
            say("Your manual says the warranty lasts two years."),
        ]
    )
    h = Harness(model)
    p = UploadPipeline(
        archival=h.archival,
        parser=parse_document,
        counter=h.counter,
        clock=h.clock,
        notify=lambda event: h.runtime.handle(event),  # type: ignore[arg-type, return-value]
    )
    address = Address(platform="test", channel_id="c1", is_direct=True)
    result = await p.ingest(
        AGENT, "manual.pdf", pdf_bytes(["The warranty lasts two years."]), reply_to=address
    )
    assert result.message == 'Stored "manual.pdf": 1 passage.', "one passage, not '1 passages'"
    first_prompt = model.requests[0].messages[-1].content
    assert (
        "Archive Storage Upload Complete: 1 passage from manual.pdf. (1 page, 1 section;"
        in first_prompt
    )
    assert "manual.pdf, page 1" in model.requests[1].messages[-1].content
    assert h.sink.texts == ["Your manual says the warranty lasts two years."]
    assert h.sink.sent[0].address == address


async def test_upload_errors_are_user_facing() -> None:
    assert issubclass(
        __import__("adapters.documents", fromlist=["DocumentError"]).DocumentError, UploadError
    )


async def test_a_chat_upload_that_fails_midway_says_so_and_keeps_nothing() -> None:
    from core.inbound.messages import Attachment, IncomingMessage, Sender
    from core.uploads.platform import PlatformUploads

    class Dying:
        name = "dies"

        async def embed(self, texts):
            raise RuntimeError("embedding service died")

    class Files:
        def __init__(self) -> None:
            self.statuses: list[str] = []

        async def download(self, attachment, max_bytes: int) -> bytes:
            return b"The lighthouse keeper wrote about storms.\n" * 50

        async def post_status(self, address, text: str) -> str:
            self.statuses.append(text)
            return "status-1"

        async def edit_status(self, address, message_id: str, text: str) -> None:
            self.statuses.append(text)

    h = Harness(ScriptedModel())
    files = Files()
    intake = PlatformUploads(pipeline(h, embedder=Dying()), files, max_bytes=2**20)
    message = IncomingMessage(
        platform="test", delivery_id="d1", message_id="m1", sender=Sender("u1", "Ana"),
        channel_id="c1", text="", received_at=h.clock.now(), is_direct=True,
    )  # fmt: skip
    assert await intake.accept(message, Attachment("log.txt", "f1"), AGENT) is None
    await intake.join()
    assert files.statuses[-1].startswith('I couldn\'t store "log.txt"'), files.statuses
    assert await h.archival.count(AGENT) == 0
