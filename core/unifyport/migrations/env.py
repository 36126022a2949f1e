"""Alembic environment: migrations run on the connection the core hands over."""

from __future__ import annotations

from alembic import context

from unifyport.db.models import Base
from unifyport.delivery import models as _delivery_models  # noqa: F401  (registers tables)
from unifyport.runtime import models as _runtime_models  # noqa: F401  (registers tables)
from unifyport.webhooks import models as _webhook_models  # noqa: F401  (registers tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
