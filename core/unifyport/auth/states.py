"""The auth state machine as data: statuses, steps and the table of allowed transitions.

Documented (with a diagram) in ``docs/auth-state-machine.md``; a test keeps the two in step.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AuthStatus(enum.StrEnum):
    """An account's auth status."""

    PENDING = "pending"
    AWAITING_CODE = "awaiting_code"
    AWAITING_PASSWORD = "awaiting_password"  # noqa: S105 - a status name
    AWAITING_QR_SCAN = "awaiting_qr_scan"
    QR_EXPIRED = "qr_expired"
    AUTHORIZED = "authorized"
    FAILED = "failed"
    LOGGED_OUT = "logged_out"


class AuthStep(enum.StrEnum):
    """A step a client asks for; the value is the route under ``/auth/session/``."""

    START = "start"
    CODE = "code"
    PASSWORD = "password"  # noqa: S105 - a route name, not a secret
    QR_START = "qr/start"
    QR_CHECK = "qr/check"
    IMPORT = "import"
    CANCEL = "cancel"


S = AuthStatus

IN_PROGRESS: frozenset[AuthStatus] = frozenset(
    {S.AWAITING_CODE, S.AWAITING_PASSWORD, S.AWAITING_QR_SCAN, S.QR_EXPIRED}
)
"""Statuses of a flow that is under way (its data is kept until it ends)."""

_RESTARTABLE = frozenset({S.PENDING, S.FAILED, S.LOGGED_OUT})


@dataclass(frozen=True)
class Transition:
    """Which statuses a step may be called from, and which it may lead to on success."""

    sources: frozenset[AuthStatus]
    targets: frozenset[AuthStatus]


TRANSITIONS: dict[AuthStep, Transition] = {
    AuthStep.START: Transition(_RESTARTABLE | {S.QR_EXPIRED}, frozenset({S.AWAITING_CODE})),
    AuthStep.CODE: Transition(
        frozenset({S.AWAITING_CODE}), frozenset({S.AUTHORIZED, S.AWAITING_PASSWORD})
    ),
    AuthStep.PASSWORD: Transition(frozenset({S.AWAITING_PASSWORD}), frozenset({S.AUTHORIZED})),
    AuthStep.QR_START: Transition(
        _RESTARTABLE | {S.AWAITING_QR_SCAN, S.QR_EXPIRED}, frozenset({S.AWAITING_QR_SCAN})
    ),
    AuthStep.QR_CHECK: Transition(
        frozenset({S.AWAITING_QR_SCAN, S.QR_EXPIRED}),
        frozenset({S.AWAITING_QR_SCAN, S.QR_EXPIRED, S.AWAITING_PASSWORD, S.AUTHORIZED}),
    ),
    AuthStep.IMPORT: Transition(_RESTARTABLE, frozenset({S.AUTHORIZED})),
    AuthStep.CANCEL: Transition(IN_PROGRESS, frozenset({S.PENDING})),
}
"""Step -> allowed source statuses and success targets. A step failing with an error either
keeps the current status or moves to ``failed`` (the error says which)."""

SYSTEM_TRANSITIONS: dict[AuthStatus, frozenset[AuthStatus]] = {
    S.AUTHORIZED: frozenset({S.LOGGED_OUT}),
}
"""Transitions not caused by a step: a running session revoked by the provider."""


def can_call(step: AuthStep, status: AuthStatus) -> bool:
    """Whether ``step`` may be called while the account is in ``status``."""
    return status in TRANSITIONS[step].sources
