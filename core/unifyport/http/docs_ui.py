"""``/docs``: Swagger UI on ``/openapi.json``, served from the gateway's own files (pinned
``swagger-ui-dist``, its licence beside it in ``docs_static/``), so it works offline."""

from __future__ import annotations

from quart import Blueprint, Response, url_for

bp = Blueprint("docs", __name__, static_folder="docs_static", static_url_path="/docs/static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")


@bp.get("/docs")
async def docs() -> Response:
    css = url_for("docs.static", filename="swagger-ui.css")
    bundle = url_for("docs.static", filename="swagger-ui-bundle.js")
    init = url_for("docs.static", filename="docs.js")
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>UnifyPort API</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}"></head>
<body><div id="swagger-ui"></div>
<script src="{bundle}"></script><script src="{init}"></script></body></html>"""
    return Response(html, 200, {"Content-Security-Policy": CSP, "Cache-Control": "no-cache",
                                "X-Content-Type-Options": "nosniff"},
                    content_type="text/html; charset=utf-8")
