"""The settings' derived values: what a worker asks of the broker it is pointed at."""

from __future__ import annotations

import pytest

from chimera.settings import KAFKA_FETCH_WAIT_MS, TANSU_FETCH_WAIT_MS, Settings


@pytest.mark.parametrize(
    ("bootstrap", "embedded"),
    [
        ("127.0.0.1:29092", True),  # the embedded Tansu, as `chimera up` starts it
        ("localhost:29092", True),
        ("127.0.0.1:19092", False),  # another port on this host: a Kafka of its own
        ("kafka-1:29092", False),  # the Tansu port on another host
        ("127.0.0.1:29092,kafka-1:9092", False),
    ],
)
def test_the_fetch_wait_is_tansus_only_on_the_embedded_broker(bootstrap: str, embedded: bool) -> None:
    settings = Settings(kafka_bootstrap=bootstrap, tansu_port=29092)
    assert settings.embedded_kafka is embedded
    assert settings.fetch_wait_ms == (TANSU_FETCH_WAIT_MS if embedded else KAFKA_FETCH_WAIT_MS)


def test_a_fetch_wait_that_is_set_wins_on_either_broker() -> None:
    for bootstrap in ("127.0.0.1:29092", "kafka-1:9092"):
        settings = Settings(kafka_bootstrap=bootstrap, tansu_port=29092, consumer_fetch_wait_ms=7)
        assert settings.fetch_wait_ms == 7


def test_a_fetch_wait_out_of_range_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_CONSUMER_FETCH_WAIT_MS", "0")
    with pytest.raises(ValueError, match="consumer_fetch_wait_ms"):
        Settings()
