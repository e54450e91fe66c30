"""What a home gateway's stored status means for the people on call: its state and its issues,
each with a line an operator understands at night.

Pure functions over a ``gateway_status`` row (:mod:`monitoring.gateway_status`, stored by the
gateway-health consumer) and the time of the request; the API (:mod:`alerts.gateways_api`) and
the panel show what :func:`assess_gateway` returns.

States
    ``online``: heartbeats arrive. ``offline``: the gateway said so (clean stop) or the broker did
    (its last will: the connection died). ``silent``: connected as far as anyone knows, but no
    heartbeat for :func:`monitoring.gateway_status.silent_after_s` of its own interval (stuck).
    ``unknown``: registered but never heard from.

Issues, by severity (a gateway *needs attention* when one is ``warning`` or worse)
    ============================  ==========  ================================================
    code                          severity    when
    ============================  ==========  ================================================
    ``offline``, ``silent``       critical    the state says so
    ``readings_refused``          critical    clinical readings refused in the last 24 h, or the
                                              outbox still nearly full (warning if none was
                                              clinical; info once it is over)
    ``outbox_nearly_full``        warning     ≥ 90 % of the outbox bound held
    ``readings_thinned``          warning     wearable samples thinned in the last 24 h (then info)
    ``outbox_corrupt``            warning     a corrupt outbox file set aside in the last 7 days
                                              (then info: the kept file may still hold readings)
    ``config_rejected``           warning     while the gateway reports a refused cloud config
    ``clock_off``                 warning     the gateway's clock is off by more than 2 min
    any other problem code        warning     shown generically: code, device, message, fields
    ``never_reported``            info        registered, never heard from
    ============================  ==========  ================================================

Times in the lines are the site's local wall clock (``02:14``; with the date when not today).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from devices import parse_ts
from monitoring.gateway_status import (
    CLOCK_OFF_S,
    OUTBOX_NEARLY_FULL,
    STATE_OFFLINE,
    outbox_fill,
    silent_after_s,
)

GatewayState = Literal["online", "offline", "silent", "unknown"]
IssueSeverity = Literal["critical", "warning", "info"]
Urgency = Literal["critical", "warning", "info", "ok"]

_RANK: Mapping[str, int] = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
#: Refusals and thinning newer than this still need someone to look; older ones are history
#: (the counters are cumulative over the outbox file's life, docs/gateway-status-schema.md).
RECENT = timedelta(hours=24)
#: A corrupt outbox file is kept on the gateway and may hold readings found nowhere else; it
#: stays on the list for a week so that someone recovers it.
CORRUPTION_RECENT = timedelta(days=7)
# Message fields shown for a problem code this version does not know, in this order.
_MESSAGE_FIELDS = ("message", "detail", "error", "last_error", "reason")
_MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class GatewayIssue:
    """One thing wrong with a gateway: a stable ``code`` (a problem code of the heartbeat or one
    of ``offline``, ``silent``, ``outbox_nearly_full``, ``clock_off``, ``never_reported``), its
    severity, the plain-language ``text`` and since when (UTC; None when unknown)."""

    code: str
    severity: IssueSeverity
    text: str
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class GatewayAssessment:
    """A gateway's state and its issues, most severe first."""

    state: GatewayState
    issues: tuple[GatewayIssue, ...]

    @property
    def urgency(self) -> Urgency:
        """The severity of the worst issue (``ok`` when none)."""
        return self.issues[0].severity if self.issues else "ok"

    @property
    def rank(self) -> int:
        return _RANK[self.urgency]

    @property
    def attention(self) -> bool:
        """True when someone should look: an issue of severity ``warning`` or worse."""
        return self.rank >= _RANK["warning"]

    @property
    def latest_since(self) -> datetime | None:
        """The newest start among the issues of the worst severity (for ordering)."""
        times = [i.since for i in self.issues if i.severity == self.urgency and i.since]
        return max(times, default=None)


