"""Live changes for the panel: one ``LISTEN`` connection per process, fanned out.

:class:`AlertStream` holds a single dedicated connection listening on
:data:`alerts.lifecycle.CHANNEL` (``alerts_changed``) and
:data:`monitoring.gateway_status.CHANNEL` (``gateways_changed``). For each alert notification it
looks up, once, who may see the alert (the patient's site and panel members) and hands a
:class:`StreamEvent` to every subscriber allowed to see it (:func:`homeward.auth.can_see_patient`);
a gateway notification names its site and goes to every subscriber of that site
(:func:`homeward.auth.can_see_gateway`). A gateway that falls *silent* sends nothing that could be
notified, so the hub also sweeps ``gateway_status`` every ``gateway_sweep_s`` for gateways whose
silence began since the last sweep, and sends the same event for them. Subscribers are the
server-sent-event responses of ``GET /api/v1/alerts/stream``.

Nothing here is a source of truth. An event only says *which* alert or gateway changed; the page
then refetches the list through the access-checked, audited API. When the listener reconnects
after a database outage, or a slow subscriber's queue overflows, subscribers receive a ``resync``
event and refetch everything, so a missed notification costs a refetch, never a missed alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.lifecycle import CHANNEL
from homeward.auth import Principal, can_see_gateway, can_see_patient
from monitoring.gateway_status import CHANNEL as GATEWAYS_CHANNEL
from monitoring.gateway_status import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    MIN_SILENT_S,
    SILENT_AFTER_INTERVALS,
)

log = logging.getLogger(__name__)

# Events waiting for one slow subscriber before it is told to resync instead.
_QUEUE_SIZE = 256
_RECONNECT_MIN_S = 0.5
_RECONNECT_MAX_S = 15.0
#: Seconds between two sweeps for gateways that just turned silent: how late, at most, a panel
#: learns of a silence (which itself takes three heartbeat intervals to establish).
DEFAULT_GATEWAY_SWEEP_S = 10.0

# Gateways whose silence (monitoring.gateway_status.silent_after_s, in SQL) began in
# (since, until]: each is announced once, by the sweep whose window holds that moment.
_NEWLY_SILENT = (
    "SELECT gateway_id, site_id FROM ("
    " SELECT gateway_id, site_id, last_heard_at + make_interval(secs => greatest("
    "  %(intervals)s * coalesce(heartbeat_interval_s, %(default_s)s), %(min_s)s)) AS silent_at"
    " FROM gateway_status WHERE state = 'online' AND last_heard_at IS NOT NULL) t"
    " WHERE silent_at > %(since)s AND silent_at <= %(until)s"
)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """``alert``: alert ``alert_id`` changed (``action`` as in ``alert_events``); ``gateways``:
    the status of gateway ``gateway_id`` changed; ``resync``: changes may have been missed,
    refetch everything; ``close``: the server is shutting down."""

    kind: Literal["alert", "gateways", "resync", "close"]
    alert_id: int | None = None
    action: str | None = None
    gateway_id: str | None = None


_RESYNC = StreamEvent("resync")
_CLOSE = StreamEvent("close")


class Subscription:
    """One subscriber's queue of events. Iterate with :meth:`get`; always :meth:`close`."""

    def __init__(self, hub: AlertStream, principal: Principal) -> None:
        self.principal = principal
        self._hub = hub
        self._queue: asyncio.Queue[StreamEvent] = asyncio.Queue(_QUEUE_SIZE)
        self._overflowed = False

    def offer(self, event: StreamEvent) -> None:
        """Queue ``event`` without waiting; on overflow, drop and ask for a resync instead."""
        if self._overflowed and event.kind in ("alert", "gateways"):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._overflowed = True
            # Make room for the one event that matters: refetch everything.
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._queue.put_nowait(_CLOSE if event.kind == "close" else _RESYNC)

    async def get(self) -> StreamEvent:
        """The next event (waits)."""
        event = await self._queue.get()
        if event.kind == "resync":
            self._overflowed = False
        return event

    def close(self) -> None:
        self._hub._remove(self)


