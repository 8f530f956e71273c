"""`alpr scenes OUT_DIR`: write labelled synthetic scenes of Brazilian, EU or US plates."""
import click

from alpr import defaults

REGION_CHOICES = ("br", "eu", "us", "mix")


@click.command("scenes")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--count", type=int, default=50, show_default=True, help="Scenes to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same scenes.")
@click.option("--region", type=click.Choice(REGION_CHOICES), default="mix", show_default=True,
              help="Plates to draw: br (Mercosul, old grey, motorcycle), eu, us, or mix "
                   "(br, eu, us in turn, written to OUT_DIR/<region>/).")
@click.option("--width", type=int, default=defaults.SCENE_SIZE[0], show_default=True, help="Scene width (px).")
@click.option("--height", type=int, default=defaults.SCENE_SIZE[1], show_default=True, help="Scene height (px).")
def scenes_cmd(out_dir: str, count: int, seed: int, region: str, width: int, height: int) -> None:
    """Write labelled synthetic scenes (plates on simple cars) in OpenALPR format.

    Each label is what an OCR should read: the plate text without spaces, dashes, the EU
    country band or the US state name.
    """
    from evaluation.scenes import write_scenes

    if count < 1:
        raise click.BadParameter("must be at least 1", param_hint="--count")
    if width < 640 or height < 360:
        raise click.BadParameter("scenes need at least 640 x 360 pixels", param_hint="--width/--height")
    paths = write_scenes(out_dir, count, seed, (width, height), region=region)
    click.echo("wrote %d scenes (region %s, seed %d) to %s" % (len(paths), region, seed, out_dir))
