"""UnifyPort Telegram plugin."""