class AlertStream:
    """The process's single listener on ``alerts_changed`` and its subscribers."""

    def __init__(
        self,
        url: str,
        pool: AsyncConnectionPool[Any],
        *,
        gateway_sweep_s: float = DEFAULT_GATEWAY_SWEEP_S,
    ) -> None:
        self._url = url
        self._pool = pool
        self._gateway_sweep_s = gateway_sweep_s
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.connected = False  # the listener is connected and listening right now

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Start listening in a background task (returns at once; reconnects by itself)."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._listen(), name="alert-stream-listener")
        self._sweep_task = asyncio.create_task(self._sweep_silence(), name="gateway-silence-sweep")

    async def stop(self) -> None:
        """Close every subscription and stop listening."""
        self.close_subscribers()
        for task in (self._task, self._sweep_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._sweep_task = None

    def close_subscribers(self) -> None:
        """Tell every subscriber (and any later one) to end its stream: the server is stopping."""
        self._closing = True
        for sub in list(self._subscribers):
            sub.offer(_CLOSE)

    def close_subscribers_threadsafe(self) -> None:
        """:meth:`close_subscribers` from another thread (the server's stopping thread)."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped in between
                self._loop.call_soon_threadsafe(self.close_subscribers)

    def subscribe(self, principal: Principal) -> Subscription:
        """A new subscription for ``principal``; it sees only alerts of patients it may see and
        gateways of its own site."""
        sub = Subscription(self, principal)
        if self._closing:
            sub.offer(_CLOSE)
        else:
            self._subscribers.add(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def _broadcast(self, event: StreamEvent) -> None:
        for sub in list(self._subscribers):
            sub.offer(event)

    async def _listen(self) -> None:
        delay = _RECONNECT_MIN_S
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name="homeward-alert-stream"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {GATEWAYS_CHANNEL}")
                    self.connected = True
                    delay = _RECONNECT_MIN_S
                    # Notifications sent while we were not listening are lost: whoever is
                    # already subscribed refetches (nobody is, on the first connection).
                    self._broadcast(_RESYNC)
                    async for notify in conn.notifies():
                        if notify.channel == GATEWAYS_CHANNEL:
                            self._dispatch_gateway(notify.payload)
                        else:
                            await self._dispatch(notify.payload)
            except asyncio.CancelledError:
                self.connected = False
                raise
            except Exception:
                self.connected = False
                log.exception("alert stream listener lost; reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)

    async def _dispatch(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            alert_id = int(data["alert_id"])
            action = str(data.get("action", ""))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed %s payload %r", CHANNEL, payload)
            return
        if not self._subscribers:
            return
        audience = await self._audience(alert_id)
        if audience is None:
            return
        site_id, members = audience
        event = StreamEvent("alert", alert_id, action)
        for sub in list(self._subscribers):
            if can_see_patient(sub.principal, patient_site_id=site_id, panel_member_ids=members):
                sub.offer(event)

    def _dispatch_gateway(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            gateway_id = str(data["gateway_id"])
            site_id = int(data["site_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed %s payload %r", GATEWAYS_CHANNEL, payload)
            return
        self._offer_gateway(gateway_id, site_id)

    def _offer_gateway(self, gateway_id: str, site_id: int) -> None:
        event = StreamEvent("gateways", gateway_id=gateway_id)
        for sub in list(self._subscribers):
            if can_see_gateway(sub.principal, gateway_site_id=site_id):
                sub.offer(event)

    async def _sweep_silence(self) -> None:
        """Announce gateways whose silence began since the previous sweep (runs until cancelled).

        The window advances only after a sweep that succeeded, so a database outage delays the
        events but loses none; subscribers (re)connecting refetch everything anyway.
        """
        since: Any = None
        while True:
            await asyncio.sleep(self._gateway_sweep_s)
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute("SELECT now() AS now")
                    row = await cur.fetchone()
                    assert row is not None
                    until = row["now"]
                    silent = []
                    if since is not None:
                        cur = await conn.execute(
                            _NEWLY_SILENT,
                            {
                                "intervals": SILENT_AFTER_INTERVALS,
                                "default_s": DEFAULT_HEARTBEAT_INTERVAL_S,
                                "min_s": MIN_SILENT_S,
                                "since": since,
                                "until": until,
                            },
                        )
                        silent = await cur.fetchall()
                since = until
            except Exception as exc:
                log.warning("gateway silence sweep failed (%s); retrying", type(exc).__name__)
                continue
            for r in silent:
                self._offer_gateway(str(r["gateway_id"]), int(r["site_id"]))

    async def _audience(self, alert_id: int) -> tuple[int, list[int]] | None:
        """The alert's patient's site and panel members, or None if the alert is gone."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT p.site_id,"
                " coalesce(array_agg(pm.user_id) FILTER (WHERE pm.user_id IS NOT NULL), '{}')"
                " AS members"
                " FROM alerts a JOIN patients p ON p.id = a.patient_id"
                " LEFT JOIN panel_members pm ON pm.panel_id = p.panel_id"
                " WHERE a.id = %s GROUP BY p.site_id",
                (alert_id,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return int(row["site_id"]), [int(m) for m in row["members"]]


async def sse_events(
    sub: Subscription,
    *,
    heartbeat_s: float,
    still_valid: Callable[[], Awaitable[bool]],
    listener_connected: Callable[[], bool],
) -> AsyncIterator[str]:
    """Server-sent-event text for one subscription (see :mod:`alerts.api` for the protocol)."""
    yield "retry: 3000\n\n"
    yield _sse("ready", {"listening": listener_connected()})
    while True:
        try:
            event = await asyncio.wait_for(sub.get(), timeout=heartbeat_s)
        except TimeoutError:
            if not await still_valid():
                yield _sse("session-ended", {})
                return
            yield ": heartbeat\n\n"
            continue
        if event.kind == "close":
            yield _sse("closing", {})
            return
        if event.kind == "resync":
            yield _sse("resync", {})
        elif event.kind == "gateways":
            yield _sse("gateways", {"gateway_id": event.gateway_id})
        else:
            yield _sse("alert", {"alert_id": event.alert_id, "action": event.action})


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
