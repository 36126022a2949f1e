"""Keeping authorized accounts online: the runtime supervisor."""
