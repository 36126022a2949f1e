"""Durable per-(sink, target) delivery of the event stream: fan-out, leases, retries, attempts,
and the engine that drives a sink's ``deliver`` (sinks see only
:mod:`unifyport.events.sinks`)."""
