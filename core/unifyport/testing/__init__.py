"""UnifyPort's conformance kits for plugin authors, shipped in the package.

Use it as a pytest plugin: ``pytest -p unifyport.testing``. For a channel, subclass
:class:`unifyport.testing.channels.ChannelConformance`, supply a plugin factory and a peer
that drives the far side, and every part of the channel contract runs against your plugin
through the HTTP API; for an event sink, subclass
:class:`unifyport.testing.sinks.SinkConformance`. Tutorial: ``docs/plugins.md``.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("unifyport.testing.channels", "unifyport.testing.sinks")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "unifyport_requires(capability): skip unless the provider declares it")
