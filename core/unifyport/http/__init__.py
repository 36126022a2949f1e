"""The HTTP API: app factory, blueprints, authentication and the JSON error format."""
