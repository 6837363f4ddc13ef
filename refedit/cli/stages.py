"""``refedit stages``: every installed parser, segmenter and editor."""

from __future__ import annotations

import json

import click

from refedit.cli.app import handle_errors, main


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def stages(as_json: bool) -> None:
    """List every installed parser, segmenter and editor (built-ins and plugins)."""
    from refedit.pipeline.stages import DEFAULTS, GROUPS, registry

    rows = [
        {"kind": kind, "name": name, "default": name == DEFAULTS[kind], "source": e.source, "description": e.description}
        for kind in GROUPS
        for name, e in registry.entries(kind).items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for kind in GROUPS:
        click.echo(f"{kind}s:")
        for r in (r for r in rows if r["kind"] == kind):
            mark = "*" if r["default"] else " "
            src = "" if r["source"] == "refedit" else f"  [{r['source']}]"
            click.echo(f"  {mark} {r['name']:<14} {r['description']}{src}")
    click.echo("(* default)")
