"""The OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, llama.cpp, LM Studio, ...): chat
completions with tool calls for the LLM port, and ``/v1/embeddings`` for the embedder port."""
