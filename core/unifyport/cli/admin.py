"""Administrative commands: keys, secrets, db, plugins, config."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from unifyport.accounts import declared
from unifyport.apikeys import ADMIN, SCOPES, create_key, grant_problem, revoke_key
from unifyport.config import load_settings, to_json
from unifyport.crypto.box import SecretBox
from unifyport.crypto.check import verify_stored_secrets
from unifyport.crypto.keyring import append_new_key, load_keyring
from unifyport.crypto.rotate import count_by_key_id, rotate_secrets
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.db.models import Account
from unifyport.db.repositories import ApiKeyRepository
from unifyport.events.sinks import iso
from unifyport.plugins.registry import build_registry
from unifyport.retention import prune
from unifyport.settings import Settings


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="sub",
                                                                          required=True)
    p = keys.add_parser("create", help="create a key; prints it once", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--scope", action="append", choices=[*SCOPES, ADMIN], dest="scopes",
                   help="repeat for several; without it an admin key")
    p.add_argument("--account", action="append", dest="account_ids", metavar="ACCOUNT_ID",
                   help="an account a scoped key is limited to (repeat for several)")
    p.set_defaults(func=_db_command(_keys_create))
    keys.add_parser("list", help="list keys", parents=[common]).set_defaults(
        func=_db_command(_keys_list))
    p = keys.add_parser("revoke", help="revoke a key by id", parents=[common])
    p.add_argument("id")
    p.set_defaults(func=_db_command(_keys_revoke))

    sec = sub.add_parser("secrets", help="stored secrets").add_subparsers(dest="sub",
                                                                           required=True)
    p = sec.add_parser("rotate", help="re-encrypt every secret under the newest master key",
                       parents=[common])
    p.add_argument("--batch-size", type=int, default=200)
    p.set_defaults(func=_db_command(_rotate))
    sec.add_parser("status", help="stored secrets per master key id", parents=[common]
                   ).set_defaults(func=_db_command(_secrets_status))
    sec.add_parser("add-key", help="append a new master key to the key file (it becomes the "
                   "newest)", parents=[common]).set_defaults(func=_add_key)

    db = sub.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="apply migrations", parents=[common]).set_defaults(
        func=_db_command(_noop))
    p = db.add_parser("prune", help="remove events, deliveries and attempts past [retention]",
                      parents=[common])
    p.add_argument("--dry-run", action="store_true", help="count what would be removed")
    p.set_defaults(func=_db_command(_prune))

    sub.add_parser("plugins", help="list loaded plugins", parents=[common]).set_defaults(
        func=_plugins)
    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="sub",
                                                                         required=True)
    cfg.add_parser("check", help="validate and print effective values", parents=[common]
                   ).set_defaults(func=_config_check)


Handler = Callable[[argparse.Namespace, Settings, Database], Awaitable[int]]


def _db_command(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Load settings, open the database, check stored secrets, migrate, then run."""

    def run(args: argparse.Namespace) -> int:
        settings = load_settings(args.config)
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)

        async def go() -> int:
            db = Database(settings.storage.effective_database_url)
            try:
                box = SecretBox(load_keyring(settings, create=True))
                await verify_stored_secrets(db, box)
                await upgrade(db)
                args.box = box
                return await handler(args, settings, db)
            finally:
                await db.dispose()

        return asyncio.run(go())

    return run


async def _noop(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    print("database is at the newest schema revision")
    return 0


async def _prune(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    report = await prune(db, settings.retention, dry_run=args.dry_run)
    print(json.dumps(report.as_json()))
    return 0


async def _keys_create(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    scopes = None if not args.scopes or args.scopes == [ADMIN] else args.scopes
    problem = grant_problem(scopes, args.account_ids)
    if problem is None and args.account_ids:
        async with db.read() as s:
            found = set(await s.scalars(select(Account.id).where(
                Account.id.in_(args.account_ids))))
        missing = sorted(set(args.account_ids) - found)
        problem = f"no account {missing[0]}" if missing else None
    if problem is not None:
        print(f"error: {problem}")
        return 2
    row, token = await create_key(db, args.name, scopes, args.account_ids)
    print(json.dumps({"id": row.id, "name": row.name, "key": token,
                      "scopes": row.scopes or [ADMIN], "account_ids": row.account_ids}))
    return 0


async def _keys_list(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    async with db.read() as s:
        rows = await ApiKeyRepository(s).all()
    for r in rows:
        print(json.dumps({"id": r.id, "name": r.name, "prefix": r.prefix,
                          "scopes": r.scopes or [ADMIN], "account_ids": r.account_ids,
                          "created_at": iso(r.created_at), "revoked_at": iso(r.revoked_at)}))
    return 0


async def _keys_revoke(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    if await revoke_key(db, args.id):
        print(f"revoked {args.id}")
        return 0
    print(f"no active key {args.id}")
    return 1


async def _rotate(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    report = await rotate_secrets(db, args.box, batch_size=args.batch_size)
    print(json.dumps({"rotated": report.rotated, "already_current": report.already_current,
                      "failed": report.failed, "remaining": report.remaining,
                      "key_id": report.key_id, "by_key": report.by_key,
                      "webhook_endpoints": report.endpoints_rotated}))
    return 0 if report.remaining == 0 else 1


async def _secrets_status(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    ring = args.box.keyring
    counts = await count_by_key_id(db)
    for key_id in dict.fromkeys((*ring.ids, *sorted(counts))):
        print(json.dumps({"key_id": key_id, "configured": ring.get(key_id) is not None,
                          "newest": key_id == ring.newest.key_id,
                          "secrets": counts.get(key_id, 0)}))
    return 0


def _add_key(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    key = append_new_key(settings)
    print(json.dumps({"added": key.key_id,
                      "key_file": str(settings.security.key_file_path(settings.storage.data_dir)),
                      "next": "restart every server, then run: unifyport secrets rotate"}))
    return 0


def _plugins(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    reg = build_registry(settings)
    for p in reg.plugins:
        owned = sorted(k for k, owner in reg.owners.items() if owner == p.name)
        print(json.dumps({"name": p.name, "module": p.module, "distribution": p.distribution,
                          "version": p.version, "registers": owned}))
    return 0


def _config_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    registry = build_registry(settings)  # plugins validate their own tables
    declared.check(settings.accounts, registry)  # [[accounts]] against their providers
    print(to_json(settings))
    return 0
