"""One router per resource; each route says its role (``Viewer`` reads, ``Admin`` writes)."""
