"""Running the knowledge API: its services opened from the settings, served by uvicorn in the
foreground (``cosmo serve api``) or on a background thread (the refresh's demo, tests, benchmarks).

It binds loopback (``api.host`` 127.0.0.1) unless told otherwise, and never runs without tokens.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry

from cosmo.config import Settings
from cosmo.ports import free_port
from cosmo.serving.api import Services, accepted_tokens, create_app
from cosmo.serving.cache import CacheMetrics, open_cache
from cosmo.serving.feature_store import open_feature_store
from cosmo.serving.feedback import FeedbackWriter
from cosmo.storage import Storage

log = logging.getLogger(__name__)


@contextlib.contextmanager
def api_services(settings: Settings) -> Iterator[Services]:
    """The feature store, cache (with its metrics) and feedback writer the API uses; closed on exit
    (pending feedback is written first)."""
    registry = CollectorRegistry()
    with open_feature_store(settings) as store, open_cache(settings, metrics=CacheMetrics(registry)) as cache:
        writer = FeedbackWriter(Storage.from_settings(settings), settings.feedback)
        try:
            yield Services(feature_store=store, cache=cache, feedback=writer, registry=registry)
        finally:
            writer.close()


def serve_api(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the API until interrupted."""
    import uvicorn

    tokens = accepted_tokens(settings)
    if settings.api.access_log:
        _log_access_to_stderr()
    host = host or settings.api.host
    port = port or settings.api.port
    with api_services(settings) as services:
        app = create_app(settings, services, tokens)
        log.info("knowledge API on http://%s:%d: callers authenticate with a bearer token (%d accepted)%s",
                 host, port, len(tokens), "" if host in ("127.0.0.1", "localhost", "::1")
                 else "; not loopback: put it behind TLS")
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _log_access_to_stderr() -> None:
    """Access lines as bare JSON (one object per line, for a log shipper), whatever the root logger does."""
    import sys

    from cosmo.serving.api import access_log

    if not any(getattr(h, "_cosmo_access", False) for h in access_log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._cosmo_access = True
        access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


@contextlib.contextmanager
def background_api(settings: Settings, tokens: list[str], *, host: str = "127.0.0.1",
                   port: int | None = None, workers_limit: int | None = None) -> Iterator[str]:
    """The API on a background thread for the block; yields its base URL."""
    import uvicorn

    port = port or free_port(host)
    with api_services(settings) as services:
        app = create_app(settings, services, tokens)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                limit_concurrency=workers_limit, backlog=4096)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="knowledge-api", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the knowledge API did not start on {host}:{port}")
            time.sleep(0.02)
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)
