"""Functions the model can call: the registry (schemas from signatures) and MemGPT's set."""

from core.tools.registry import Tool, ToolContext, ToolRegistry, ToolResult

__all__ = ["Tool", "ToolContext", "ToolRegistry", "ToolResult"]
