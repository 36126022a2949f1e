"""The web console at ``/console``: server-rendered pages over the JSON API (docs/console.md)."""
