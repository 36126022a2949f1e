"""What an endpoint's sealed blob holds: its signing secrets (each with the end of its grace
period, ``None`` for the current one) and its custom headers."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass

from unifyport.crypto.box import SecretBox, key_id_of

PURPOSE = "webhook_endpoint"
SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)


def new_secret() -> str:
    """A ``whsec_`` secret: 32 random bytes, base64 (as Svix and Standard Webhooks make them)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(text: str) -> bytes | None:
    """The key of a ``whsec_`` secret (24 to 64 bytes), or ``None`` when it is not one."""
    if not text.startswith(SECRET_PREFIX):
        return None
    try:
        raw = base64.b64decode(text[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if 24 <= len(raw) <= 64 else None


@dataclass(frozen=True)
class EndpointSecrets:
    secrets: tuple[tuple[str, float | None], ...]
    """(``whsec_…``, expiry as a UNIX time or ``None``), the current secret first."""
    headers: tuple[tuple[str, str], ...] = ()

    def current(self) -> str:
        return self.secrets[0][0]

    def keys(self, now: float) -> tuple[bytes, ...]:
        """The keys that sign at ``now``: the current one and those still in their grace."""
        out = []
        for text, expires in self.secrets:
            key = secret_bytes(text)
            if key is not None and (expires is None or expires > now):
                out.append(key)
        return tuple(out)

    def rotated(self, new: str, now: float, grace: float) -> EndpointSecrets:
        """``new`` becomes current; the current one signs alongside for ``grace`` seconds
        (older ones keep their own expiry, or go when it has passed)."""
        kept = [(t, e) for t, e in self.secrets[1:] if e is not None and e > now]
        old = [(self.current(), now + grace)] if grace > 0 else []
        return EndpointSecrets(((new, None), *old, *kept), self.headers)

    def seal(self, box: SecretBox, endpoint_id: str) -> tuple[str, bytes]:
        """(master key id, blob)."""
        plain = json.dumps({"secrets": [list(s) for s in self.secrets],
                            "headers": [list(h) for h in self.headers]}).encode()
        blob = box.seal(PURPOSE, endpoint_id, plain)
        return key_id_of(blob), blob

    @classmethod
    def open(cls, box: SecretBox, endpoint_id: str, blob: bytes) -> EndpointSecrets:
        data = json.loads(box.open(PURPOSE, endpoint_id, blob))
        return cls(tuple((str(t), None if e is None else float(e)) for t, e in data["secrets"]),
                   tuple((str(k), str(v)) for k, v in data["headers"]))
