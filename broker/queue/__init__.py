"""Durable per-output delivery queues and the workers that drain them."""
