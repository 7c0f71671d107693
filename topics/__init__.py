"""Chimera's topics: the contracts between services (DESIGN §3).

Importing the package imports every area module, so ``TOPICS`` holds every declared topic:

- ``topics.market``: mkt.spot, mkt.perp, mkt.funding
- ``topics.trading``: feat.events, sig.events, ord.intents, ord.results, pos.events
- ``topics.ops``: labels.ready, cfg.events, ops.events, metrics.events, alerts

``encode`` / ``decode`` turn models into bytes and back, validated by the topic's schema;
``route`` decodes a consumed record or sends it to its dead-letter topic.
"""

# each area module registers its topics when imported: in DESIGN §3's order, which `list` shows
# isort: off
from topics import market
from topics import trading
from topics import ops

# isort: on
from topics.codec import TopicDecodeError, TopicEncodeError, decode, encode, key_for
from topics.dlq import route
from topics.envelope import DeadLetter
from topics.registry import (
    TOPICS,
    TopicSpec,
    UnknownTopic,
    all_specs,
    dlq_name,
    dlq_spec,
    spec_of,
    split_topic,
)

__all__ = [
    "TOPICS",
    "DeadLetter",
    "TopicDecodeError",
    "TopicEncodeError",
    "TopicSpec",
    "UnknownTopic",
    "all_specs",
    "decode",
    "dlq_name",
    "dlq_spec",
    "encode",
    "key_for",
    "market",
    "ops",
    "route",
    "spec_of",
    "split_topic",
    "trading",
]
