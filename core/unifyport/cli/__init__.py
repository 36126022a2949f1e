"""The ``unifyport`` command line."""
