"""BatchSender's bookkeeping: a batch that closed no bar leaves no (empty) record batch behind.

An empty aiokafka batch is resolved without an offset (``done_noack``), so the sensors' "sent up to
offset" would have nothing to say: the worker crashed on it (found by tests/integration)."""

from agents.app import app
from agents.features.send import BatchSender


def test_a_batch_without_events_queues_nothing_and_events_queue_per_partition() -> None:
    sender = BatchSender(app, "t.feat.events")
    sender.extend(1, b"BTCUSDT", [])
    assert sender.pending == {} and sender.records == 0
    sender.extend(1, b"BTCUSDT", [b"a", b"b"])
    sender.add(0, b"XRPUSDT", b"c")
    assert sender.pending == {1: [(b"BTCUSDT", b"a"), (b"BTCUSDT", b"b")], 0: [(b"XRPUSDT", b"c")]}
    assert sender.records == 3
