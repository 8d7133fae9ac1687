"""Slack: events in (Socket Mode or HTTP), replies, reactions and files out.

``SlackAdapter`` is the only name the composition root needs; see ``NOTES.md`` for setting
up the Slack app.
"""

from adapters.slack_chat.adapter import SlackAdapter
from adapters.slack_chat.errors import SlackDeliveryError

__all__ = ["SlackAdapter", "SlackDeliveryError"]
