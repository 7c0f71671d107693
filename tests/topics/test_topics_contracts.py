"""The contracts of topics/: every DESIGN §3 topic declared once, each schema round-trips, and an
invalid payload fails with an error naming the topic and the field."""

from __future__ import annotations

import json
import typing
from decimal import Decimal

import numpy as np
import pytest
from pydantic import BaseModel, RootModel

import topics
from agents.features.config import FeatureConfig
from agents.features.core import step
from agents.features.dqc import Dqc
from agents.features.state import FeatureState
from chimera.settings import ALL_SERVICES
from tests.agents.connectors.market_fixtures import BTC_MONTH
from tests.agents.features.features_kit import bar_replay_ticks, load_bars
from tests.topics.topic_examples import SYM, examples, order_result
from topics import (
    TOPICS,
    TopicDecodeError,
    TopicEncodeError,
    UnknownTopic,
    decode,
    encode,
    key_for,
    split_topic,
)
from topics.market import MarketBatch
from topics.registry import KEY_FIELDS, union_members
from topics.trading import DqcFlag, FeatureEvent, IntentSource

DESIGN_TOPICS = {
    "mkt.spot": "symbol",
    "mkt.perp": "symbol",
    "mkt.funding": "symbol",
    "feat.events": "symbol",
    "sig.events": "symbol",
    "ord.intents": "symbol",
    "ord.results": "symbol",
    "pos.events": "symbol",
    "labels.ready": "signal_id",
    "cfg.events": "bundle",
    "ops.events": "none",
    "metrics.events": "service",
    "alerts": "none",
}
TRADING_PATH = ["mkt.spot", "mkt.perp", "mkt.funding", "feat.events", "sig.events", "ord.intents"]
TRADING_PATH += ["ord.results", "pos.events"]


def test_every_design_topic_is_declared_with_its_key() -> None:
    assert {name: spec.key for name, spec in TOPICS.items()} == DESIGN_TOPICS
    assert [s.name for s in topics.all_specs()][1::2] == [f"dlq.{n}" for n in TOPICS]


def test_the_trading_path_is_co_partitioned_by_symbol() -> None:
    for name in TRADING_PATH:
        spec = TOPICS[name]
        assert (spec.key, spec.partitions) == ("symbol", "trading"), name
        assert spec.partition_count(12) == 12
    # config hot reload is one total order, kept per bundle by compaction
    cfg = TOPICS["cfg.events"]
    assert (cfg.partition_count(12), cfg.config()) == (1, {"cleanup.policy": "compact"})


@pytest.mark.parametrize("name", list(DESIGN_TOPICS))
def test_each_schema_is_versioned_frozen_and_strict(name: str) -> None:
    for model in union_members(TOPICS[name].schema):
        versions = typing.get_args(model.model_fields["v"].annotation)  # 1, 2, ... (each still read)
        assert versions == tuple(range(1, len(versions) + 1)), model
        assert model.model_fields["v"].default == 1, model  # a record with no v is a v1 record
        assert model.model_config.get("frozen") and model.model_config.get("extra") == "forbid", model
        field = KEY_FIELDS[TOPICS[name].key]
        assert field is None or field in model.model_fields, (model, field)


@pytest.mark.parametrize("name", list(DESIGN_TOPICS))
def test_each_topic_round_trips(name: str) -> None:
    samples = examples()[name]
    assert samples, f"no example for {name}"
    for model in samples:
        for topic in (name, f"bt.run1.{name}"):
            raw = encode(model, topic)
            back = decode(topic, raw)
            assert type(back) is type(model)
            assert encode(back) == raw
            if isinstance(model, MarketBatch):  # NaN marks absent cells, and NaN != NaN
                assert isinstance(back, MarketBatch)
                assert (back.v, back.closed_ts, back.close_ts) == (model.v, model.closed_ts, model.close_ts)
                for col in ("ts", "price", "qty", "bid", "ask"):
                    assert np.array_equal(back.column(col), model.column(col), equal_nan=True)
            else:
                assert back == model


