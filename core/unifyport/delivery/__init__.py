"""Durable per-(sink, target) delivery of the event stream: fan-out, leases, retries, attempts.

Sink plugins use it only through :class:`unifyport.delivery.context.SinkContext`."""
