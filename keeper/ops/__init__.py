"""Operate: Prometheus metrics, JSON logs and webhook alerts."""
