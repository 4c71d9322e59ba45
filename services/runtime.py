"""Running the services: API, relay, projections and flow intake, in one process or each in
its own; each service is restarted after a failure and watched by the health monitor. What
the services are made of is `services/bootstrap.py`'s business."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

import uvicorn
from prometheus_client import start_http_server

from facturier.config.settings import Settings
from facturier.services import bootstrap
from facturier.services.bootstrap import Service
from facturier.services.health import Monitor

log = logging.getLogger("facturier")


class _ApiServer(uvicorn.Server):
    """Ends the live streams (services/live_hub.py) as soon as it is asked to stop: uvicorn waits
    for open responses to finish first, and an event stream never finishes by itself."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        live = getattr(getattr(self.config.app, "state", None), "live", None)
        if live is not None:
            live.shutdown_soon()


def _supervised(service: Service, stop: threading.Event, monitor: Monitor) -> threading.Thread:
    name = service.name

    def body() -> None:
        while not stop.is_set():
            try:
                service.run(stop)
            except Exception as error:  # keep the service up; the error is logged with its trace
                log.exception("%s failed; restarting in 2 s", name)
                monitor.failed(name, error)  # /health says so until it runs a minute again
                stop.wait(2.0)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread


def serve(settings: Settings, services: Sequence[Service], api: bool) -> None:
    """Run the API (if asked) and the given services until SIGINT/SIGTERM. With the API, its
    /metrics also shows the services' metrics (same process); without it, the process exposes
    them on the first service's Prometheus port."""
    stop = threading.Event()
    if services and not api:
        start_http_server(services[0].metrics_port, addr=settings.api.host)
    monitor = bootstrap.monitor(settings)
    for service in services:
        monitor.watch(service.name, service.probe(monitor) if service.probe else None)
    workers = [_supervised(service, stop, monitor) for service in services]
    if services:
        workers.append(threading.Thread(target=monitor.run, args=(stop,), name="monitor"))
        workers[-1].start()
    if api:
        config = uvicorn.Config(
            bootstrap.api(settings),
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
        )
        server = _ApiServer(config)
        server.run()
        if not server.started:  # as uvicorn.run: a failed startup is an error exit
            stop.set()
            raise SystemExit(3)
    else:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
