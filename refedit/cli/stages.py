"""``refedit stages``: every installed parser, segmenter and editor, with the checkpoints each loads and their
licences."""

from __future__ import annotations

import json
from typing import Any

import click

from refedit.cli.app import handle_errors, main


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def stages(as_json: bool) -> None:
    """List every installed parser, segmenter and editor (built-ins and plugins)."""
    from refedit.config import Settings
    from refedit.pipeline.stages import DEFAULTS, GROUPS, registry

    settings = Settings.resolve()
    rows = [row(kind, name, e, name == DEFAULTS[kind], settings) for kind in GROUPS
            for name, e in registry.entries(kind).items()]  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for kind in GROUPS:
        click.echo(f"{kind}s:")
        for r in (r for r in rows if r["kind"] == kind):
            mark = "*" if r["default"] else " "
            src = "" if r["source"] == "refedit" else f"  [{r['source']}]"
            click.echo(f"  {mark} {r['name']:<14} {r['description']}{src}")
            for m in r["models"]:
                click.echo(f"{'':<19}{m['role']}: {m['model']} ({m['licence']})")
    click.echo("(* default; each model's licence is its default checkpoint's, from its model card)")


def row(kind: str, name: str, entry: Any, default: bool, settings: Any) -> dict[str, Any]:
    """One stage's row; a plugin that cannot be loaded is listed with why (the others still are)."""
    from refedit.errors import ModelUnavailable, RefEditError

    out: dict[str, Any] = {"kind": kind, "name": name, "default": default, "source": entry.source}
    try:
        out.update(description=entry.description, models=stage_models(entry.spec, settings))
    except ModelUnavailable as err:
        out.update(description=f"(cannot be loaded: {str(err).split(': ', 1)[-1]})", models=[], error=str(err))
    except RefEditError as err:  # a plugin's spec that fails (PluginError) or names an unknown role: listed, with why
        if entry.source == "refedit":
            raise
        out.update(description=f"(its spec is broken: {err})", models=[], error=str(err))
    return out


def stage_models(spec: Any, settings: Any) -> list[dict[str, str]]:
    """The model roles a stage loads with its default options: role, configured checkpoint and its licence."""
    from refedit.config import MODEL_ROLES
    from refedit.licences import licence_of

    roles = spec.roles({}) if spec is not None else {}
    out = []
    for role, override in roles.items():
        model = override or settings.model(role)
        out.append({"role": role, "model": model, "licence": licence_of(role, model, MODEL_ROLES[role][0])})
    return out
