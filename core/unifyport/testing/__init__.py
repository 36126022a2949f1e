"""Conformance kits shipped with UnifyPort for plugin authors (pytest base classes)."""
