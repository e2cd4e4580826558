"""The HTTP API: Canvas Outcome Imports routes, provisioning and read-only outcome endpoints."""
