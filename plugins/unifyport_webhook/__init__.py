"""UnifyPort webhook sink: Standard Webhooks delivery of every event."""
