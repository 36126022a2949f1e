"""Response bodies serialised once, by orjson (a fifth of the standard library's time for an
account list). JSON columns read for a response arrive as ``orjson.Fragment`` (see
``unifyport.db.types.RawJSON``) and are copied into the body as stored, never decoded and
encoded again.

Otherwise the output means what Flask's provider made of the same value: its ``default``
for dates and other types, non-string keys as strings. A value orjson refuses (an integer
beyond 64 bits in a client's ``params``) goes through the standard library instead. Keys
keep their order (they are not sorted) and non-ASCII text is sent as UTF-8."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from quart import Quart

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class FastJSONProvider(DefaultJSONProvider):
    def _orjson(self, obj: Any) -> bytes | None:
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return None

    def _stdlib_default(self, o: Any) -> Any:
        if isinstance(o, orjson.Fragment):
            return json.loads(o.contents)
        return self.default(o)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs and (body := self._orjson(obj)) is not None:
            return body.decode()
        kwargs.setdefault("default", self._stdlib_default)
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        obj = self._prepare_response_obj(args, kwargs)
        body = self._orjson(obj)
        if body is None:
            body = super().dumps(obj, default=self._stdlib_default,
                                 separators=(",", ":")).encode()
        response_class: Any = self._app.response_class  # Quart's takes bytes
        return response_class(body, mimetype=self.mimetype)


def install_fast_json(app: Quart) -> None:
    """Serialise ``app``'s responses with :class:`FastJSONProvider`, keeping the ``default``
    of the provider in place (QuartSchema's, which converts pydantic models): call it after
    ``QuartSchema(app)``."""
    provider = FastJSONProvider(app)
    provider.default = getattr(app.json, "default", provider.default)
    app.json = provider
