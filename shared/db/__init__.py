"""PostgreSQL access: pool, migrations and every query."""
