"""Outbound requests to user-supplied URLs (webhooks, session downloads) under one policy:
every resolved address must be public unless ``security.outbound_allow_cidrs`` allows it, the
connection goes to an address that was checked, and redirects are never followed."""
