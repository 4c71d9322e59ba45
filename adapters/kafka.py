"""Kafka clients as every facturier process configures them, and explicit topic creation."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from facturier.config.settings import KafkaSettings

# Largest message: an invoice of thousands of lines fits (the broker's default, 1 MB, would
# not). Set on the topics facturier creates and on its producer; a message beyond is a dead
# letter of the relay, never a stop.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class MemoisedKeyPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """Kafka's default key partitioning (murmur2 of the key), memoised: the relay sends about
    nine events per invoice, and the pure-Python hash was a visible share of its CPU."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._cache: dict[tuple[bytes, int], int] = {}
        self._max_keys = max_keys

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: Any,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        count = len(cluster.partitions_for_topic(topic))
        found = self._cache.get((serialized_key, count))
        if found is None:
            if len(self._cache) >= self._max_keys:
                self._cache.clear()
            found = (murmur2(serialized_key) & 0x7FFFFFFF) % count
            self._cache[(serialized_key, count)] = found
        return found


def producer(kafka: KafkaSettings) -> KafkaProducer:
    # Idempotent producer, acks from all in-sync replicas: retries never reorder or duplicate
    # within a partition, so per-invoice order holds. The relay flush()es after each batch,
    # which sends at once whatever the linger; a short linger only made the sender thread
    # wake up and ship part-batches while the relay was still enqueuing (GIL ping-pong:
    # ~1/3 of the relay's CPU in bench/pipeline.py).
    return KafkaProducer(
        bootstrap_servers=kafka.bootstrap,
        client_id="facturier-relay",
        acks="all",
        enable_idempotence=True,
        linger_ms=50,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        allow_auto_create_topics=False,
        partitioner=MemoisedKeyPartitioner(),
        max_request_size=MAX_MESSAGE_BYTES,
    )


def consumer(kafka: KafkaSettings, group_id: str, **config: object) -> KafkaConsumer:
    options: dict[str, object] = {
        "bootstrap_servers": kafka.bootstrap,
        "group_id": group_id,
        "client_id": group_id,
        "enable_auto_commit": False,  # offsets live in PostgreSQL, with the projection's rows
        "auto_offset_reset": "earliest",
        "max_poll_records": 2000,
        "fetch_max_wait_ms": 50,
        "allow_auto_create_topics": False,
        "isolation_level": "read_committed",
        # A killed member is noticed after 10 s (not 45 s), so its partitions move on quickly.
        "session_timeout_ms": 10000,
        "heartbeat_interval_ms": 3000,
    }
    options.update(config)
    return KafkaConsumer(**options)


def ensure_topic(kafka: KafkaSettings, topic: str | None = None, timeout_s: float = 60.0) -> None:
    """Create the lifecycle topic if it does not exist (brokers never auto-create it)."""
    name = topic or kafka.topic
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id="facturier-admin")
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    try:
        if name in admin.list_topics():
            return
        admin.create_topics(
            [
                NewTopic(
                    name,
                    kafka.topic_partitions,
                    kafka.topic_replication,
                    topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)},
                )
            ]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
