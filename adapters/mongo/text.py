"""Word search candidates from a MongoDB text index, the same on every server.

MongoDB's ``$text`` ORs the words of a query; nx-27017 ANDs them and does not score. So each
query term is asked for on its own and the union is ranked by ``core.ranking``. Documents
store our own stemmed ``terms``, so matching is identical too.

Each term is fetched unsorted with ``limit + 1``: a term with at most ``limit`` matches
brings all of them; a term with more is common, weighs little in BM25, and is left out of
candidate generation (it still counts when ranking the candidates the rarer terms brought).
If every term is common, the first ``limit`` matches of the least common one are used.
This keeps a search's cost bounded by ``terms x limit`` documents, however big the history
(nx-27017 spends ~45 µs per returned document, and must read every match to sort them).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from core.ranking import query_terms


async def candidates(
    collection: AsyncCollection[dict[str, Any]],
    query: str,
    where: dict[str, Any],
    *,
    order_field: str,
    key_field: str,
    limit: int,
    fields: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], bool]:
    """Documents (``key_field``, ``order_field``, ``terms`` and ``fields``) matching the
    query's rarer terms, oldest first, and whether some matches were left out."""
    projection = dict.fromkeys((key_field, order_field, "terms", *fields), 1)
    found: dict[Any, dict[str, Any]] = {}
    common: list[list[dict[str, Any]]] = []
    for term in query_terms(query):
        cursor = collection.find({**where, "$text": {"$search": term}}, projection).limit(limit + 1)
        docs = [doc async for doc in cursor]
        if len(docs) > limit:
            common.append(docs[:limit])
            continue
        for doc in docs:
            found[doc[key_field]] = doc
    if not found and common:
        for doc in common[0]:
            found[doc[key_field]] = doc
    return sorted(found.values(), key=lambda doc: doc[order_field]), bool(common)
