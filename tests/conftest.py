"""Shared fixtures: a gateway with the test-only provider, on a fresh data directory; a
migrated database on each dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade

pytest_plugins: list[str] = ["tests.fixtures.postgres", "tests.fixtures.loopwatch",
                             "tests.fixtures.figures"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def plugin() -> TestPlugin:
    return TestPlugin()


@pytest.fixture
def provider(plugin: TestPlugin) -> TestProvider:
    return plugin.provider


@pytest.fixture
async def api(data_dir: Path, plugin: TestPlugin) -> AsyncIterator[Api]:
    async with running(make_settings(data_dir, CORE_ONLY), (("testprov", plugin),)) as client:
        yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The database of ``database_url`` (SQLite, then PostgreSQL), migrated to head."""
    database = Database(database_url)
    await upgrade(database)
    yield database
    await database.dispose()
