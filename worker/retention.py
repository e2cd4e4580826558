"""Stored uploads are deleted from storage once they are past retention (a pass of the reconciler)."""

from __future__ import annotations

import logging

from shared.db import uploads as queries
from worker.deps import Deps

logger = logging.getLogger(__name__)

# Uploads deleted per pass: a pass stays short, and a backlog drains over a few passes.
DELETE_PER_PASS = 100


async def delete_expired_uploads(d: Deps) -> int:
    """Delete stored uploads of imports that ended more than `upload_retention_days` ago; returns how
    many. Storage first, then the record: a failure in between deletes again next time, which is
    harmless (deleting a missing object succeeds). Off when the setting is 0."""
    days = d.settings.upload_retention_days
    if days == 0:
        return 0
    expired = await queries.expired_uploads(d.pool, days, DELETE_PER_PASS)
    keys = sorted({upload.object_key for upload in expired})
    for key in keys:
        await d.storage.delete(key)
    if keys:
        await queries.mark_uploads_deleted(d.pool, keys)
        logger.info("deleted %s stored upload(s) past %s days of retention", len(keys), days)
    return len(keys)
