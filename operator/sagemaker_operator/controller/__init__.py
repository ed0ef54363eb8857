"""The reconciler: kopf handlers (thin), the index of owned jobs, status writing, tenancy."""
