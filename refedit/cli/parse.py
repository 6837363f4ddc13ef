"""``refedit parse``: an instruction to an edit plan, no image needed."""

from __future__ import annotations

import json
from typing import Any

import click

from refedit.cli.app import handle_errors, main
from refedit.errors import BadInput
from refedit.cli.options import check_models, flag_of, llm_options, model_options, settings_from, utf8_text
from refedit.cli.streams import read_instruction


@main.command()
@click.argument("instruction", callback=utf8_text)
@click.option("--parser", default="rules", show_default=True, help="Parser stage.")
@click.option("--llm-base-url", default=None, metavar="URL", help="OpenAI-compatible endpoint [env OPENAI_BASE_URL].")
@llm_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@model_options
@handle_errors
def parse(instruction: str, parser: str, llm_base_url: str | None, llm_timeout: float | None,
          llm_retries: int | None, as_json: bool, **params: Any) -> None:  # fmt: skip
    """Parse INSTRUCTION into an edit plan (no image needed).

    Give - as INSTRUCTION to read it from stdin.
    """
    from refedit.pipeline.chain import build_stage
    from refedit.pipeline.stages import check_options

    instruction = read_instruction(instruction) or ""
    if not instruction.strip():  # as edit and segment say it: bad input, not an unclear instruction
        raise BadInput("the instruction is empty; say what to change, e.g. 'replace the cat with a tiger'")
    stages = {"parser": parser}
    given = {"llm_base_url": llm_base_url, "llm_timeout": llm_timeout, "llm_retries": llm_retries}
    options = check_options(given, stages, flags={k: flag_of(k) for k in given})
    settings = settings_from(params, stages, options)
    check_models(settings, stages, options)
    stage = build_stage("parser", parser, settings, **options)
    plan = stage.parse(instruction=instruction)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    t = plan.target
    quals = ", ".join(f"{k}={v}" for k, v in (("count", t.count), ("spatial", t.spatial), ("ordinal", t.ordinal),
                                              ("size", t.size), ("pronoun", t.pronoun), ("region", t.region)) if v)  # fmt: skip
    click.echo(f"action:      {plan.action}")
    click.echo(f"target:      {t.expression} (head '{t.head}'{', all' if t.all else ''}{', ' + quals if quals else ''})")
    if t.attributes:
        click.echo(f"attributes:  {', '.join(t.attributes)}")
    relation = t.relation
    while relation is not None:  # nested anchors, outermost first
        second = f" and '{relation.second.expression}'" if relation.second else ""
        click.echo(f"relation:    {relation.direction} '{relation.anchor.expression}'{second}")
        relation = relation.anchor.relation
    if plan.placement:
        click.echo(f"placement:   {plan.placement} the target")
    click.echo(f"replacement: {plan.replacement}")
    click.echo(f"segment:     {plan.segmentation_prompt}")
    click.echo(f"captions:    {plan.source_caption!r} -> {plan.edited_caption!r}")
