"""`cosmo serve ...`: the knowledge API, its OpenAPI spec, and the serving steps by hand (publish the
features, run the cache's daily batch, deploy COSMO-LM to the endpoint, collect feedback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cosmo.cli_support import ConfigOption, DateOption, console
from cosmo.cli_support import fail as _fail
from cosmo.cli_support import today as _today
from cosmo.config import load_settings
from cosmo.errors import CosmoError

serve_app = typer.Typer(help="Serving: the knowledge API, features, the cache's batch, the model endpoint.",
                        no_args_is_help=True)

SPEC = Path("docs/api/openapi.json")


@serve_app.command("api")
def api(config: ConfigOption = None,
        host: Annotated[str | None, typer.Option(help="Interface (default api.host, loopback).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default api.port).")] = None) -> None:
    """Serve the knowledge API (bearer tokens from COSMO_API__TOKENS or api.token_secret_id)."""
    from cosmo.serving.server import serve_api

    try:
        serve_api(load_settings(config), host=host, port=port)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)


def openapi_spec() -> dict:
    """The API's OpenAPI document (what docs/api/openapi.json holds)."""
    import secrets

    from prometheus_client import CollectorRegistry

    from cosmo.config import Settings
    from cosmo.serving.api import Services, create_app

    # building the spec touches no service; the token only satisfies create_app and is dropped
    app = create_app(Settings(), Services(None, None, None, CollectorRegistry()), [secrets.token_hex(16)])
    return app.openapi()


@serve_app.command("openapi")
def openapi(out: Annotated[Path, typer.Option(help="Where to write the spec.")] = SPEC) -> None:
    """Write the knowledge API's OpenAPI spec (published in docs/api/openapi.json)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(openapi_spec(), indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {out}")


def _show(run, *args) -> None:
    from cosmo.errors import StepSkipped

    try:
        outputs = run(*args)
    except StepSkipped as skipped:
        console.print(f"[yellow]nothing to do:[/yellow] {skipped}")
        return
    except (CosmoError, FileNotFoundError, LookupError) as error:
        _fail(error)
    console.print_json(json.dumps(outputs, default=str))


@serve_app.command("publish")
def publish(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Build, check and publish the day's features to the feature store."""
    from cosmo.serving.feature_store import open_feature_store
    from cosmo.serving.publish import publish_features

    settings = load_settings(config)

    def run(day):
        with open_feature_store(settings) as store:
            return publish_features(day, settings, store)

    _show(run, ds or _today())


@serve_app.command("batch")
def batch(ds: DateOption = "", config: ConfigOption = None) -> None:
    """The cache's daily batch: refresh the frequent layer when due, answer the queued misses."""
    from cosmo.serving.batch import daily_batch

    _show(daily_batch, ds or _today(), load_settings(config))


@serve_app.command("deploy")
def deploy(config: ConfigOption = None) -> None:
    """Deploy the COSMO-LM champion to the model endpoint (rolled back when its smoke test fails)."""
    from cosmo.serving.services import deploy_champion

    _show(deploy_champion, load_settings(config))


@serve_app.command("feedback")
def feedback(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Collect the day's feedback events into feedback_events and feedback_signals."""
    from dataclasses import asdict

    from cosmo.serving.feedback import collect_feedback
    from cosmo.storage import Storage

    settings = load_settings(config)
    _show(lambda day: asdict(collect_feedback(Storage.from_settings(settings), day, settings.feedback)),
          ds or _today())


@serve_app.command("demo")
def demo(ds: DateOption = "", config: ConfigOption = None) -> None:
    """Start the API on loopback and ask it about the day's knowledge (what `cosmo refresh` ends with)."""
    from cosmo.serving.demo import run_demo

    try:
        run_demo(load_settings(config), ds or _today(), console)
    except (CosmoError, FileNotFoundError) as error:
        _fail(error)
