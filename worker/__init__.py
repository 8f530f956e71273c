"""The node side of the fleet: an RQ SimpleWorker that reads frames from Redis and writes results."""
