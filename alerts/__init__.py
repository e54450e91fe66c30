"""Alerts: rules, the alert lifecycle, the evaluator, and the doctor's panel (API + page).

::

    alerts.rules        pure rules: snapshot -> AlertRequest list (alerts.rules.spo2, ...)
    alerts.lifecycle    open/update/escalate, acknowledge, resolve; events + NOTIFY alerts_changed
    alerts.evaluator    AlertEvaluator: changed series -> rules -> lifecycle
    alerts.api          HTTP routes under /api/v1/alerts, incl. the server-sent event stream
    alerts.stream       the process's single LISTEN alerts_changed, fanned out to subscribers
    alerts.panel        the panel page (static HTML/JS/CSS) served at /

The HTTP modules are imported by the composition root (homeward.app), not from here, so that the
evaluator and the rules load without the web stack.
"""

from alerts.errors import AlertNotFoundError, AlertsError, AlertStateError, RuleInputError
from alerts.evaluator import AlertEvaluator, PassResult, evaluate_pass, evaluate_pending
from alerts.lifecycle import (
    CHANNEL,
    AlertChange,
    acknowledge,
    acknowledge_async,
    last_resolved,
    open_or_update,
    open_or_update_async,
    resolve,
    resolve_async,
)
from alerts.request import AlertRequest, Severity

__all__ = [
    "CHANNEL",
    "AlertChange",
    "AlertEvaluator",
    "AlertNotFoundError",
    "AlertRequest",
    "AlertStateError",
    "AlertsError",
    "PassResult",
    "RuleInputError",
    "Severity",
    "acknowledge",
    "acknowledge_async",
    "evaluate_pass",
    "evaluate_pending",
    "last_resolved",
    "open_or_update",
    "open_or_update_async",
    "resolve",
    "resolve_async",
]
