"""The Matrix channel: user accounts on any homeserver, through mautrix."""
