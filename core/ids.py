"""Fresh ids: the id source port's default implementation."""

from __future__ import annotations

import uuid


class RandomIds:
    def new_id(self) -> str:
        return uuid.uuid4().hex
