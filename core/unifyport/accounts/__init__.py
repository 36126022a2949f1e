"""Accounts: field validation against provider declarations, JSON views, the account service."""
