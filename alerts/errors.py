"""Errors raised by the alerts part.

::

    AlertsError
     ├── AlertNotFoundError        no alert with that id that the caller may see (.alert_id)
     ├── AlertStateError           a transition the alert's current state does not allow
     │                             (.alert_id, .state, .action)
     └── RuleInputError            a rule snapshot that cannot be evaluated (.rule, .reason)

:mod:`homeward.problems` maps each class to a problem-details ``type``; an alert that exists but
belongs to a patient the caller may not see raises :class:`AlertNotFoundError` too, so that
existence does not leak.
"""

from __future__ import annotations


class AlertsError(Exception):
    """Root of the errors raised by :mod:`alerts`."""


class AlertNotFoundError(AlertsError, LookupError):
    """No alert with this id (or none the caller may see)."""

    def __init__(self, alert_id: int) -> None:
        self.alert_id = alert_id
        super().__init__(f"alert {alert_id} not found")


class AlertStateError(AlertsError):
    """The alert's state does not allow ``action`` (e.g. acknowledging a resolved alert)."""

    def __init__(self, alert_id: int, state: str, action: str) -> None:
        self.alert_id = alert_id
        self.state = state
        self.action = action
        super().__init__(f"alert {alert_id} is {state}; cannot {action} it")


class RuleInputError(AlertsError, ValueError):
    """A snapshot a rule cannot evaluate: mismatched array lengths, a floor outside 0-100 %..."""

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"{rule}: {reason}")
