"""The embedded simulator on its own thread and event loop (still in-process, on loopback).

The simulator computes its market on demand: a multi-price answer of 30 symbols costs it tens
of milliseconds of CPU. On the collector's own event loop that would stall the scalp strikes
and the socket reader for as long; on a thread of its own it only shares the interpreter, so
the collector's loop keeps its timing (the GIL switches every few milliseconds).

Only thread-safe things cross: the simulator's URLs and credentials, and its ``SimClock``
(pure arithmetic on the system's monotonic clock). Faults are configured up front
(``SimConfig.faults``) or injected over its admin endpoint (HTTP); the ground truth is read
once the simulator has stopped.

A mid-day start warms the market up before it starts (``SimConfig.warm_up``): tens of
seconds for a large market late in the day. So the start-up is bounded by its progress, not
by a fixed total: it fails when no step of the warm-up is done for ``start_timeout_s``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

if TYPE_CHECKING:  # pragma: no cover
    from observer.sim import SimConfig, Simulator

__all__ = ["simulator_thread"]


@asynccontextmanager
async def simulator_thread(
    config: SimConfig, *, start_timeout_s: float = 30.0
) -> AsyncIterator[Simulator]:
    """Run ``serve_simulator(config)`` on a thread for the duration of the block."""
    from observer.sim import serve_simulator

    ready = threading.Event()
    box: dict[str, Any] = {}
    last_progress = [time.monotonic()]

    def progress(_done: int, _total: int) -> None:
        last_progress[0] = time.monotonic()  # a float store: atomic under the GIL

    async def main() -> None:
        with anyio.CancelScope() as scope:
            box["scope"] = scope
            box["loop"] = asyncio.get_running_loop()
            try:
                async with serve_simulator(config, on_warm_up=progress) as sim:
                    box["sim"] = sim
                    ready.set()
                    await anyio.sleep_forever()
            finally:
                ready.set()

    def target() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # reported to the caller's thread below
            box["error"] = exc
        finally:
            ready.set()

    def wait_ready() -> None:
        while not ready.wait(0.1):
            if time.monotonic() - last_progress[0] > start_timeout_s:
                return

    thread = threading.Thread(target=target, name="kis-simulator", daemon=True)
    thread.start()
    try:
        await anyio.to_thread.run_sync(wait_ready, abandon_on_cancel=True)
        if "sim" not in box:
            error = box.get("error")
            raise RuntimeError(
                "the simulator did not start"
                + (f": {error!r}" if error else f": no progress for {start_timeout_s:g} s")
            )
        yield box["sim"]
    finally:
        loop, scope = box.get("loop"), box.get("scope")
        if loop is not None and scope is not None and thread.is_alive():
            loop.call_soon_threadsafe(scope.cancel)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join, 10.0)
