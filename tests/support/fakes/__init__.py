"""Protocol-level fakes of third-party chat platforms, served on 127.0.0.1 for tests."""
