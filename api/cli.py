"""`alpr serve`: the REST API on uvicorn, bound to 127.0.0.1 unless told otherwise."""
import ipaddress
import logging
from typing import Any, Callable, Dict, Optional

import click

from alpr import defaults
from alpr.cli_options import build_settings, common_options

log = logging.getLogger("alpr.api")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fleet_reader(settings: Any) -> Callable[[], Dict[str, Any]]:
    """What `alpr status --json` prints, read from Redis on each call."""
    from alpr.frame_store import FrameStore
    from alpr.keys import Keys
    from alpr.redis_conn import connect_settings
    from dispatcher.fleet_watch import FleetWatch
    from dispatcher.status import collect

    keys = Keys(settings.namespace)
    clients = []  # type: list

    def read() -> Dict[str, Any]:
        if not clients:
            clients.append(connect_settings(settings))
        redis = clients[0]
        store = FrameStore(redis, keys, settings.results_maxlen, settings.max_frame_age_s)
        return collect(redis, keys, FleetWatch(redis, keys, store, keys.queue(settings.queue)))

    return read


def build_app(settings: Any, token: str = "", console: bool = True) -> Any:
    from alpr.keys import Keys
    from alpr.redis_conn import connect_settings
    from api.app import create_app
    from api.console import Console
    from store import open_store
    from store.cli import default_db_url
    from store.evidence import EvidenceDir
    from store.sink import evidence_root

    store = open_store(default_db_url(settings))
    web = Console(token, settings.console_password, lambda: connect_settings(settings),
                  Keys(settings.namespace)) if console else None
    return create_app(store, EvidenceDir(evidence_root(settings)), fleet_reader(settings),
                      token=token, console=web)


@click.command("serve")
@common_options
@click.option("--db", default=None, help="Event store: sqlite:///path or postgresql://...")
@click.option("--data-dir", default=None, help="Evidence (and default SQLite) directory.")
@click.option("--evidence-dir", default=None, help="Evidence packs (default DATA_DIR/evidence).")
@click.option("--host", default=defaults.API_HOST, show_default=True,
              help="Address to bind; anything but loopback needs --token.")
@click.option("--port", type=int, default=defaults.API_PORT, show_default=True)
@click.option("--token", "api_token", default=None, envvar="ALPR_API_TOKEN",
              help="Required in the X-API-Token header for all but /api/health.")
@click.option("--password", "console_password", default=None, envvar="ALPR_CONSOLE_PASSWORD",
              help="The web console's login also takes this (besides the token).")
def serve_cmd(config_file: Optional[str], host: str, port: int, **flags: Any) -> None:
    """Serve the web console at / and the REST API under /api/ (docs at /docs)."""
    import uvicorn

    from alpr.errors import AlprError

    settings = build_settings(config_file, **flags)
    if not is_loopback(host) and not (settings.api_token or settings.console_password):
        raise click.ClickException("bound to %s (not loopback): set --token or ALPR_API_TOKEN"
                                   " (or --password for the console's login)" % host)
    try:
        app = build_app(settings, settings.api_token)
    except AlprError as exc:
        raise click.ClickException(str(exc))
    log.info("console on http://%s:%d/ and API under /api/ (store %s, login %s)", host, port,
             app.state.store.url, "required" if app.state.console.login_required
             else "off: loopback only")
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(),
                access_log=False)
