"""Talking to SageMaker: one rate-limited client per region, error classes, the bulk poller."""
