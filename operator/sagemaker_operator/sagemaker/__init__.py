"""Talking to SageMaker: one rate-limited client per region, and the error classes."""
