"""Metrics (Prometheus), the per-request log line, and traces (OpenTelemetry, optional)."""
