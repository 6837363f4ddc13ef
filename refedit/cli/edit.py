"""``refedit edit``: one image, one instruction, one edited image (or several: an encoding-ratio sweep,
``--num-outputs``); an ambiguous instruction stops with its candidates listed and drawn (exit 7)."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import click

from refedit.cli.app import debug_requested, handle_errors, main
from refedit.cli.options import (
    SeedType,
    check_models,
    hints_from,
    model_options,
    options_from,
    segmenter_only,
    settings_from,
    stage_names,
    stage_options,
    utf8_text,
)
from refedit.cli.progress import progress_reporter
from refedit.cli.streams import (
    check_std_streams,
    default_output,
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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Output image (format from the extension) [IMAGE_edited.png beside the input].")  # fmt: skip
@click.option("--plan", "plan_source", default=None, metavar="FILE|-",
              help="Use this plan instead of parsing (JSON from `refedit parse/segment --json`; - for stdin).")  # fmt: skip
@click.option("--save-mask", "mask_out", type=click.Path(path_type=Path), default=None,
              help="Also write the segmented object's mask as PNG (reusable as --mask); the editor repaints it grown "
                   "by --paste-dilate and feathered, qwen-edit/kontext's --mask-mode box or expand:N its box.")  # fmt: skip
@click.option("--mask", "mask_path", type=click.Path(path_type=Path), default=None,
              help="Exact mask PNG of the object (skips segmentation).")  # fmt: skip
@click.option("--seed", type=SeedType(), default=0, show_default=True, help="Random seed (0 to 2**63-1).")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON on stdout.")
@stage_options
@model_options
@handle_errors
def edit(image: Path, instruction: str | None, output: Path | None, plan_source: str | None, mask_out: Path | None,
         mask_path: Path | None, seed: int, as_json: bool, parser: str, segmenter: str, editor: str | None,
         **params: Any) -> None:  # fmt: skip
    """Edit the object INSTRUCTION refers to in IMAGE and write the result.

    Give - as IMAGE or as INSTRUCTION (not both) to read it from stdin.
    """
    from refedit.config import check_environment

    check_environment()
    output = output or (Path("-") if is_std(image) else default_output(image))
    check_std_streams(image, plan_source, output, as_json, instruction)
    stages = stage_names(parser, segmenter, editor)
    options = options_from(params, stages)
    from refedit.cli.outputs import refuse_stdout_for_several

    refuse_stdout_for_several(output, options)
    from refedit.pipeline.imageio import check_mask_output, check_output_path

    read = (mask_path, params.get("hint_mask"), options.get("detections"), plan_source)  # every file the run reads
    if not is_std(output):
        check_output_path(output, image, *read)
        from refedit.outputs import planned_outputs
        from refedit.pipeline.imageio import check_not_inputs

        check_not_inputs(planned_outputs(output, options), image, *read, what="output")  # out_2.png, out_sheet.png
    if mask_out is not None:
        check_mask_output(mask_out, image, *read)
        if mask_out.resolve() == output.resolve():
            raise BadInput("--save-mask and --output must be different files")
    from refedit.cli.outputs import candidates_drawing

    where, inputs = candidates_drawing(image, output, *read)
    given = read_plan(plan_source) if plan_source else None
    instruction = instruction_for(read_instruction(instruction), given)
    if not instruction.strip():
        raise BadInput("the instruction is empty; say what to change, e.g. 'replace the cat with a tiger'")
    settings = settings_from(params, stages, options, editor_left=editor is None)
    source = read_image(image, output)
    hints = hints_from(params, source.rgb.size, mask_path)
    needed = {k: v for k, v in stages.items() if not (k == "parser" and given) and not (k == "segmenter" and mask_path)}
    check_models(settings, needed, options)
    if hints.mask is not None and not hints.mask.any():
        from refedit.errors import TargetNotFound

        raise TargetNotFound(f"the mask is empty: --mask {mask_path} has no white pixels (pixels > 127 are the object)")
    if mask_path is not None and (idle := segmenter_only(options, stages)):
        click.echo(f"refedit: note: {', '.join(idle)} {'tunes' if len(idle) == 1 else 'tune'} the segmenter, and "
                   f"--mask gives the mask: no effect here", err=True)  # fmt: skip
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import Pipeline
    from refedit.pipeline.models import ModelStore

    store = ModelStore(settings)
    pipe = Pipeline.build(store.settings, parser=parser, segmenter=segmenter, editor=editor, options=options,
                          store=store, progress=progress_reporter(store))  # fmt: skip
    request = EditRequest(image=source.rgb, instruction=instruction, hints=hints, seed=seed, image_path=str(image),
                          plan=given)  # fmt: skip
    from refedit.cli.outputs import exit_ambiguous
    from refedit.outputs import edit_metadata, writes_variants
    from refedit.pipeline.artifacts import AmbiguousTarget

    try:
        result = pipe.run(request)
    except AmbiguousTarget as err:
        if debug_requested(click.get_current_context()):
            traceback.print_exc()
        exit_ambiguous(err, source.rgb, where, as_json, given, inputs)
    written, sheet = write_outputs(result, output, mask_out, source, edit_metadata(instruction, seed, result))
    if as_json:
        paths = written if writes_variants(result) else None
        record = result.to_dict(image_path=None if paths else output, variant_paths=paths)
        record["mask_path"] = None if mask_out is None else str(mask_out)
        record["contact_sheet"] = None if sheet is None else str(sheet)
        click.echo(json.dumps(record))
    else:  # the paths on stdout (not when it carries the image); why and how long on stderr in either case
        for path in [] if is_std(output) else [*written, *([sheet] if sheet else [])]:
            click.echo(str(path))
        click.echo(f"{result.segmentation.reason}; {result.timings['total']:.1f}s", err=True)
        if result.ratio_choice is not None:
            click.echo(f"auto-ratio: {result.ratio_choice.reason}", err=True)


def write_outputs(result: Any, output: Path, mask_out: Path | None, source: Any,
                  meta: dict[str, str]) -> tuple[list[Path], Path | None]:  # fmt: skip
    """Write the result (one image, or every variant and the contact sheet), the mask and the PNG on stdout
    (``-o -``) as one: a write that fails (a full disk) leaves no new file and every old one as it was. Returns
    the image files and the sheet."""
    from refedit.core.files import all_or_nothing
    from refedit.outputs import write_result, writes_variants
    from refedit.pipeline.imageio import save_mask

    written: list[Path] = []
    sheet = None
    with all_or_nothing():
        if writes_variants(result) or not is_std(output):
            written, sheet = write_result(result, output, source=source, metadata=meta, mask_out=mask_out)
        elif mask_out is not None:
            save_mask(result.segmentation.mask, mask_out)
        if is_std(output):  # last: the files are renamed only once stdout has the image
            write_png_stdout(result.image, source=source, metadata=meta)
    return written, sheet
