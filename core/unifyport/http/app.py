"""The app factory: one Quart app per gateway, its plugins, blueprints and lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from quart import Quart
from quart_schema import Info, QuartSchema

from unifyport import __version__
from unifyport.accounts import declared
from unifyport.apikeys import ensure_admin_key
from unifyport.collector import collector_policy
from unifyport.crypto.box import SecretBox
from unifyport.crypto.check import verify_stored_secrets
from unifyport.crypto.keyring import load_keyring
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.delivery.runner import start_sinks, stop_sinks
from unifyport.gateway import Gateway
from unifyport.http import (
    accounts,
    auth_routes,
    docs_ui,
    events_routes,
    health,
    keys_routes,
    messaging_routes,
    observe,
    providers_routes,
    runtime_routes,
    webhooks_routes,
)
from unifyport.http.auth import install_authentication
from unifyport.http.console import accounts_pages, base, events_pages
from unifyport.http.console.sessions import install_sessions
from unifyport.http.context import EXTENSION
from unifyport.http.errors import install_error_handlers
from unifyport.http.observe import install_observation
from unifyport.http.openapi import GatewayOpenAPI
from unifyport.http.plugin_routes import plugin_blueprint
from unifyport.http.rendering import install_rendering
from unifyport.http.uploads import FlowControlledConnection, GatewayRequest
from unifyport.metrics import GatewayMetrics
from unifyport.plugins.registry import Registry, build_registry
from unifyport.plugins.routes import Route
from unifyport.retention import run_pruner
from unifyport.runtime.messaging import register as register_messaging
from unifyport.runtime.operations import register as register_operations
from unifyport.runtime.supervisor import RuntimeSupervisor
from unifyport.settings import Settings

log = logging.getLogger("unifyport")
STARTUP_ERROR = "unifyport.startup_error"


def create_app(
    settings: Settings,
    *,
    extra_plugins: tuple[tuple[str, object], ...] = (),
    registry: Registry | None = None,
) -> Quart:
    """Build the app: load plugins and keys, mount blueprints. Nothing runs until serving."""
    registry = registry or build_registry(settings, extra_plugins)
    declared.check(settings.accounts, registry)  # [[accounts]]: refused before anything runs
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    keyring = load_keyring(settings, create=True)
    db = Database(settings.storage.effective_database_url)
    gw = Gateway(settings=settings, db=db, box=SecretBox(keyring), registry=registry)

    app = Quart("unifyport")
    app.request_class = GatewayRequest  # a multipart send streams past the body cap,
    app.asgi_http_class = FlowControlledConnection  # as fast as it is written to disk
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    app.extensions[EXTENSION] = gw
    QuartSchema(
        app,
        info=Info(title="UnifyPort", version=__version__),
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # served from our own files: ``unifyport.http.docs_ui``
        redoc_ui_path=None,
        scalar_ui_path=None,
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
        openapi_provider_class=GatewayOpenAPI,
    )
    install_rendering(app)
    install_error_handlers(app)
    steps = frozenset(s.name for p in registry.providers.values() for m in p.auth_modes
                      for s in m.all_steps)
    install_observation(app, GatewayMetrics(gw), steps)  # before authentication: 401s count
    install_authentication(app)
    install_sessions(app)
    for bp in (health.bp, observe.bp, accounts.bp, auth_routes.bp, runtime_routes.bp,
               events_routes.bp, messaging_routes.bp, webhooks_routes.bp, keys_routes.bp,
               providers_routes.bp, docs_ui.bp, base.bp, accounts_pages.bp, events_pages.bp):
        app.register_blueprint(bp)
    routes: list[Route] = []
    registry.pm.hook.register_routes(register=routes.append, settings=settings,
                                     sinks=registry.sinks)
    if routes:
        app.register_blueprint(plugin_blueprint(routes))

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        try:
            await start(gw)
        except Exception as exc:
            app.extensions[STARTUP_ERROR] = exc
            await db.dispose()
            raise
        try:
            yield
        finally:
            await stop(gw)

    return app


async def start(gw: Gateway) -> None:
    """Check keys against stored secrets (changing nothing), migrate, resume runtimes."""
    await verify_stored_secrets(gw.db, gw.box)
    await upgrade(gw.db)
    token = await ensure_admin_key(gw.db, gw.settings.storage.data_dir)
    if token is not None:
        print(f"Admin API key (shown once, also saved to "
              f"{gw.settings.storage.data_dir / 'admin-api-key'}): {token}", flush=True)
    await start_sinks(gw)  # before runtimes: their first events reach new webhook targets
    gw.housekeeping.append(asyncio.create_task(run_pruner(gw.db, gw.settings.retention),
                                               name="retention"))
    supervisor = RuntimeSupervisor(gw)
    register_operations(supervisor)
    register_messaging(supervisor)
    gw.runtime = supervisor
    await supervisor.open()
    log.info("unifyport started: %d account(s) online here", len(supervisor.tasks))
    if gw.settings.accounts or gw.settings.declared_accounts.prune:
        gw.housekeeping.append(asyncio.create_task(declared.at_start(gw),
                                                   name="declared-accounts"))


async def tune_garbage_collector() -> AsyncGenerator[None, None]:
    """For one long-lived server per process: ``serve`` registers it with
    ``app.while_serving`` after ``create_app`` (so it runs after the app's start-up); tests,
    which build many apps in one process, do not.

    Runs the collection policy of :mod:`unifyport.collector` while serving: what start-up
    left alive (modules, metadata, the engine) and later the online clients are frozen out
    of the cyclic collector's sight, so full collections stop rescanning them (~10% of the
    CPU of a busy webhook sink; with thousands of clients, pauses of hundreds of ms), the
    young generation is collected every 20,000 allocations instead of 700 (a busy sink
    allocates a few hundred objects per event, almost all freed by reference counting:
    another ~5% of its CPU; ``bench/webhooks.py``), and everything is collected at most
    every 10 minutes once a quarter as many clients as are online ended, so their cycles are
    reclaimed. The thresholds are restored when serving ends."""
    async with collector_policy():
        yield


async def stop(gw: Gateway) -> None:
    """Stop runtimes, close providers, close the database."""
    tasks, gw.housekeeping = gw.housekeeping, []
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await stop_sinks(gw)
    if gw.runtime is not None:
        await gw.runtime.aclose()
    for provider in gw.registry.providers.values():
        try:
            await provider.aclose()
        except Exception:
            log.exception("provider %s failed to close", provider.name)
    await gw.db.dispose()
