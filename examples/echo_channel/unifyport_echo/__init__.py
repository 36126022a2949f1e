"""The ``echo`` channel: a template for UnifyPort channel plugins (see its README)."""
