"""The shipped gateway harness (``unifyport.testing.gateway``), re-exported for the suite."""

from unifyport.testing.gateway import CORE_ONLY, Api, make_settings, running

__all__ = ["CORE_ONLY", "Api", "make_settings", "running"]
