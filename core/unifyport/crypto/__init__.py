"""Secrets at rest: master keys and AES-256-GCM sealing bound to purpose, row and key."""
