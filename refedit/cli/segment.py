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
    stage_names,
    stage_options,
    utf8_text,
)
from refedit.cli.streams import (
    check_std_streams,
    instruction_for,
    is_std,
    read_image,
    read_instruction,
    read_plan,
    write_png_stdout,
)
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
            attention_out: Path | None, as_json: bool, parser: str, segmenter: str, editor: str | None,
            **params: Any) -> None:  # fmt: skip
    """Find the object INSTRUCTION refers to in IMAGE; print the choice and why, optionally save the mask.

    Give - as IMAGE or as INSTRUCTION (not both) to read it from stdin.
    """
    from refedit.config import check_environment

    check_environment()
    check_std_streams(image, plan_source, output, as_json, instruction)
    # the editor's options are accepted too (not run here), so one option string serves a parse | segment | edit pipe
    options = options_from(params, stage_names(parser, segmenter, editor))
    stages = {"parser": parser, "segmenter": segmenter}
    from refedit.pipeline.imageio import check_mask_output

    read = (params.get("hint_mask"), options.get("detections"), plan_source)  # every file the run reads
    if output is not None and not is_std(output):
        check_mask_output(output, image, *read)
    if attention_out is not None:
        check_mask_output(attention_out, image, output, *read)
    from refedit.cli.outputs import candidates_drawing

    where, inputs = candidates_drawing(image, output, *read)
    given = read_plan(plan_source) if plan_source else None
    instruction = instruction_for(read_instruction(instruction), given)
    settings = settings_from(params, stages, options)
    source = read_image(image, segmenting=True)
    hints = hints_from(params, source.rgb.size)
    check_models(settings, {"segmenter": segmenter} if given else stages, options)
    from refedit.core.files import all_or_nothing
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import build_stage, check_not_empty, refuse_hints
    from refedit.pipeline.imageio import save_mask
    from refedit.pipeline.parse.segmenting import segmentation_plan

    request = EditRequest(image=source.rgb, instruction=instruction, hints=hints, image_path=str(image))
    stage = build_stage("segmenter", segmenter, settings, **options)  # checkpoint types checked before parsing
    refuse_hints(stage, hints)
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
    with all_or_nothing():  # the mask and the attention map, both written or neither
        if output is not None and not is_std(output):
            save_mask(seg.mask, output)
        if attention_out is not None:
            if not hasattr(stage, "attention_heatmap"):
                raise BadInput(f"--attention needs a segmenter that looks at attention (refdiff), not {segmenter!r}")
            from refedit.pipeline.imageio import save_image
            from refedit.pipeline.segment.refdiff import overlay_heatmap

            save_image(overlay_heatmap(request.image, stage.attention_heatmap(request.image, plan)), attention_out)
        if is_std(output):  # last: the files are renamed only once stdout has the mask
            from PIL import Image as PILImage

            write_png_stdout(PILImage.fromarray(seg.mask.astype("uint8") * 255, mode="L"))
    if as_json:
        click.echo(json.dumps({"plan": plan.to_dict(), "segmentation": seg.to_dict(),
                               "mask_path": None if output is None else str(output)}))  # fmt: skip
        return
    for line in candidate_lines(seg):
        click.echo(line)
    click.echo(seg.reason)


def candidate_lines(seg: Any) -> list[str]:
    """One line per detection, numbered as ``--pick`` counts them (from the left; a detection that was not one of
    an ambiguity's candidates is "-"), in that order, the chosen ones starred."""
    from refedit.pipeline.segment.resolve import pick_numbers

    numbers = pick_numbers(seg.candidates, seg.ambiguity)
    order = sorted(range(len(numbers)), key=lambda i: (numbers[i] is None, numbers[i] or 0, -seg.candidates[i].score))
    lines = []
    for i in order:
        c, n = seg.candidates[i], numbers[i]
        mark, number, aside = "*" if i in seg.chosen else " ", "-" if n is None else n, " (not comparable)" if n is None else ""
        lines.append(f"{mark} {number}: {c.label or '?'} score {c.score:.2f} box {[round(v, 1) for v in c.box]}{aside}")
    return lines
