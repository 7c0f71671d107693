"""Chimera: event-driven crypto trading platform (Faust over Kafka, Redis, ClickHouse)."""

__version__ = "0.1.0"
