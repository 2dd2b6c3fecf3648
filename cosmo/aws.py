"""AWS clients, made one way: the standard credential chain (role, profile, environment; never keys
in configuration), the region and endpoint from ``settings.aws`` (an endpoint URL only for local
stand-ins such as moto's server)."""

from __future__ import annotations

import threading

_session = None
_session_lock = threading.Lock()


def client(service: str, *, region: str | None, endpoint_url: str | None = None, config=None):
    """A boto3 client for ``service``. One session per process keeps botocore's parsed service models
    (a new session parses them again); sessions are not thread-safe, hence the lock."""
    import boto3

    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def client_for(settings, service: str, *, config=None):
    """A client for ``service`` in the account and region ``settings.aws`` names."""
    return client(service, region=settings.aws.region, endpoint_url=settings.aws.endpoint_url, config=config)
