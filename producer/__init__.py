"""Camera side of the fleet: read frames from a source, store them in Redis, enqueue their keys."""