def test_a_market_batch_says_when_s1_closed_it_from_v2_and_a_v1_record_still_reads() -> None:
    v1, v2 = examples()["mkt.perp"]
    old = json.loads(encode(v1))
    assert "closed_ts" not in old and old["v"] == 1
    del old["v"]  # a record from before the field: no v at all reads as v1
    back = decode("mkt.perp", json.dumps(old))
    assert isinstance(back, MarketBatch) and (back.v, back.closed_ts) == (1, None)
    assert back.close_ts == back.last_ts  # closed at its last tick, as every batch was before
    wire = json.loads(encode(v2))
    assert (wire["v"], wire["closed_ts"]) == (2, v2.last_ts + 95)
    again = decode("mkt.perp", encode(v2))
    assert isinstance(again, MarketBatch) and again.close_ts == v2.last_ts + 95
    bad = [
        ({**wire, "v": 1}, "closed_ts is the v2 field"),
        ({**old, "v": 2}, "closed_ts is the v2 field"),
        ({**wire, "closed_ts": v2.last_ts - 1}, "closed_ts is before last_ts"),
    ]
    for doc, reason in bad:
        with pytest.raises(TopicDecodeError, match=reason):
            decode("mkt.perp", json.dumps(doc))


def test_money_travels_as_exact_strings() -> None:
    result = order_result()
    wire = json.loads(encode(result))
    assert wire["fee"] == "0.27730200" and wire["fills"][0]["qty"] == "0.015"
    assert decode("ord.results", encode(result)).fee == Decimal("0.27730200")  # type: ignore[attr-defined]


def _wire(name: str, index: int = 0) -> dict[str, typing.Any]:
    out: dict[str, typing.Any] = json.loads(encode(examples()[name][index]))
    return out


