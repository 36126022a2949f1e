"""How a channel declares its logins: fields, steps and the statuses its steps introduce.

The core knows four statuses (:data:`CORE_STATUSES`) and one step of its own (``cancel``);
everything else is the provider's, declared as data on its :class:`AuthMode` objects. From
the declaration alone the core validates step input, checks transitions and documents each
step in the OpenAPI document (``docs/plugins.md``), in the manner of Home Assistant's
``data_entry_flow``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

PENDING = "pending"
AUTHORIZED = "authorized"
FAILED = "failed"
LOGGED_OUT = "logged_out"
CORE_STATUSES: frozenset[str] = frozenset({PENDING, AUTHORIZED, FAILED, LOGGED_OUT})
"""The statuses every account can have; a mode adds its in-progress ones."""
RESTARTABLE: frozenset[str] = frozenset({PENDING, FAILED, LOGGED_OUT})
"""Where a login may (re)start: new, failed, or logged out by the channel."""
CANCEL = "cancel"
"""The core's own step: ends any flow under way and returns to ``pending``."""

NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
STEP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}(/[a-z][a-z0-9_]{0,31})?$")

FieldType = Literal["string", "integer", "boolean"]
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class FieldSpec:
    """One input field: of an account (``provider_data``/``params``) or of a step's body.

    Drives request validation (422 ``validation_failed`` with per-field errors) and the
    OpenAPI schema. Bounds are enforced at the API, so out-of-range input never reaches a
    provider: strings are at most ``max_length`` characters, integers lie within
    ``[minimum, maximum]`` (signed 64 bits when not given).
    """

    name: str
    type: FieldType = "string"
    required: bool = True
    secret: bool = False
    description: str = ""
    pattern: str | None = None
    """A regular expression a string value must fully match (e.g. E.164 for phones)."""
    location: Literal["provider_data", "params"] = "provider_data"
    """Where an account field lives; ignored for a step's own fields (the request body)."""
    min_length: int = 1
    max_length: int = 4096
    minimum: int | None = None
    maximum: int | None = None
    strip: bool = False
    """Trim surrounding white space before validating (codes typed by people)."""

    def bounds(self) -> tuple[int, int]:
        low, high = INT64
        return (low if self.minimum is None else self.minimum,
                high if self.maximum is None else self.maximum)


@dataclass(frozen=True)
class Step:
    """One step of a login: ``POST /v1/accounts/{id}/auth/session/<name>``.

    ``sources`` are the statuses it may be called from, ``targets`` those it may lead to on
    success (``authorized`` for a step that can complete the login). ``fields`` are its
    request body; with ``params`` the body may also carry a ``params`` object checked against
    the mode's ``params`` fields and merged over the account's. ``exposes`` is a pydantic
    model of the extra response fields the step returns (``Next.expose``), for the OpenAPI.
    """

    name: str
    sources: frozenset[str]
    targets: frozenset[str]
    fields: tuple[FieldSpec, ...] = ()
    params: bool = False
    description: str = ""
    exposes: type[BaseModel] | None = None


@dataclass(frozen=True)
class AuthMode:
    """An auth mode of a provider: its account fields, its steps, and the in-progress
    statuses its steps introduce (``awaiting_code``...)."""

    name: str
    description: str
    fields: tuple[FieldSpec, ...]
    steps: tuple[Step, ...]
    statuses: tuple[str, ...] = ()
    _by_name: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = {s.name: s for s in self.steps}
        steps[CANCEL] = Step(
            CANCEL, frozenset({*self.statuses, PENDING, FAILED}), frozenset({PENDING}),
            description="End the flow under way and return to pending (harmless when none).")
        object.__setattr__(self, "_by_name", steps)

    @property
    def in_progress(self) -> frozenset[str]:
        return frozenset(self.statuses)

    @property
    def all_steps(self) -> tuple[Step, ...]:
        """The declared steps and the core's ``cancel``."""
        return tuple(self._by_name.values())

    def step(self, name: str) -> Step | None:
        return self._by_name.get(name)


def problems(provider: str, modes: tuple[AuthMode, ...]) -> list[str]:
    """What is wrong with a provider's declaration (empty when it is sound)."""
    out: list[str] = []
    names = [m.name for m in modes]
    if not modes or len(set(names)) != len(names):
        out.append("auth modes must be unique and at least one")
    for mode in modes:
        where = f"provider {provider!r} mode {mode.name!r}"
        if not NAME.match(mode.name):
            out.append(f"{where}: mode name is not a valid name")
        known = CORE_STATUSES | mode.in_progress
        for status in mode.statuses:
            if not NAME.match(status) or status in CORE_STATUSES:
                out.append(f"{where}: in-progress status {status!r} is invalid or a core status")
        step_names = [s.name for s in mode.steps]
        if len(set(step_names)) != len(step_names) or CANCEL in step_names:
            out.append(f"{where}: step names must be unique and not 'cancel'")
        if not any(AUTHORIZED in s.targets for s in mode.steps):
            out.append(f"{where}: no step leads to 'authorized'")
        for s in mode.steps:
            if not STEP_NAME.match(s.name):
                out.append(f"{where}: step name {s.name!r} is not a valid route")
            unknown = (s.sources | s.targets) - known
            if unknown:
                out.append(f"{where} step {s.name!r}: undeclared statuses {sorted(unknown)}")
            if not s.sources or not s.targets:
                out.append(f"{where} step {s.name!r}: needs sources and targets")
        for group in (mode.fields, *(s.fields for s in mode.steps)):
            fields = [f.name for f in group]
            if len(set(fields)) != len(fields):
                out.append(f"{where}: duplicate fields {fields}")
    return out
