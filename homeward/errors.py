"""Errors raised by the composition root.

::

    HomewardError
     ├── ConfigurationError    settings that cannot work together (.field)
     ├── ServiceStartError     an embedded or required service did not start (.service)
     ├── AuthenticationError   no valid session: token missing, unknown, expired or revoked
     ├── InvalidCredentialsError   login refused (.username); one message whatever the reason
     └── PermissionDeniedError     the caller's role may not use this route (.role, .action)
"""

from __future__ import annotations


class HomewardError(Exception):
    """Root of the errors raised by :mod:`homeward`."""


class ConfigurationError(HomewardError):
    """Settings that cannot work together."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class ServiceStartError(HomewardError):
    """A service Homeward needs did not start."""

    def __init__(self, service: str, message: str) -> None:
        self.service = service
        super().__init__(f"{service}: {message}")


class AuthenticationError(HomewardError):
    """The request carries no valid session (missing, unknown, expired or revoked token)."""

    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(message)


class InvalidCredentialsError(HomewardError):
    """A login refused. Unknown user, wrong password and disabled account look the same to the
    caller (the reason goes to the audit log only), so usernames cannot be probed."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__("unknown username or wrong password")


class PermissionDeniedError(HomewardError):
    """The caller's role may not use this route at all (e.g. an operator asking for alerts)."""

    def __init__(self, role: str, action: str) -> None:
        self.role = role
        self.action = action
        super().__init__(f"role {role!r} may not {action}")
