"""What is sealed as a Matrix account's session: the homeserver, the login and the sync token."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class MatrixSession:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str
    next_batch: str | None = None
    """Where the next ``/sync`` resumes; kept with the credentials, so a restart neither loses
    nor repeats what arrived meanwhile."""
    invites: tuple[str, ...] = ()
    """Rooms the account was invited to and has not joined (joined at the next start when
    ``auto_join_invites`` is on, whenever the invite came)."""

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> MatrixSession:
        data = json.loads(raw)
        return cls(**{k: data.get(k) for k in ("homeserver", "user_id", "device_id",
                                              "access_token", "next_batch")},
                   invites=tuple(data.get("invites") or ()))

    def at(self, next_batch: str | None, invites: tuple[str, ...]) -> MatrixSession:
        return replace(self, next_batch=next_batch, invites=invites)
