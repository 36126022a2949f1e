"""Entry point of the Telegram plugin."""
