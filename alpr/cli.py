"""The `alpr` console script: one click group whose verbs load their modules lazily.

Lazy loading keeps `alpr --help` and the producer free of heavy imports (cv2,
onnxruntime, tensorrt), which matters on a 2 GB Nano. It sits in the core so that `python -m
alpr` runs on a bare node, and it is the one module of the core that names modules above
it, as "module:attr" strings (COMMANDS, NAMED_SOURCES; docs/architecture.md, "Layers").
"""
import importlib
import logging
import sys
from typing import Any, Callable, Dict, List, Optional

import click

from alpr.errors import ConfigError

SETTING_EXIT = 2  # a bad setting or flag: the same code click gives a usage error
_NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # type: ignore

#: verb -> "module:attribute" of a click command or group
COMMANDS = {
    "read": "engines.cli:read_cmd",
    "models": "engines.models_cli:models_group",
    "engines": "engines.trt_cli:engines_group",
    "eval": "evaluation.cli:eval_cmd",
    "scenes": "evaluation.scenes_cli:scenes_cmd",
    "bench": "bench.cli:bench_group",
    "worker": "worker.cli:worker_cmd",
    "doctor": "worker.doctor_cli:doctor_cmd",
    "produce": "producer.cli:produce_cmd",
    "dispatch": "dispatcher.cli:dispatch_cmd",
    "status": "dispatcher.cli:status_cmd",
    "fleet": "dispatcher.cli:fleet_group",
    "demo": "demo.cli:demo_cmd",
    "events": "store.cli:events_group",
    "serve": "api.cli:serve_cmd",
}  # type: Dict[str, str]

#: SOURCE names `alpr produce` takes besides folders, files, URLs and devices, served by a
#: layer above the producer: name -> "module:factory" (factory(seed=, repeat=) -> a source)
NAMED_SOURCES = {
    "scenes": "evaluation.scene_source:SceneSource",
}  # type: Dict[str, str]


def load(spec: str) -> Any:
    """The object a "module:attribute" string names, its module imported now."""
    module_name, attr = spec.split(":")
    return getattr(importlib.import_module(module_name), attr)


def named_sources() -> Dict[str, Callable[..., Any]]:
    """NAMED_SOURCES as factories that import their module only when called."""
    def factory(spec: str) -> Callable[..., Any]:
        return lambda **kwargs: load(spec)(**kwargs)
    return {name: factory(spec) for name, spec in NAMED_SOURCES.items()}


class LazyGroup(click.Group):
    """A click group that imports a verb's module only when that verb runs."""

    def __init__(self, *args, lazy_commands: Optional[Dict[str, str]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's main, but every bad setting answers one line and exit code 2 (no usage
        block, no traceback): click's usage errors and our ConfigError alike."""
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except _NO_ARGS_HELP as exc:  # click >= 8.2: a bare group prints its help
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = " (see '%s --help')" % exc.ctx.command_path if exc.ctx is not None else ""
            click.echo("Error: %s%s" % (exc.format_message(), hint), err=True)
            sys.exit(SETTING_EXIT)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ConfigError as exc:
            click.echo("Error: %s" % exc, err=True)
            sys.exit(SETTING_EXIT)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name in self.lazy_commands:
            return load(self.lazy_commands[cmd_name])
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name=None, message="alpr %(version)s", version="0.1.0")
def main() -> None:
    """ALPR fleet: read licence plates on a fleet of nodes fed through Redis."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