# --- wording -----------------------------------------------------------------------------------


def _clock(ts: datetime, now: datetime, zone: ZoneInfo) -> str:
    """``02:14`` today (site time), ``23 Nov 02:14`` this year, else with the year."""
    local, today = ts.astimezone(zone), now.astimezone(zone)
    hm = local.strftime("%H:%M")
    if local.date() == today.date():
        return hm
    day = f"{local.day} {local.strftime('%b')}"
    if local.year != today.year:
        day += f" {local.year}"
    return f"{day} {hm}"


def _duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 days 3 h``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def _short(text: Any) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _age(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# --- the assessment ----------------------------------------------------------------------------


def outbox_view(row: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """The outbox as of the latest heartbeat: ``readings``, ``max_readings``, ``fill_pct`` (%),
    the refusal and thinning counters, and ``oldest_unsent_age_s`` extrapolated to ``now`` (the
    oldest waiting reading keeps ageing while nothing is heard). None before any heartbeat."""
    heartbeat = row.get("last_heartbeat")
    outbox = heartbeat.get("outbox") if isinstance(heartbeat, dict) else None
    if not isinstance(outbox, dict):
        return None
    fill = outbox_fill(heartbeat)
    age = _age(outbox.get("oldest_unsent_age_s"))
    heard = row.get("last_heard_at")
    if age is not None and isinstance(heard, datetime):
        age = round(age + max(0.0, (now - heard).total_seconds()), 3)
    return {
        "readings": _int(outbox.get("readings")),
        "max_readings": _int(outbox.get("max_readings")) or None,
        "fill_pct": None if fill is None else round(100.0 * fill, 1),
        "oldest_unsent_age_s": age,
        "refused_readings": _int(outbox.get("refused_readings")),
        "refused_clinical_readings": _int(outbox.get("refused_clinical_readings")),
        "thinned_readings": _int(outbox.get("thinned_readings")),
    }


def devices_view(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The devices of the latest heartbeat: id, last seen, battery (%), clock offset (s)."""
    heartbeat = row.get("last_heartbeat")
    devices = heartbeat.get("devices") if isinstance(heartbeat, dict) else None
    out = []
    for d in devices if isinstance(devices, list) else []:
        if not isinstance(d, dict):
            continue
        clock = d.get("clock")
        out.append(
            {
                "device_id": str(d.get("device_id")),
                "last_seen": _ts(d.get("last_seen")),
                "battery_pct": _age(d.get("battery_pct")),
                "clock_offset_s": _age(clock.get("offset_s")) if isinstance(clock, dict) else None,
            }
        )
    return out


def _waiting(row: Mapping[str, Any]) -> str:
    heartbeat = row.get("last_heartbeat")
    outbox = heartbeat.get("outbox") if isinstance(heartbeat, dict) else None
    readings = _int(outbox.get("readings")) if isinstance(outbox, dict) else 0
    return f"; {_n(readings, 'reading')} waiting to be sent" if readings else ""


def _state_issue(
    row: Mapping[str, Any], now: datetime, zone: ZoneInfo
) -> tuple[GatewayState, GatewayIssue | None]:
    if row.get("state") is None:
        return "unknown", GatewayIssue("never_reported", "info", "Never reported")
    heard: datetime | None = row.get("last_heard_at")
    if row["state"] == STATE_OFFLINE:
        since: datetime = row["offline_since"]
        raw = row.get("raw") or {}
        if raw.get("sent_at") is not None:
            how = "shut down cleanly"
        elif heard is not None:
            how = f"connection lost; last heartbeat {_clock(heard, now, zone)}"
        else:
            how = "connection lost"
        text = f"Offline since {_clock(since, now, zone)} ({how}){_waiting(row)}"
        return "offline", GatewayIssue("offline", "critical", text, since)
    interval = row.get("heartbeat_interval_s")
    if heard is not None and (now - heard).total_seconds() > silent_after_s(interval):
        every = _duration(interval) if interval else "minute"
        text = (
            f"No heartbeat since {_clock(heard, now, zone)} (expected every {every}):"
            f" connected but not reporting{_waiting(row)}"
        )
        return "silent", GatewayIssue("silent", "critical", text, heard)
    return "online", None


def _outbox_issue(row: Mapping[str, Any], now: datetime) -> GatewayIssue | None:
    outbox = outbox_view(row, now)
    if (
        outbox is None
        or outbox["fill_pct"] is None
        or outbox["fill_pct"] < 100 * OUTBOX_NEARLY_FULL
    ):
        return None
    full = (
        "Outbox full"
        if outbox["readings"] >= (outbox["max_readings"] or 0)
        else (f"Outbox {math.floor(outbox['fill_pct'])} % full")
    )
    text = f"{full}: {outbox['readings']:,} of {outbox['max_readings']:,} readings waiting"
    if outbox["oldest_unsent_age_s"] is not None:
        text += f", oldest {_duration(outbox['oldest_unsent_age_s'])} old"
    return GatewayIssue("outbox_nearly_full", "warning", text, row.get("last_heard_at"))


def _refused(
    problem: Mapping[str, Any], since: datetime | None, recent: bool, now: datetime, zone: ZoneInfo
) -> GatewayIssue:
    readings, clinical = _int(problem.get("readings")), _int(problem.get("clinical_readings"))
    at = _ts(problem.get("at"))
    if clinical:
        what = _n(clinical, "clinical reading")
        if readings > clinical:
            what += f" and {_n(readings - clinical, 'other')}"
    else:
        what = _n(readings, "reading")
    start = f" since {_clock(since, now, zone)}" if since else ""
    latest = ""
    if at is not None and (since is None or _clock(at, now, zone) != _clock(since, now, zone)):
        latest = f" (latest {_clock(at, now, zone)})"
    if recent:
        text = (
            f"Outbox full: {what} refused{start}{latest}; the devices keep them until there is room"
        )
        severity: IssueSeverity = "critical" if clinical else "warning"
    else:
        text = f"Outbox was full: {what} refused{start}{latest}; the devices kept them"
        severity = "info"
    return GatewayIssue("readings_refused", severity, _short(text), since or at)


def _generic(
    problem: Mapping[str, Any], since: datetime | None, now: datetime, zone: ZoneInfo
) -> GatewayIssue:
    """``Gateway reports <code> for device <id>: <message> (<other fields>, <at>)``."""
    code = str(problem["code"])
    text = f"Gateway reports {code}"
    device = problem.get("device_id")
    if isinstance(device, str) and device:
        text += f" for device {device}"
    used = {"code", "device_id", "at"}
    field = next((f for f in _MESSAGE_FIELDS if problem.get(f)), None)
    if field is not None:
        text += f": {problem[field]}"
        used.add(field)
    extras = []
    for name, value in problem.items():
        if name in used or value is None or isinstance(value, dict | list):
            continue
        when = _ts(value)
        if when is not None:
            shown: Any = _clock(when, now, zone)
        elif isinstance(value, bool):
            shown = "yes" if value else "no"
        else:
            shown = value
        extras.append(f"{name.replace('_', ' ')} {shown}")
    at = _ts(problem.get("at"))
    if at is not None:
        extras.append(_clock(at, now, zone))
    if extras:
        text += f" ({', '.join(extras)})"
    return GatewayIssue(code, "warning", _short(text), since or at)


def _problem_issue(
    problem: Mapping[str, Any],
    since_by_code: Mapping[str, Any],
    fill: float | None,
    now: datetime,
    zone: ZoneInfo,
) -> GatewayIssue:
    code = str(problem["code"])
    known = since_by_code.get(code) if isinstance(since_by_code.get(code), dict) else None
    since = _ts(known.get("since")) if known else None
    changed = _ts(known.get("changed_at")) if known else None
    at = _ts(problem.get("at"))
    latest = max((t for t in (changed, at) if t is not None), default=None)
    recent = latest is not None and now - latest <= RECENT
    if code == "readings_refused":
        nearly_full = fill is not None and fill >= OUTBOX_NEARLY_FULL
        return _refused(problem, since, recent or nearly_full, now, zone)
    if code == "readings_thinned":
        samples = _n(_int(problem.get("readings")), "wearable sample")
        start = f" since {_clock(since, now, zone)}" if since else ""
        if recent:
            return GatewayIssue(
                code, "warning", f"Outbox full: {samples} thinned to make room{start}", since
            )
        return GatewayIssue(code, "info", f"Outbox was full: {samples} thinned{start}", since)
    if code == "outbox_corrupt":
        when = f" at {_clock(at, now, zone)}" if at else ""
        text = _short(
            f"Outbox file was corrupt{when}; moved aside to {problem.get('moved_to', '?')},"
            " started fresh"
        )
        fresh = at is not None and now - at <= CORRUPTION_RECENT
        return GatewayIssue(code, "warning" if fresh else "info", text, at or since)
    if code == "config_rejected":
        version = problem.get("version")
        which = f"version {version}" if isinstance(version, int) else "an unreadable version"
        when = f" at {_clock(at, now, zone)}" if at else ""
        detail = f": {problem['detail']}" if problem.get("detail") else ""
        text = _short(
            f"Cloud settings {which} refused{when}{detail}; the previous settings stay in force"
        )
        return GatewayIssue(code, "warning", text, at or since)
    return _generic(problem, since, now, zone)


def _clock_issue(row: Mapping[str, Any]) -> GatewayIssue | None:
    offset = row.get("clock_offset_s")
    if offset is None or abs(offset) <= CLOCK_OFF_S:
        return None
    direction = "fast" if offset > 0 else "slow"
    text = (
        f"Gateway clock is {_duration(abs(offset))} {direction}: the times of its readings may be"
        " off by as much"
    )
    return GatewayIssue("clock_off", "warning", text, row.get("last_heard_at"))


def assess_gateway(row: Mapping[str, Any], *, now: datetime, zone: ZoneInfo) -> GatewayAssessment:
    """The state and issues of one gateway at ``now`` (aware UTC), worded in ``zone``.

    ``row`` holds the ``gateway_status`` columns (``state`` None: never reported). Problems of
    codes this version does not know are shown generically (code, device, message), never
    dropped. Issues come most severe first; within a severity: the state, the gateway's own
    problems in its order, then how full the outbox is and the clock.
    """
    state, state_issue = _state_issue(row, now, zone)
    issues: list[GatewayIssue] = [state_issue] if state_issue else []
    if state != "unknown":
        since_by_code = row.get("problem_since") or {}
        fill = outbox_fill(row.get("last_heartbeat"))
        problems: Sequence[Mapping[str, Any]] = row.get("problems") or []
        for problem in problems:
            if isinstance(problem, dict) and isinstance(problem.get("code"), str):
                issues.append(_problem_issue(problem, since_by_code, fill, now, zone))
        outbox = _outbox_issue(row, now)
        if outbox is not None:
            issues.append(outbox)
        clock = _clock_issue(row)
        if clock is not None:
            issues.append(clock)
    issues.sort(key=lambda i: -_RANK[i.severity])  # stable: keeps the order within a severity
    return GatewayAssessment(state, tuple(issues))


def urgency_order(item: tuple[str, GatewayAssessment]) -> tuple[int, float, str]:
    """Sort key for ``(gateway_id, assessment)``: most severe first, then the newest trouble,
    then the gateway id."""
    gateway_id, a = item
    since = a.latest_since
    return (-a.rank, -(since.timestamp() if since else 0.0), gateway_id)
