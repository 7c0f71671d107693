"""The session's Tansu broker (``tansu_bootstrap``), which the Faust-on-Tansu tests build on."""

from __future__ import annotations

import pytest
from stack_kit import kafka_roundtrip

from chimera.stack import health


@pytest.mark.tansu
def test_session_tansu_answers_metadata_and_carries_a_message(tansu_bootstrap: str) -> None:
    assert health.kafka_ok(tansu_bootstrap)
    assert len(kafka_roundtrip(tansu_bootstrap)) == 32
