"""The terminal chat: ``pagemind chat``."""
