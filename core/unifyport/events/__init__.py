"""Events: the outbox written with each change, and the sinks that consume it."""
