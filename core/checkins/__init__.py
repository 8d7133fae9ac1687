"""Scheduled check-ins: the values, the service that fires them once across replicas, and the
parsing of "when"."""
