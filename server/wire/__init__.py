"""Storage records (tenants/) to wire entities (pm.v1), one module per entity."""
