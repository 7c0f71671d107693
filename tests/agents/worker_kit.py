"""Real Faust workers for the agent tests: ``chimera worker`` as a subprocess on a real broker, with a
topic prefix, app id and web port of its own; plus a producer and a reader for its topics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from topics.producer import make_producer

REPO = Path(__file__).resolve().parents[2]
CHIMERA = str(Path(sys.executable).with_name("chimera"))
POLL_S = 0.05
# a reader's fetch wait: Tansu answers a fetch only when it expires (DESIGN §2)
READER_FETCH_WAIT_MS = 5
READY_LINE = "[^Worker]: Ready"


WorkerFactory = Callable[..., "Worker"]  # make_worker(bootstrap, **env) in tests/agents/conftest.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, worker: Worker | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the worker's log tail if it never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if worker is not None:
            worker.assert_alive()
        if time.monotonic() > deadline:
            tail = worker.log_tail() if worker is not None else ""
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{tail}")
        time.sleep(POLL_S)


@dataclass
class Worker:
    """One ``chimera worker`` process; ``env`` holds its CHIMERA_* settings."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_from: int = 0  # where this run's lines start in the (shared) log file

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.env['CHIMERA_WORKER_WEB_PORT']}"

    def start(self, services: str = "features", timeout_s: float = 60.0) -> Worker:
        self.env["CHIMERA_WORKER_WEB_PORT"] = str(free_port())
        out = self.log.open("ab")
        self._log_from = out.tell()
        self.proc = subprocess.Popen(
            [CHIMERA, "worker", "--services", services, "--loglevel", "info"],
            env={**os.environ, **self.env},
            cwd=self.log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        wait_for("the worker to be ready", self._ready, timeout_s, self)
        return self

    def _ready(self) -> bool:
        # Faust says so once its partitions are assigned and its tables recovered; the web view is up
        # before the consumer has joined its group
        return READY_LINE.encode() in self.log.read_bytes()[self._log_from :]

    def get_json(self, path: str) -> Any:
        """GET a page of the worker's web server; None on 404."""
        try:
            with urllib.request.urlopen(f"{self.web}{path}", timeout=2) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"worker exited\n{self.log_tail()}"

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(
                f"worker did not stop on signal {sig} in {timeout_s} s\n{self.log_tail()}"
            ) from None
        finally:
            self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log.read_bytes().decode(errors="replace")


def worker_env(
    bootstrap: str, prefix: str, app_id: str, data_dir: Path, partitions: int = 2
) -> dict[str, str]:
    return {
        "CHIMERA_KAFKA_BOOTSTRAP": bootstrap,
        "CHIMERA_TOPIC_PREFIX": prefix,
        "CHIMERA_WORKER_ID": app_id,
        "CHIMERA_TOPIC_PARTITIONS": str(partitions),
        "CHIMERA_DATA_DIR": str(data_dir),
    }


def publish(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send ``(key, value)`` records and wait for every ack; return how many were sent.

    Keys are partitioned with murmur2 (``topics.producer``), as Faust's own sends and ``chimera
    replay`` partition them: a symbol lands on the partition the agents use for it."""
    producer = make_producer(bootstrap, **{"linger.ms": 5, "acks": "all"})
    errors: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    n = 0
    for key, value in records:
        producer.produce(topic, value, key, on_delivery=delivered)
        n += 1
    left = producer.flush(30)
    assert left == 0 and not errors, f"{left} undelivered, errors {errors[:3]}"
    return n


@dataclass
class Reader:
    """Reads a topic from the beginning, across calls; ``records`` keeps what it has read."""

    bootstrap: str
    topic: str
    records: list[tuple[bytes | None, bytes, int]] = field(default_factory=list)  # key, value, create ms
    _consumer: Consumer | None = None

    def _open(self) -> Consumer:
        if self._consumer is None:
            consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": READER_FETCH_WAIT_MS,
                }
            )
            meta = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            if meta.error is not None:
                consumer.close()
                raise KafkaException(meta.error)
            consumer.assign([TopicPartition(self.topic, p, 0) for p in meta.partitions])
            self._consumer = consumer
        return self._consumer

    def poll(self) -> int:
        """Read what is there now; return how many records were new."""
        msgs = self._open().consume(1_000, timeout=POLL_S)
        for msg in msgs:
            assert msg.error() is None, msg.error()
            self.records.append((msg.key(), msg.value() or b"", msg.timestamp()[1]))
        return len(msgs)

    def read_until(
        self, done: Callable[[list[bytes]], bool], timeout_s: float, worker: Worker | None = None
    ) -> None:
        def check() -> bool:
            self.poll()
            return done([v for _, v, _ in self.records])

        wait_for(f"records on {self.topic}", check, timeout_s, worker)

    def values(self) -> list[bytes]:
        return [v for _, v, _ in self.records]

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (negative: none committed).

    Compare them with what was sent, not with end offsets: Tansu 0.6 reports a partition's end as
    its last record batch's base offset + 1 (see agents/transport.py)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = consumer.committed([TopicPartition(topic, p) for p in meta.partitions], timeout=10)
        return {tp.partition: tp.offset for tp in parts}
    finally:
        consumer.close()


def rewind_group(bootstrap: str, group: str, topic: str, offset: int = 0) -> None:
    """Commit ``offset`` for every partition of ``topic`` on behalf of an (empty) consumer group."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.commit(
            offsets=[TopicPartition(topic, p, offset) for p in meta.partitions], asynchronous=False
        )
    finally:
        consumer.close()
