"""UnifyPort test suite."""
