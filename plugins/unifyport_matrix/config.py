"""The plugin's ``[plugins.matrix]`` table, declared once as a typed model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unifyport.sdk import ConfigError


class MatrixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_join_invites: bool = Field(
        default=False, description="Join rooms the account is invited to (an invite emits "
                                   "`chat.invited` either way).")
    sync_timeout: float = Field(default=30.0, gt=0, le=300,
                                description="Long-poll of one `/sync`, in seconds.")
    request_timeout: float = Field(default=20.0, gt=0, le=300,
                                   description="Upper bound of any other homeserver call.")
    save_interval: float = Field(default=2.0, ge=0, le=60,
                                 description="Seconds between saves of the sync token while "
                                             "nothing arrives (a crash replays at most this "
                                             "much, deduplicated by event id).")


def parse_config(table: Mapping[str, Any]) -> MatrixConfig:
    try:
        return MatrixConfig.model_validate(dict(table))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"plugins.matrix.{key}", err["msg"]) from None
