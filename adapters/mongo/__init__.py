"""MongoDB persistence on PyMongo's async API: every storage port of the core.

Works against a real MongoDB (replica set or Atlas) and the embedded nx-27017 server alike:
only single-document atomic operations, no transactions, no server-side relevance scores
(ranking happens in ``core.search.ranking``), and no compound-index-only query plans.
"""
