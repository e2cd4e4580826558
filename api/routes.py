"""The route table and nothing else."""

from __future__ import annotations

from aiohttp import web

from api import (
    contexts,
    docs,
    import_errors,
    import_lists,
    imports,
    metrics,
    monitoring,
    operation_controls,
    operations,
    outcomes,
    provisioning,
    sessions,
    webhooks,
)
from api.console import routes as console
from api.dashboard import routes as dashboard


def setup_routes(app: web.Application) -> None:
    app.add_routes(imports.routes)
    app.add_routes(import_errors.routes)
    app.add_routes(import_lists.routes)
    app.add_routes(provisioning.routes)
    app.add_routes(contexts.routes)
    app.add_routes(outcomes.routes)
    app.add_routes(monitoring.routes)
    app.add_routes(metrics.routes)
    app.add_routes(operations.routes)
    app.add_routes(operation_controls.routes)
    app.add_routes(sessions.routes)
    app.add_routes(dashboard.routes)
    app.add_routes(console.routes)
    app.add_routes(webhooks.routes)
    app.add_routes(docs.routes)
