"""Plain text: one unlabelled section, or one per page where form feeds mark page breaks."""

from __future__ import annotations

from .collect import SectionCollector

_FORM_FEED = "\f"


def parse_plain_text(text: str, sink: SectionCollector) -> None:
    """Add a decoded plain-text document to ``sink``."""
    if _FORM_FEED not in text:
        sink.add(None, text)
        return
    for number, page in enumerate(text.split(_FORM_FEED), start=1):
        if number % 100 == 0:
            sink.check_time(f"page {number:,}")
        if page.strip():
            sink.add(f"page {number}", page)
