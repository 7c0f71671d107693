"""Redis: the keyspace (DESIGN §4), the entry gate, locks and idempotency records, on a single
node or a Redis Cluster through one client factory."""

from sinks.redis.client import RedisClient, make_client, parse_cluster_nodes
from sinks.redis.gate import EntryGate, GateDecision, GateUsage, Refusal, Released, ReservationConflict
from sinks.redis.idempotency import Claim, Idempotency
from sinks.redis.keys import Keyspace
from sinks.redis.locks import LockBusy, Locks

__all__ = [
    "Claim",
    "EntryGate",
    "GateDecision",
    "GateUsage",
    "Idempotency",
    "Keyspace",
    "LockBusy",
    "Locks",
    "RedisClient",
    "Refusal",
    "Released",
    "ReservationConflict",
    "make_client",
    "parse_cluster_nodes",
]
