"""certbound.ops: audit log, metrics, expiry."""
