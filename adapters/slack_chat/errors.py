"""slack-sdk's errors, left over after its own retries, mapped onto Pagemind's error tree.

Nothing outside this package sees a ``SlackApiError``: a failure is either *permanent* (the
channel is gone, the bot was removed, a scope is missing: retrying cannot help, so callers log
it and move on) or *transient* (rate-limited after the retries allowed, a 5xx, a connection
error or timeout), raised as :class:`SlackDeliveryError`.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from core.errors import DeliveryError

#: Errors that no retry can fix: where the message was going is gone or closed to the bot,
#: or the app lacks a permission. Everything else is treated as transient.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "cannot_reply_to_message",
        "user_not_found",
        "user_not_in_channel",
        "user_disabled",
        "account_inactive",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "missing_scope",
        "not_allowed_token_type",
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "ekm_access_denied",
        "team_access_not_granted",
        "file_not_found",
        "file_deleted",
        "already_reacted",
        "no_reaction",
        "too_many_reactions",
    }
)

#: What the SDK raises when a call fails (after its retry handlers gave up).
CALL_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)


class SlackDeliveryError(DeliveryError):
    """Slack did not take a message, a status update or a file.

    ``code`` is Slack's error code (``"ratelimited"``, ``"channel_not_found"``...) or, for a
    failure before Slack answered, ``"connection_error"``. ``permanent`` says whether trying
    again later could work.
    """

    def __init__(self, message: str, *, code: str, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


def error_code(exc: BaseException) -> str:
    """Slack's error code for a failed call (``"connection_error"`` if it never answered)."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        if response.status_code == 429:
            return "ratelimited"
        return str(response.get("error") or f"http_{response.status_code}")
    if isinstance(exc, SlackClientError):
        return "request_error"
    return "connection_error"


def delivery_error(exc: BaseException, what: str) -> SlackDeliveryError:
    """The :class:`SlackDeliveryError` for ``exc``; ``what`` names the failed action."""
    code = error_code(exc)
    return SlackDeliveryError(
        f"Slack refused to {what}: {code}", code=code, permanent=code in PERMANENT
    )
