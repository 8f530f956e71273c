"""`alpr models prepare|check|defaults`: node-ready ONNX copies, each proven equivalent."""
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import click

from alpr import defaults
from alpr.errors import AlprError, ModelError

#: the models a default worker loads (labels of engines.models.DEFAULT_FILES)
DEFAULT_MODELS = ("platedet", "ppocr-rec", "ppocr-det")


def default_model_paths(cache_dir: Optional[str] = None) -> Dict[str, str]:
    """label -> ONNX path of each model a default worker loads, the very file it loads, so
    engines built from these are the ones workers look up: platedet without its unread
    mask prototypes (engines.trim), the recogniser with its plate-alphabet head
    (engines.head_trim), both kept in `cache_dir` (the node's engine cache; default
    ~/.cache/alpr/engines). Found in their wheels without importing the packages."""
    from engines.head_trim import trimmed_copy
    from engines.models import default_file
    from engines.trim import only_outputs

    cache = cache_dir or defaults.ENGINE_CACHE_DIR
    out = OrderedDict((label, default_file(label)) for label in DEFAULT_MODELS)
    if defaults.TRIM_OUTPUTS:
        out["platedet"] = only_outputs(out["platedet"], [0], cache)[0]
    out["ppocr-rec"] = trimmed_copy(out["ppocr-rec"], cache)[0]
    return out


def _parse_dims(values: Tuple[str, ...]) -> Dict[str, int]:
    dims = {}
    for item in values:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise click.BadParameter("expected NAME=INT, got %r" % item, param_hint="--dim")
        dims[name] = int(value)
    return dims


def _check(original: str, converted: str, sample: Optional[str], seed: int,
           dims: Dict[str, int], rtol: float, atol: float, reference: Optional[str],
           save_reference: Optional[str]) -> Optional[bool]:
    """Print the comparison table; True/False = passed/failed, None = no reference available."""
    import onnx

    from engines.prepare import equivalence as eq

    if reference:
        runs = eq.load_runs(reference)
    else:
        try:
            runs = eq.reference_runs(onnx.load(original), onnx.load(converted), seed, dims,
                                     eq.load_sample(sample))
        except ModelError as exc:
            click.echo("  not proven here: the original does not run on this onnxruntime (%s).\n"
                       "  Save a reference where it runs (--save-reference REF.npz) and check "
                       "with `alpr models check %s --reference REF.npz`." % (exc, converted))
            return None
        if save_reference:
            eq.save_runs(save_reference, runs)
            click.echo("  reference feeds/outputs saved to %s" % save_reference)
    rows = eq.compare(converted, runs, rtol, atol)
    click.echo("  equivalence (pass: max_abs <= %g + %g * max|ref|):" % (atol, rtol))
    click.echo("\n".join("    " + line for line in eq.format_rows(rows).splitlines()))
    return all(r.ok for r in rows)


@click.group("models")
def models_group() -> None:
    """Prepare ONNX models for a node's runtime (TensorRT 8.2 / 10, ONNX Runtime 1.10)."""


_tolerance_options = [
    click.option("--rtol", type=float, default=defaults.PREPARE_RTOL, show_default=True,
                 help="Allowed max|diff| relative to max|reference| per output."),
    click.option("--atol", type=float, default=defaults.PREPARE_ATOL, show_default=True,
                 help="Allowed absolute slack per output."),
]


def _with(options):
    def wrap(func):
        for option in reversed(options):
            func = option(func)
        return func
    return wrap


