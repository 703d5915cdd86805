"""The staff web app: queues, messages, corrections, /metrics and health probes (see docs/dashboard.md)."""
