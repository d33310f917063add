"""The real-time engine: sockets and Server-Sent Event streams, group fan-out, limits and delivery.

A Django app that imports only Django, Channels, DRF and its own modules; the apps (notifications,
chat, dashboard, ...) build on it. docs/architecture.md shows the layers and what each may import.
"""
