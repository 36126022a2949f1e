"""The generic auth state machine: statuses, steps, transitions and typed step results."""
