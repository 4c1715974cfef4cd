"""The network side: Starlette app, JWT auth, WebSocket connections, dispatch, hub."""

__version__ = "0.1.0"
