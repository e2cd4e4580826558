"""Code shared by the API and the worker: settings, models, database, queue, status, storage."""
