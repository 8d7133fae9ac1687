"""Pagemind's MemGPT runtime: pure Python, talks to the world only through `core.ports`."""