@models_group.command("prepare")
@click.argument("models", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--default", "use_default", is_flag=True, help="Prepare the installed platedet/platerec models.")
@click.option("--target", required=True, type=click.Choice(["trt8.2", "trt10", "ort1.10"]),
              help="Runtime the copy is for.")
@click.option("-o", "--output", default=None, help="Output file (one model only).")
@click.option("--out-dir", default=".", show_default=True, help="Folder for <stem>.<target>.onnx files.")
@click.option("--sample", default=None, type=click.Path(dir_okay=False, exists=True),
              help="A JPEG used as the real input (default: a generated plate scene).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random-input seed.")
@click.option("--dim", "dims", multiple=True, help="Value for a dynamic dim, NAME=INT (default 2).")
@click.option("--no-check", is_flag=True, help="Skip the equivalence proof.")
@click.option("--save-reference", default=None,
              help="Also save the original's feeds/outputs (.npz) to check the copy elsewhere.")
@click.option("--strict", is_flag=True,
              help="Exit 2 when a proof cannot run here (default: say so and go on).")
@click.option("--cache-dir", default=defaults.ENGINE_CACHE_DIR, show_default=True,
              envvar="ALPR_ENGINE_CACHE_DIR", help="Engine cache (holds the trimmed platedet).")
@_with(_tolerance_options)
def prepare_cmd(models: Tuple[str, ...], use_default: bool, target: str, output: Optional[str],
                out_dir: str, sample: Optional[str], seed: int, dims: Tuple[str, ...],
                no_check: bool, save_reference: Optional[str], strict: bool, cache_dir: str,
                rtol: float, atol: float) -> None:
    """Write a node-ready copy of each MODEL for --target and prove it matches the original."""
    from engines.prepare import convert

    paths = list(models)  # type: List[str]
    try:
        if use_default:
            paths.extend(default_model_paths(cache_dir).values())
        if not paths:
            raise click.UsageError("give MODEL.onnx files or --default")
        if output and len(paths) > 1:
            raise click.UsageError("-o/--output takes one model; use --out-dir for several")
        if save_reference and len(paths) > 1:
            raise click.UsageError("--save-reference takes one model")
        failed = unproven = 0
        for src in paths:
            out = output or convert.default_output(src, target, out_dir)
            click.echo("%s -> %s" % (src, out))
            prepared = convert.prepare(src, target, out)
            for note in prepared.notes:
                click.echo("  " + note)
            if no_check:
                continue
            ok = _check(src, out, sample, seed, _parse_dims(dims), rtol, atol, None, save_reference)
            failed += ok is False
            unproven += ok is None
    except AlprError as exc:
        raise click.ClickException(str(exc))
    if failed:
        click.echo("%d model(s) differ beyond tolerance" % failed, err=True)
        sys.exit(1)
    if unproven:
        # a node whose onnxruntime cannot run the original (a Nano's 1.10 and opset 17) cannot
        # prove the copy; the proof runs where it can (`make test`, a bigger box)
        click.echo("%d model(s) not proven on this node: the copies are written; prove them where "
                   "the originals run (--save-reference there, `alpr models check --reference` "
                   "here)" % unproven, err=True)
        if strict:
            sys.exit(2)


@models_group.command("check")
@click.argument("converted", type=click.Path(dir_okay=False, exists=True))
@click.option("--original", default=None, type=click.Path(dir_okay=False, exists=True),
              help="The original ONNX file (run here) ...")
@click.option("--reference", default=None, type=click.Path(dir_okay=False, exists=True),
              help="... or an .npz saved by `prepare --save-reference` (e.g. on Python 3.11).")
@click.option("--sample", default=None, type=click.Path(dir_okay=False, exists=True))
@click.option("--seed", type=int, default=0)
@click.option("--dim", "dims", multiple=True, help="Value for a dynamic dim, NAME=INT.")
@_with(_tolerance_options)
def check_cmd(converted: str, original: Optional[str], reference: Optional[str],
              sample: Optional[str], seed: int, dims: Tuple[str, ...], rtol: float,
              atol: float) -> None:
    """Compare a prepared copy with its original (or a saved reference) on this onnxruntime."""
    if bool(original) == bool(reference):
        raise click.UsageError("give exactly one of --original or --reference")
    import onnxruntime

    click.echo("%s on onnxruntime %s, Python %s" % (converted, onnxruntime.__version__,
                                                   sys.version.split()[0]))
    try:
        ok = _check(original or "", converted, sample, seed, _parse_dims(dims), rtol, atol,
                    reference, None)
    except AlprError as exc:
        raise click.ClickException(str(exc))
    if ok is None:
        sys.exit(2)
    if not ok:
        sys.exit(1)


@models_group.command("defaults")
@click.option("--cache-dir", default=defaults.ENGINE_CACHE_DIR, show_default=True,
              envvar="ALPR_ENGINE_CACHE_DIR", help="Engine cache (holds the trimmed platedet).")
def defaults_cmd(cache_dir: str) -> None:
    """Show where the installed default models are."""
    try:
        for label, path in default_model_paths(cache_dir).items():
            click.echo("%-18s %s" % (label, path))
    except AlprError as exc:
        raise click.ClickException(str(exc))
