"""The public SDK for plugins: everything a channel or sink plugin imports from UnifyPort.

A plugin imports this module only (``from unifyport import sdk`` or
``from unifyport.sdk import ...``); the rest of the core is private and may change.
``docs/plugins.md`` is the tutorial; ``unifyport.testing`` holds the conformance kits.
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
from unifyport.errors import ApiError, ConfigError, ErrorKind, not_found
from unifyport.events.sinks import (
    DEFAULT_RETRY_SCHEDULE,
    Claim,
    Delivered,
    DeliveryResult,
    EndpointLookup,
    EventSink,
    Failed,
    HttpEndpoint,
    RetryPolicy,
    SinkContext,
    SinkControl,
    Target,
    TargetState,
    iso,
    parse_retry_after,
    target_state_json,
    valid_pattern,
)
from unifyport.messages import (
    Attachment,
    AttachmentKind,
    AttachmentStream,
    Chat,
    ChatSummary,
    Message,
    MessageDeleted,
    MessageEdited,
    MessageReaction,
    MessageRead,
    MessageUpdate,
    OutgoingAttachment,
    OutgoingMessage,
    Page,
    Reaction,
    Sender,
)
from unifyport.outbound.addresses import OutboundRefused
from unifyport.outbound.policy import OutboundPolicy
from unifyport.plugins.routes import Route, RouteRequest
from unifyport.providers import (
    MESSAGING_CAPABILITIES,
    NotSupported,
    Provider,
    RuntimeContext,
    RuntimeStatus,
    SendContext,
    SessionRevoked,
)
from unifyport.settings import Secret, Settings

__all__ = [
    "AUTHORIZED", "CANCEL", "CORE_STATUSES", "DEFAULT_RETRY_SCHEDULE", "FAILED", "LOGGED_OUT",
    "MESSAGING_CAPABILITIES", "PENDING", "RESTARTABLE", "ApiError", "Attachment",
    "AttachmentKind", "AttachmentStream", "AuthMode", "Chat", "ChatSummary", "Claim",
    "CliCommand", "ConfigError", "Delivered", "DeliveryResult", "Done", "EndpointLookup",
    "ErrorKind", "EventDraft", "EventSink", "External", "Failed", "FieldSpec", "HttpEndpoint",
    "Identity", "Message", "MessageDeleted", "MessageEdited", "MessageReaction", "MessageRead",
    "MessageUpdate", "Next", "NotSupported", "Outbound", "OutboundPolicy", "OutboundRefused",
    "OutgoingAttachment", "OutgoingMessage", "Page", "Provider", "Reaction", "RetryPolicy",
    "Route", "RouteRequest", "RuntimeContext", "RuntimeStatus", "Secret", "SendContext",
    "Sender", "SessionRevoked", "Settings", "SinkContext", "SinkControl", "Step",
    "StepContext", "StepError", "StepResult", "Target", "TargetState", "hookimpl", "iso",
    "not_found", "parse_retry_after", "target_state_json", "valid_pattern",
]