INVALID: list[tuple[str, dict[str, typing.Any], str]] = [
    ("ord.results", {"filled_qty": 0.015}, "filled_qty"),  # a JSON number has been a float
    ("ord.results", {"filled_qty": "0.02"}, "filled_qty"),  # more than qty
    ("ord.results", {"status": "DONE"}, "status"),
    ("ord.results", {"client_order_id": "has spaces"}, "client_order_id"),
    ("ord.results", {"fee": "NaN"}, "fee"),
    ("ord.intents", {"qty": None}, "qty"),
    ("ord.intents", {"exec": "iceberg"}, "exec"),
    ("ord.intents", {"market": "SPOT", "reduce_only": True}, "reduce_only"),
    ("sig.events", {"action": "buy"}, "action"),
    ("sig.events", {"side": None}, "side"),
    ("sig.events", {"model_p": 1.7}, "model_p"),
    ("feat.events", {"dqc": ["FROZEN"]}, "dqc[0]"),
    ("feat.events", {"features": {"atr": "high"}}, "features.atr"),
    ("pos.events", {"kind": "CLOSED"}, "kind"),
    ("labels.ready", {"horizon_h": 48}, "horizon_h"),
    ("cfg.events", {"rev": ""}, "rev"),
    ("ops.events", {"kind": "transfer done"}, "kind"),
    ("metrics.events", {"tags": {"a=b": "x"}}, "tags.a=b"),
    ("alerts", {"level": "FATAL"}, "level"),
    ("mkt.funding", {"rate": 0.0001}, "rate"),
    ("mkt.funding", {"ts": 2**63}, "ts"),  # an event time past int64
    ("mkt.perp", {"price": ["a", 1.0]}, "price[0]"),
    ("mkt.perp", {"v": 3}, "v"),
    ("mkt.perp", {"last_ts": 2**63}, "last_ts"),  # would overflow S2's int64 ts column
    ("alerts", {"v": 2}, "v"),
    ("alerts", {"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("name", "change", "field"), INVALID, ids=[f"{n}-{f}" for n, _, f in INVALID])
def test_an_invalid_payload_names_the_topic_and_the_field(
    name: str, change: dict[str, object], field: str
) -> None:
    raw = json.dumps({**_wire(name), **change}).encode()
    with pytest.raises(TopicDecodeError) as caught:
        decode(f"bt.x.{name}", raw)
    assert field in caught.value.fields
    assert str(caught.value).startswith(f"bt.x.{name}: invalid ")
    assert f"{field}: " in str(caught.value)


def test_a_model_level_check_names_each_field_it_faults() -> None:
    spot_on_futures = {**_wire("ord.intents", 2), "market": "FUT"}  # the spot OCO example
    with pytest.raises(TopicDecodeError, match=r"invalid OrderIntent: market: oco is a spot") as caught:
        decode("ord.intents", json.dumps(spot_on_futures))
    assert caught.value.fields == ["market"]
    missing_legs = {**_wire("ord.intents", 2), "market": "FUT", "tp_price": None}
    with pytest.raises(TopicDecodeError) as caught:
        decode("ord.intents", json.dumps(missing_legs))
    assert caught.value.fields == ["market", "sl_price"]


def test_an_intent_without_its_op_or_not_json_at_all_is_refused() -> None:
    body = _wire("ord.intents")
    del body["op"]
    with pytest.raises(TopicDecodeError, match="discriminator 'op'"):
        decode("ord.intents", json.dumps(body))
    with pytest.raises(TopicDecodeError) as caught:
        decode("ord.intents", b"\xff not json")
    assert caught.value.fields == ["(json)"]
    with pytest.raises(TopicDecodeError) as caught:
        decode("ord.results", None)
    assert caught.value.fields == ["(value)"]


def test_encode_refuses_a_model_of_another_topic() -> None:
    with pytest.raises(TopicEncodeError, match=r"ord\.results carries OrderResult, not Decision"):
        encode(examples()["sig.events"][0], "ord.results")
    # a union topic takes either member
    for model in examples()["ord.intents"]:
        assert encode(model, "ord.intents") == model.model_dump_json().encode()


def test_keys_follow_design() -> None:
    assert key_for("ord.intents", examples()["ord.intents"][-1]) == SYM.encode()
    label = examples()["labels.ready"][0]
    assert key_for("bt.r.labels.ready", label) == str(label.model_dump()["signal_id"]).encode()
    assert key_for("cfg.events", examples()["cfg.events"][0]) == b"trend-v3"
    assert key_for("metrics.events", examples()["metrics.events"][0]) == b"connectors"
    assert key_for("alerts", examples()["alerts"][0]) is None
    letter = topics.DeadLetter.of("ord.results", b"{}", "x", key=b"BTCUSDT")
    assert key_for("dlq.ord.results", letter) == b"BTCUSDT"


def test_physical_names_resolve_to_their_logical_topic() -> None:
    assert split_topic("mkt.perp") == ("", "mkt.perp")
    assert split_topic("bt.r1.dlq.mkt.perp") == ("bt.r1.", "dlq.mkt.perp")
    assert split_topic("t_x.ops.events") == ("t_x.", "ops.events")
    for bad in ("mkt.perpetual", "xmkt.perp", "orders"):
        with pytest.raises(UnknownTopic, match="not declared"):
            split_topic(bad)


def test_feature_events_of_the_real_core_are_valid_contracts() -> None:
    bars = load_bars(BTC_MONTH).head(120)
    _, events = step(FeatureState(symbol="BTCUSDT"), bar_replay_ticks(bars), FeatureConfig(config_rev="r1"))
    assert len(events) >= 100
    for event in events:
        model = FeatureEvent.model_validate(event)
        assert decode("feat.events", encode(model)) == model
        assert model.model_dump(exclude={"v"}) == event
    # ints stay ints on the wire (n_ticks), warm-up gaps stay null
    assert isinstance(model.features["n_ticks"], int) and events[0]["features"]["rv"] is None


def test_literals_mirror_their_sources() -> None:
    assert set(typing.get_args(DqcFlag)) == {d.value for d in Dqc}
    assert set(typing.get_args(IntentSource)) <= set(ALL_SERVICES)


def test_a_union_topic_lists_its_members() -> None:
    spec = TOPICS["ord.intents"]
    assert issubclass(spec.schema, RootModel) and spec.schema_name() == "OrderIntent | CancelIntent"
    assert all(issubclass(m, BaseModel) for m in union_members(spec.schema))
