"""``unifyport accounts apply [--dry-run]``: reconcile the configuration's ``[[accounts]]``
with the database, as ``serve`` does at start-up (``unifyport.accounts.declared``)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from unifyport.accounts import declared
from unifyport.config import load_settings
from unifyport.crypto.box import SecretBox
from unifyport.crypto.check import verify_stored_secrets
from unifyport.crypto.keyring import load_keyring
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.gateway import Gateway
from unifyport.plugins.registry import build_registry


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    accounts = sub.add_parser("accounts", help="accounts declared in the configuration"
                              ).add_subparsers(dest="sub", required=True)
    p = accounts.add_parser(
        "apply", parents=[common],
        help="create, import, update, start or stop the declared accounts ([[accounts]]); "
             "one JSON line per account")
    p.add_argument("--dry-run", action="store_true", help="print what would change, change "
                   "nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every declared account is in line, 1 when one was refused."""
    settings = load_settings(args.config)
    registry = build_registry(settings)
    declared.check(settings.accounts, registry)
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)

    async def go() -> int:
        db = Database(settings.storage.effective_database_url)
        gw = Gateway(settings=settings, db=db, box=SecretBox(load_keyring(settings, create=True)),
                     registry=registry)
        try:
            await verify_stored_secrets(db, gw.box)
            await upgrade(db)
            outcomes = await declared.apply(gw, settings.accounts, dry_run=args.dry_run,
                                            prune=settings.declared_accounts.prune)
        finally:
            for provider in registry.providers.values():
                await provider.aclose()
            await db.dispose()
        for out in outcomes:
            print(json.dumps({**out.as_json(), "dry_run": args.dry_run}))
        return 1 if any(o.error for o in outcomes) else 0

    return asyncio.run(go())
