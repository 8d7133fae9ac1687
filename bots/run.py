"""``pagemind run``: every configured platform, the agent workers, and a graceful stop.

On SIGTERM (or Ctrl-C): no new turn starts here (incoming events are still recorded in the
inbox); the turns under way and the uploads under way get the grace period to finish (a
second signal cuts it short), then are cancelled; the platforms disconnect and everything
closes. Nothing is lost: what was recorded and not finished is picked up by another replica
or at the next start, and the process exits non-zero if anything was left (see
``bots.stopping``).
"""

from __future__ import annotations

import asyncio
import logging

from bots.api import serve_api
from bots.bootstrap import bootstrap
from bots.platforms import NO_PLATFORM, PlatformAdapter, configured_platforms, policy_for
from bots.stopping import StopSignals, finish_turns
from config.settings import Settings

log = logging.getLogger(__name__)


async def run(settings: Settings, stop: StopSignals | None = None) -> int:
    """Run until a stop signal; returns the exit code (see ``bots.stopping``)."""
    platforms = configured_platforms()
    stop = stop or StopSignals().install()
    policies = {p.name: policy_for(p.settings) for p in platforms}
    async with bootstrap(settings, policies=policies) as svc, serve_api(svc) as api:
        if not platforms:
            log.warning("%s", NO_PLATFORM)
        started: list[PlatformAdapter] = []
        try:
            for platform in platforms:
                adapter = platform.build(svc.gateway, svc.gateway.policy(platform.name))
                svc.attach(platform.name, adapter)
                await adapter.start()
                started.append(adapter)
                log.info("%s: started", platform.name)
            log.info(
                "Pagemind is running: %s; storage %s",
                ", ".join([*(p.name for p in platforms), f"the operator API at {api.url}"]),
                svc.storage.description,
            )
            await stop.requested.wait()
            api.stop()  # no new requests; those under way finish
            grace = settings.shutdown_grace_seconds
            log.info("stopping: finishing the turns under way (up to %.0f s)", grace)
            deadline = asyncio.get_running_loop().time() + grace
            if not await finish_turns(svc.dispatcher, grace, stop):
                # What is cut off stays unfinished in the inbox and is resumed from its
                # last stored step by the next worker to take its agent.
                log.warning("grace period over: stopping the turns still running")
            try:
                async with asyncio.timeout_at(deadline):
                    await svc.intakes.join()
                    await api.uploads.join()
            except TimeoutError:
                log.warning("grace period over: stopping the uploads still running")
        finally:
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    log.exception("a platform did not stop cleanly")
            await svc.intakes.aclose()
        left = svc.dispatcher.left
    if left:
        log.warning(
            "stopped with %d event(s) unfinished: another replica or the next start processes them",
            left,
        )
    else:
        log.info("stopped")
    return stop.exit_code(left)
