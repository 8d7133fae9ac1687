"""The operator API, wired: its services from the running ``Service``, and a uvicorn server
in the same event loop as the agents (``serve_api``), stopped with the rest.

Every replica serves it: reads go straight to the shared stores, and a change to an agent's
state goes through the agent's inbox to whichever worker runs it (``core.operator.changes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import uvicorn
from fastapi import FastAPI

from adapters.http_api import ApiSettings, create_app
from adapters.inmemory.operator import InMemoryAgentDirectory
from adapters.openai_compatible.chat import request_writer
from bots.bootstrap import Service
from core.errors import ConfigurationError
from core.operator.agent_data import OperatorAgentData
from core.operator.agents import AgentDirectory
from core.operator.archival import OperatorArchival
from core.operator.audit import Audit
from core.operator.changes import ChangeRequests
from core.operator.chat import PersonChat
from core.operator.checkins import OperatorCheckins
from core.operator.context import ContextWindows
from core.operator.conversation import Conversations
from core.operator.insight import AgentInsight
from core.operator.keys import ApiKeys
from core.operator.memory import OperatorMemory
from core.operator.messages import OperatorMessages
from core.operator.persons import OperatorPersons
from core.operator.services import OperatorServices, UsagePricing
from core.operator.traces import TurnTraces
from core.operator.uploads import UploadJobs
from core.operator.usage import Price
from core.tasks import BackgroundTasks

log = logging.getLogger(__name__)


def pagemind_version() -> str:
    try:
        return version("pagemind")
    except PackageNotFoundError:
        return "0"


def operator_services(svc: Service) -> OperatorServices:
    """Everything an operator can do, over the service's stores and dispatcher."""
    settings, storage, clock = svc.settings, svc.storage, svc.clock
    audit = Audit(storage.audit, clock)
    pipeline = svc.uploads
    messages = OperatorMessages(agents=storage.agents, recall=storage.recall)
    services = OperatorServices(
        clock=clock,
        keys=ApiKeys(storage.api_keys, clock),
        audit=audit,
        agents=AgentDirectory(
            storage.agents,
            storage.archival,
            storage.directory or InMemoryAgentDirectory(storage.agents),
            global_budget=settings.daily_token_budget,
        ),
        changes=ChangeRequests(
            agents=storage.agents,
            inbox=storage.inbox,
            clock=clock,
            submit_and_wait=svc.dispatcher.submit_and_wait,
            audit=audit,
            wait_seconds=settings.api_write_wait_seconds,
        ),
        archival=OperatorArchival(
            agents=storage.agents,
            archival=storage.archival,
            counter=svc.counter,
            clock=clock,
            audit=audit,
            embedder=svc.embedder,
        ),
        checkins=OperatorCheckins(
            agents=storage.agents, service=svc.checkins, clock=clock, audit=audit
        ),
        uploads=UploadJobs(
            ingest=pipeline.ingest,
            store=storage.upload_jobs,
            agents=storage.agents,
            clock=clock,
            audit=audit,
            max_bytes=pipeline.settings.max_bytes,
            tasks=BackgroundTasks(),
        ),
        pricing=UsagePricing(
            model=settings.model_name,
            prices={
                name: Price(p.prompt, p.completion, p.cached_prompt)
                for name, p in settings.prices.items()
            },
            global_budget=settings.daily_token_budget,
        ),
        insight=AgentInsight(
            messages=messages,
            context=ContextWindows(
                agents=storage.agents,
                recall=storage.recall,
                layout=svc.runtime.layout,
                counter=svc.counter,
                settings=svc.runtime.settings,
            ),
            conversations=Conversations(
                agents=storage.agents,
                recall=storage.recall,
                inbox=storage.inbox,
                feed=svc.feed,
                submit_and_wait=svc.dispatcher.submit_and_wait,
                clock=clock,
                audit=audit,
            ),
            traces=TurnTraces(
                agents=storage.agents,
                messages=messages,
                system_texts=storage.system_texts,
                layout=svc.runtime.layout,
                writer=request_writer(
                    settings.model_name, settings.llm_base_url, settings.llm_temperature
                )
                if settings.llm_configured
                else None,
            ),
        ),
        chat=PersonChat(
            agents=storage.agents,
            recall=storage.recall,
            inbox=storage.inbox,
            clock=clock,
            submit_and_wait=svc.dispatcher.submit_and_wait,
            wait_seconds=settings.api_chat_wait_seconds,
        ),
    )
    services.memory = OperatorMemory(
        agents=storage.agents, edits=storage.memory_edits, changes=services.changes
    )
    services.agent_data = OperatorAgentData(
        agents=storage.agents,
        recall=storage.recall,
        archival=storage.archival,
        inbox=storage.inbox,
        checkins=storage.checkins,
        edits=storage.memory_edits,
        jobs=storage.upload_jobs,
        clock=clock,
        audit=audit,
        forget=svc.runtime.forget,
    )
    services.persons = OperatorPersons(
        directory=services.agents,
        data=services.agent_data,
        agents=storage.agents,
        recall=storage.recall,
        edits=storage.memory_edits,
        changes=services.changes,
        clock=clock,
        audit=audit,
    )
    return services


def api_app(svc: Service, services: OperatorServices) -> FastAPI:
    settings = svc.settings
    return create_app(
        services,
        ApiSettings(
            version=pagemind_version(),
            max_body_bytes=settings.api_max_body_kb * 1024,
            max_upload_bytes=int(settings.max_upload_mb * 2**20),
            requests_per_minute=settings.api_requests_per_minute,
        ),
    )


class _Server(uvicorn.Server):
    """uvicorn in our event loop: the process's own stop signals (``bots.stopping``) decide
    when it stops, so uvicorn installs none."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningApi:
    url: str
    services: OperatorServices
    server: uvicorn.Server

    @property
    def uploads(self) -> UploadJobs:
        return self.services.uploads

    def stop(self) -> None:
        """Accept no new connection; the requests under way finish."""
        self.server.should_exit = True


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, so a port in use is one clear configuration error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (without it
    # every response waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"the operator API cannot listen on {host}:{port} ({exc.strerror}); set "
            "PAGEMIND_API_LISTEN / PAGEMIND_API_PORT (0: any free port)"
        ) from None
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def serve_api(
    svc: Service, services: OperatorServices | None = None
) -> AsyncIterator[RunningApi]:
    """Serve the operator API until the block ends (or ``stop``), then wait for the requests
    under way (up to the shutdown grace) and stop the upload jobs still running."""
    settings = svc.settings
    services = services or operator_services(svc)
    sock = listening_socket(settings.api_listen, settings.api_port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        api_app(svc, services),
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="operator-api")
    running = RunningApi(f"http://{shown}:{port}", services, server)
    try:
        while not server.started:
            if task.done():
                task.result()  # its failure, if it failed
                raise ConfigurationError("the operator API stopped as it started")
            await asyncio.sleep(0.01)
        log.info("operator API on %s (docs at %s/docs)", running.url, running.url)
        yield running
    finally:
        server.should_exit = True
        await asyncio.wait({task})
        sock.close()
        await services.uploads.aclose()
