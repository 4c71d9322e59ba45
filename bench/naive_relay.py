"""The naive relay of the baseline in `bench/pipeline.py` (not part of the product).

The same contract as `facturier.services.relay.Relay` (event store notification log -> Avro
-> Kafka, position saved only after the broker's ack), done the simple way: read ONE
notification, send it, flush, wait for its ack, save the position, commit, repeat. When the
log is drained it polls again every 10 ms. Settings come from the FACTURIER_* environment,
like `facturier serve --relay`.
"""

from __future__ import annotations

import logging
import signal
import threading

from facturier.adapters.kafka import ensure_topic, producer
from facturier.adapters.postgres import apply_schema, connect
from facturier.config.settings import Settings
from facturier.events.lifecycle import to_message
from facturier.services.application.invoicing import InvoicingApp

IDLE_POLL_S = 0.01


def run(settings: Settings, stop: threading.Event) -> None:
    app = InvoicingApp(settings.postgres)
    apply_schema(settings.postgres, "relay")
    ensure_topic(settings.kafka)
    kafka = producer(settings.kafka)
    name = settings.kafka.topic
    try:
        with connect(settings.postgres) as conn:
            conn.execute(
                "INSERT INTO relay_position (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )
            row = conn.execute(
                "SELECT position FROM relay_position WHERE name = %s", (name,)
            ).fetchone()
            conn.commit()
            position = int(row[0]) if row else 0  # type: ignore[call-overload]
            while not stop.is_set():
                notifications = app.recorder.select_notifications(position + 1, 1)
                if not notifications:
                    stop.wait(IDLE_POLL_S)
                    continue
                notification = notifications[0]
                message = to_message(app.mapper.to_domain_event(notification))
                future = kafka.send(
                    settings.kafka.topic,
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                )
                kafka.flush()
                future.get(timeout=30)
                conn.execute(
                    "UPDATE relay_position SET position = %s, updated_at = now() WHERE name = %s",
                    (notification.id, name),
                )
                conn.commit()
                position = notification.id
    finally:
        kafka.close()
        app.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run(Settings.from_env(), stop)


if __name__ == "__main__":
    main()
