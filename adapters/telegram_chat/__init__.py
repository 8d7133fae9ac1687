"""Pagemind on Telegram: the Bot API through python-telegram-bot 22.

``TelegramAdapter`` turns Telegram updates into ``IncomingMessage`` values for the gateway,
and implements the ``ReplySink`` and ``PlatformFiles`` ports. See ``NOTES.md`` for setting the
bot up (BotFather, privacy mode, webhook or polling, several replicas).
"""

from adapters.telegram_chat.adapter import TelegramAdapter
from adapters.telegram_chat.delivery import DeliveryError, DeliveryRefused

__all__ = ["DeliveryError", "DeliveryRefused", "TelegramAdapter"]
