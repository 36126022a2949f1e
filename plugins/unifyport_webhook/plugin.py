"""Entry point of the webhook plugin (hook implementations arrive with the sink)."""
