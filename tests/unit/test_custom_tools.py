"""Users register their own Python functions as tools."""

from __future__ import annotations

from typing import Literal

import pytest

from core.tools.memgpt import register_memgpt_tools
from core.tools.registry import ToolContext, ToolRegistry, build_tool
from tests.support.agents import Harness
from tests.support.scripted import ScriptedModel, call, say


def forecast(city: str, days: int = 3, units: Literal["metric", "imperial"] = "metric") -> str:
    """Get the weather forecast for a city.

    Args:
        city: the city name, e.g. "Lisbon"
        days: how many days ahead, 1 to 7
        units: metric or imperial
    """
    return f"{city}: sunny for {days} days ({units})"


def test_schema_comes_from_signature_and_docstring() -> None:
    schema = build_tool(forecast).schema
    assert schema.name == "forecast"
    assert schema.description == "Get the weather forecast for a city."
    props = schema.parameters["properties"]
    assert props["city"] == {"description": 'the city name, e.g. "Lisbon"', "type": "string"}
    assert props["days"] == {
        "default": 3,
        "description": "how many days ahead, 1 to 7",
        "type": "integer",
    }
    assert props["units"]["enum"] == ["metric", "imperial"]
    assert props["request_heartbeat"]["type"] == "boolean"
    assert schema.parameters["required"] == ["city", "request_heartbeat"]


def test_a_tool_without_docstring_or_hints_is_refused_at_registration() -> None:
    def nodoc(x: int) -> int:
        return x

    def nohint(x):
        """Does things."""

    with pytest.raises(ValueError, match="needs a docstring"):
        build_tool(nodoc)
    with pytest.raises(ValueError, match="needs a type hint"):
        build_tool(nohint)
    registry = ToolRegistry()
    registry.register(forecast)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(forecast)


async def test_custom_tool_runs_with_validated_arguments() -> None:
    seen: list[tuple[str, str]] = []

    async def remember_city(ctx: ToolContext, city: str) -> str:
        """Remember the user's city.

        Args:
            city: the city
        """
        seen.append((ctx.agent_key, city))
        return "ok"

    registry = register_memgpt_tools(ToolRegistry())
    registry.register(forecast)
    registry.register(remember_city)
    assert "ctx" not in build_tool(remember_city).schema.parameters["properties"]
    model = ScriptedModel(
        [
            call("forecast", city="Lisbon", days="not a number", request_heartbeat=True),
            call("forecast", city="Lisbon", days=2, request_heartbeat=True),
            call("remember_city", city="Lisbon", request_heartbeat=False),
        ]
    )
    h = Harness(model, tools=registry)
    await h.send("weather in Lisbon?")
    assert "days: Input should be a valid integer" in model.requests[1].messages[-1].content
    assert model.requests[2].messages[-1].content == "Lisbon: sunny for 2 days (metric)"
    assert seen == [("agent-1", "Lisbon")]
    assert "forecast" in [t.name for t in model.requests[0].tools]


async def test_a_slow_custom_tool_times_out_as_a_failed_call() -> None:
    import asyncio

    async def slow(x: int) -> str:
        """Take forever.

        Args:
            x: anything
        """
        await asyncio.sleep(10)
        return "never"

    registry = register_memgpt_tools(ToolRegistry(timeout=0.05))
    registry.register(slow)
    model = ScriptedModel([call("slow", x=1, request_heartbeat=False), say("it timed out")])
    h = Harness(model, tools=registry)
    await h.send("go")
    assert model.requests[1].messages[-1].content == "Failed: slow did not finish within 0.05 s."
