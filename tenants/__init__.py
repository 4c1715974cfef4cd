"""The storage side: one SQLite database per tenant, opened lazily.

Knows nothing of WebSockets; event and response payloads pass through as opaque bytes.
"""
