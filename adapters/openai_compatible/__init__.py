"""The OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, llama.cpp, LM Studio, ...): chat
completions with tool calls for the LLM port, and ``/v1/embeddings`` for the embedder port.

Every module here imports ``openai``, so this package runs first, and keeps one optional
part of the SDK from loading: ``openai`` imports its bridge to aiohttp whenever aiohttp is
installed (it is, for discord.py), only to offer ``openai.DefaultAioHttpClient``, a transport
we never use (we talk through the SDK's default HTTP client). That import is about 10 MiB
resident in every process, ``pagemind chat`` included. Marking the bridge as absent makes the
SDK take its own path for an install without aiohttp; aiohttp itself stays importable for
discord.py.
"""

import sys

# None in sys.modules is Python's documented "this module cannot be imported" (typeshed allows
# only modules there).
sys.modules.setdefault("openai._vendor.httpx_aiohttp", None)  # type: ignore[arg-type]
