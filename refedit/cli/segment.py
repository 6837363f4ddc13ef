"""``refedit segment``: the mask of the referred object, the choice and why; an ambiguous instruction stops with
its candidates listed and drawn (exit 7)."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import click

from refedit.cli.app import debug_requested, handle_errors, main
from refedit.cli.options import (
    check_models,
    hints_from,
    model_options,
    options_from,
    settings_from,
    stage_options,
    utf8_text,
)
from refedit.cli.streams import check_std_streams, instruction_for, is_std, read_image, read_plan, write_png_stdout
from refedit.errors import BadInput


@main.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.argument("instruction", required=False, default=None, callback=utf8_text)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write the mask as PNG.")
@click.option("--plan", "plan_source", default=None, metavar="FILE|-", help="Use this plan (JSON; - for stdin).")
@click.option("--attention", "attention_out", type=click.Path(path_type=Path), default=None,
              help="--segmenter refdiff: write the ROOT token's cross-attention over the image (PNG).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the plan and segmentation as JSON on stdout.")
@stage_options
@model_options
@handle_errors
def segment(image: Path, instruction: str | None, output: Path | None, plan_source: str | None,
            attention_out: Path | None, as_json: bool, parser: str, segmenter: str, editor: str,
            **params: Any) -> None:  # fmt: skip
    """Find the object INSTRUCTION refers to in IMAGE; print the choice and why, optionally save the mask."""
    from refedit.config import check_environment

    check_environment()
    check_std_streams(image, plan_source, output, as_json)
    # the editor's options are accepted too (not run here), so one option string serves a parse | segment | edit pipe
    options = options_from(params, {"parser": parser, "segmenter": segmenter, "editor": editor})
    stages = {"parser": parser, "segmenter": segmenter}
    from refedit.pipeline.imageio import check_mask_output

    if output is not None and not is_std(output):
        check_mask_output(output, image)
    if attention_out is not None:
        check_mask_output(attention_out, image, output)
    from refedit.cli.outputs import candidates_drawing

    where, inputs = candidates_drawing(image, output, plan_source)
    given = read_plan(plan_source) if plan_source else None
    instruction = instruction_for(instruction, given)
    settings = settings_from(params)
    source = read_image(image)
    hints = hints_from(params, source.rgb.size)
    check_models(settings, {"segmenter": segmenter} if given else stages, options)
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import build_stage, check_not_empty
    from refedit.pipeline.imageio import save_mask
    from refedit.pipeline.parse.segmenting import segmentation_plan

    request = EditRequest(image=source.rgb, instruction=instruction, hints=hints, image_path=str(image))
    stage = build_stage("segmenter", segmenter, settings, **options)  # checkpoint types checked before parsing
    plan = given or segmentation_plan(build_stage("parser", parser, settings), instruction, image=request.image,
                                      hinted=not hints.empty)  # fmt: skip
    from refedit.cli.outputs import exit_ambiguous
    from refedit.pipeline.artifacts import AmbiguousTarget

    try:
        found = stage.segment(image=request.image, plan=plan, hints=request.hints)
    except AmbiguousTarget as err:
        if debug_requested(click.get_current_context()):
            traceback.print_exc()
        exit_ambiguous(err, request.image, where, as_json, plan, inputs)
    seg = check_not_empty(found, f"the {segmenter} segmenter found no pixels of {plan.target.expression!r}")
    if is_std(output):
        from PIL import Image as PILImage

        write_png_stdout(PILImage.fromarray(seg.mask.astype("uint8") * 255, mode="L"))
    elif output is not None:
        save_mask(seg.mask, output)
    if attention_out is not None:
        if not hasattr(stage, "attention_heatmap"):
            raise BadInput(f"--attention needs a segmenter that looks at attention (refdiff), not {segmenter!r}")
        from refedit.pipeline.imageio import save_image
        from refedit.pipeline.segment.refdiff import overlay_heatmap

        save_image(overlay_heatmap(request.image, stage.attention_heatmap(request.image, plan)), attention_out)
    if as_json:
        click.echo(json.dumps({"plan": plan.to_dict(), "segmentation": seg.to_dict(),
                               "mask_path": None if output is None else str(output)}))  # fmt: skip
        return
    for i, c in enumerate(seg.candidates):
        mark = "*" if i in seg.chosen else " "
        click.echo(f"{mark} {i}: {c.label or '?'} score {c.score:.2f} box {[round(v, 1) for v in c.box]}")
    click.echo(seg.reason)
