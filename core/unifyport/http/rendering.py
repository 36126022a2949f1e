"""Response bodies serialised once, by orjson (a fifth of the standard library's time for an
account list). JSON columns read for a response arrive as ``orjson.Fragment`` (see
``unifyport.db.types.RawJSON``) and are copied into the body as stored, never decoded and
encoded again; a view's dict or list goes to the encoder as it is, without QuartSchema's
pass through pydantic first (see :func:`install_rendering`).

Otherwise the output means what Flask's provider made of the same value: its ``default``
for dates and other types, non-string keys as strings. A value orjson refuses (an integer
beyond 64 bits in a client's ``params``) goes through the standard library instead; such
values come from model instances, never with fragments (the standard library cannot copy
those). Keys keep their order (they are not sorted) and non-ASCII text is sent as UTF-8."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from quart import Quart, Response

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class FastJSONProvider(DefaultJSONProvider):
    def _orjson(self, obj: Any) -> bytes | None:
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs and (body := self._orjson(obj)) is not None:
            return body.decode()
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        obj = self._prepare_response_obj(args, kwargs)
        body = self._orjson(obj)
        if body is None:
            body = super().dumps(obj, separators=(",", ":")).encode()
        response_class: Any = self._app.response_class  # Quart's takes bytes
        return response_class(body, mimetype=self.mimetype)


def _plain(rv: Any) -> bool:
    """A response already made (an error's), or a dict or list body, alone or with a status
    code: nothing for pydantic to convert."""
    if isinstance(rv, tuple):
        return len(rv) == 2 and isinstance(rv[1], int) and isinstance(rv[0], (dict, list))
    return isinstance(rv, (dict, list, Response))


def install_rendering(app: Quart) -> None:
    """Call after ``QuartSchema(app)``.

    Serialise responses with :class:`FastJSONProvider`, keeping the ``default`` of the
    provider in place (QuartSchema's, which converts pydantic models met in a body).

    QuartSchema wraps ``app.make_response`` to turn models returned by views into dicts; it
    does so by building a pydantic ``TypeAdapter`` for every response and walking the whole
    body, dicts and lists included (a third of the CPU time of a 50-account page). Plain
    dicts and lists, and responses already made, skip that wrapper; anything else (a model,
    a model as headers) still goes through it."""
    provider = FastJSONProvider(app)
    provider.default = getattr(app.json, "default", provider.default)
    app.json = provider
    converting: Callable[[Any], Awaitable[Any]] = app.make_response
    plain: Callable[[Any], Awaitable[Any]] | None = getattr(converting, "__wrapped__", None)
    if plain is None:
        return

    async def make_response(rv: Any) -> Any:
        return await (plain if _plain(rv) else converting)(rv)

    app.make_response = make_response  # type: ignore[method-assign,assignment]
