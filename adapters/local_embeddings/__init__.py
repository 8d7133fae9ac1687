"""Embeddings computed on this machine (optional ``local-embeddings`` extra, needs torch)."""
