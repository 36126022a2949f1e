"""Webhook endpoints stored through the API (``/v1/webhooks``), delivered by the sink that
declares ``stored_endpoints`` (the webhook plugin)."""
