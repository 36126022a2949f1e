"""One module per client library; only these modules import Telethon or Pyrogram."""
