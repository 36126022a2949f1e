"""The public SDK for channel plugins: everything a plugin imports from UnifyPort.

A channel plugin imports this module only (``from unifyport import sdk`` or
``from unifyport.sdk import ...``); the rest of the core is private and may change.
``docs/plugins.md`` is the tutorial; ``unifyport.testing`` is the conformance kit.
"""

from __future__ import annotations

from unifyport import hookimpl
from unifyport.auth.declare import (
    AUTHORIZED,
    CANCEL,
    CORE_STATUSES,
    FAILED,
    LOGGED_OUT,
    PENDING,
    RESTARTABLE,
    AuthMode,
    FieldSpec,
    Step,
)
from unifyport.auth.results import (
    Done,
    EventDraft,
    External,
    Identity,
    Next,
    Outbound,
    StepContext,
    StepError,
    StepResult,
)
from unifyport.cli.api import CliCommand
from unifyport.errors import ConfigError, ErrorKind
from unifyport.messages import Attachment, Chat, Message, OutgoingMessage, Reaction, Sender
from unifyport.providers import (
    Provider,
    RuntimeContext,
    RuntimeStatus,
    SendContext,
    SessionRevoked,
)
from unifyport.settings import Settings

__all__ = [
    "AUTHORIZED", "CANCEL", "CORE_STATUSES", "FAILED", "LOGGED_OUT", "PENDING", "RESTARTABLE",
    "Attachment", "AuthMode", "Chat", "CliCommand", "ConfigError", "Done", "ErrorKind",
    "EventDraft", "External", "FieldSpec", "Identity", "Message", "Next", "Outbound",
    "OutgoingMessage", "Provider", "Reaction", "RuntimeContext", "RuntimeStatus", "SendContext",
    "Sender", "SessionRevoked", "Settings", "Step", "StepContext", "StepError", "StepResult",
    "hookimpl",
]
