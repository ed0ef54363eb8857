"""The controller: kopf handlers (thin), the reconciler's decisions, observation, writes.

See docs/architecture.md for the path of a manifest through these modules.
"""
