"""The composition root and entry points: the only place that names concrete adapters."""
