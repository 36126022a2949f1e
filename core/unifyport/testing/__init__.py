"""UnifyPort's conformance kit for plugin authors, shipped in the package.

Use it as a pytest plugin: ``pytest -p unifyport.testing``. Subclass
:class:`unifyport.testing.channels.ChannelConformance` in a test module, supply a plugin
factory and a peer that drives the far side of your channel, and every part of the channel
contract runs against your plugin through the HTTP API. Tutorial: ``docs/plugins.md``.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("unifyport.testing.channels")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "unifyport_requires(capability): skip unless the provider declares it")
