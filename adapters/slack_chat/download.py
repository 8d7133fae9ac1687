"""Fetching a file someone shared with the bot: ``files.info``, then a GET of its private URL
with the bot token.

Two Slack traps are handled here. Without a valid ``Authorization`` header (or without the
``files:read`` scope) Slack answers ``200`` with an HTML sign-in page instead of the file, so
a download is kept only if it is the file asked for: an HTML body for a file that is not
HTML is refused, and so is any body whose size is not the size ``files.info`` gave (which
catches a sign-in or error page in place of an HTML file too). And the bot token is only
ever sent to Slack's own file hosts: an external file (Google Drive...) has a
``url_private`` elsewhere, which must never see the token.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_chat.errors import CALL_ERRORS, error_code
from core.errors import UploadError
from core.inbound.messages import Attachment

log = logging.getLogger(__name__)

SLACK_FILE_HOSTS = (".slack.com", ".slack-edge.com", ".slack-gov.com")
_CHUNK = 64 * 1024


def describe_size(size: int) -> str:
    """A size for people: ``"512 bytes"``, ``"300 KB"``, ``"20 MB"``, ``"1.5 MB"``."""
    if size < 1024:
        return f"{size} bytes"
    if size < 2**20:
        return f"{size / 1024:.0f} KB"
    return f"{size / 2**20:.1f}".removesuffix(".0") + " MB"


def too_large(size: int | None, limit: int) -> UploadError:
    have = f" ({describe_size(size)})" if size is not None else ""
    return UploadError(
        f"That file is too large{have}: I can read files up to {describe_size(limit)}."
    )


class SlackDownloads:
    """Downloads shared files. ``session`` is an ``aiohttp.ClientSession`` the adapter owns
    (opened in ``start()``, closed in ``stop()``); ``api_host`` is also trusted with the
    token (for a Slack-compatible test server or proxy)."""

    def __init__(
        self,
        client: AsyncWebClient,
        token: str,
        session: aiohttp.ClientSession,
        *,
        api_host: str | None = None,
    ) -> None:
        self.client = client
        self._token = token
        self.session = session
        self.api_host = api_host

    async def download(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The file's bytes; ``UploadError`` (worded for the user) when it is larger than
        ``max_bytes``, gone, external, or Slack will not hand it over."""
        info = await self._info(attachment.ref)
        if info.get("is_external") or info.get("mode") in ("external", "snippet_external"):
            kind = info.get("external_type") or "another service"
            raise UploadError(
                f"That file is stored in {kind}, not in Slack, so I can't read it. "
                "Please upload the file itself."
            )
        size = info.get("size")
        if isinstance(size, int) and size > max_bytes:
            raise too_large(size, max_bytes)
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        if not url or not self._trusted(url):
            log.warning("refused to download file %s from an unexpected host", attachment.ref)
            raise UploadError("I can't download that file from Slack.")
        expected = size if isinstance(size, int) and size > 0 else None
        return await self._fetch(
            url, attachment, str(info.get("mimetype") or ""), expected, max_bytes
        )

    async def _info(self, file_id: str) -> dict[str, object]:
        try:
            response = await self.client.files_info(file=file_id)
        except SlackApiError as exc:
            code = error_code(exc)
            if code in ("file_not_found", "file_deleted"):
                raise UploadError("That file is no longer on Slack.") from exc
            if code == "missing_scope":
                log.warning("Slack app lacks the files:read scope; cannot read shared files")
                raise UploadError("I'm not allowed to read files in this workspace.") from exc
            log.warning("files.info failed for %s: %s", file_id, code)
            raise UploadError("Slack didn't give me that file just now; please try again.") from exc
        except CALL_ERRORS as exc:
            log.warning("files.info failed for %s: %s", file_id, error_code(exc))
            raise UploadError("Slack didn't give me that file just now; please try again.") from exc
        file = response.get("file")
        if not isinstance(file, dict):
            raise UploadError("Slack didn't give me that file just now; please try again.")
        return file

    def _trusted(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self.api_host and host == self.api_host:
            return True
        return parts.scheme == "https" and host.endswith(SLACK_FILE_HOSTS)

    async def _fetch(
        self,
        url: str,
        attachment: Attachment,
        expected_mime: str,
        expected_size: int | None,
        max_bytes: int,
    ) -> bytes:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self.session.get(url, headers=headers) as response:
                if response.status != 200:
                    log.warning("download of %s answered HTTP %d", attachment.ref, response.status)
                    raise UploadError("Slack didn't give me that file just now; please try again.")
                html = response.content_type == "text/html"
                if html and expected_mime != "text/html":
                    raise _sign_in_page(attachment)
                if response.content_length is not None and response.content_length > max_bytes:
                    raise too_large(response.content_length, max_bytes)
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > max_bytes:
                        raise too_large(None, max_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("download of %s failed: %s", attachment.ref, type(exc).__name__)
            raise UploadError("The download from Slack failed; please try again.") from exc
        if expected_size is not None and len(body) != expected_size:
            # Not the file asked for: a sign-in or error page in its place.
            if html:
                raise _sign_in_page(attachment)
            log.warning(
                "download of %s gave %d bytes, not the %d of the file",
                attachment.ref,
                len(body),
                expected_size,
            )
            raise UploadError("Slack gave me something other than that file; please try again.")
        return bytes(body)


def _sign_in_page(attachment: Attachment) -> UploadError:
    log.warning(
        "download of %s returned a page instead of the file (Slack's sign-in page?): check "
        "the bot token and the files:read scope",
        attachment.ref,
    )
    return UploadError(
        "Slack asked me to sign in instead of giving me the file, so I couldn't read it. "
        "The bot's Slack permissions may need fixing."
    )
