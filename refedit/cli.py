"""The ``refedit`` command line. The only module that prints or exits.

Heavy imports (torch, diffusers, transformers, spaCy) happen inside commands, so ``refedit --help`` and
``refedit stages`` stay fast. Errors are one line on stderr with a documented exit code (see
:mod:`refedit.errors`); ``--debug`` or ``REFEDIT_DEBUG=1`` shows the traceback.

Every command checks what it was given before any work, cheapest first, and none of these checks imports
torch: the values (options by the chosen stages' declared types and ranges, the seed, the environment),
the outputs (the folder exists and accepts new files), the inputs (image, masks), then that every model the
chosen stages need can be read or downloaded. Only then do models load.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click

from refedit import __version__
from refedit.config import MODEL_ROLES, check_seed, env_var
from refedit.errors import INTERRUPTED_EXIT_CODE, BadInput, InternalError, RefEditError, RefEditWarning

F = TypeVar("F", bound=Callable[..., Any])
HF_ROLES = tuple(r for r in MODEL_ROLES if r != "llm")


def _debug(ctx: click.Context | None = None) -> bool:
    root = ctx.find_root() if ctx else None
    return bool(os.environ.get("REFEDIT_DEBUG")) or bool(root and root.params.get("debug"))


def fail(message: str, code: int) -> None:
    click.echo(f"refedit: error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn :class:`RefEditError` into one stderr line + its exit code; anything else is an internal error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        try:
            return fn(*args, **kwargs)
        except RefEditError as err:
            if _debug(ctx):
                raise
            fail(str(err).splitlines()[0] if str(err) else type(err).__name__, err.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", INTERRUPTED_EXIT_CODE)
        except BrokenPipeError:  # the reader of our stdout went away: exit quietly, as `head` expects
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except Exception as err:  # a bug: one line unless debugging
            if _debug(ctx):
                raise
            fail(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)",
                 InternalError.exit_code)  # fmt: skip

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Print refedit's own warnings as ``refedit: warning: ...`` (one line, no source line); others as usual."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:  # fmt: skip
        if issubclass(category, RefEditWarning):
            click.echo(f"refedit: warning: {str(message).splitlines()[0] if str(message) else category.__name__}",
                       err=True)  # fmt: skip
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


class RefEditGroup(click.Group):
    """The ``refedit`` group: usage errors and Ctrl-C (while arguments are parsed, too) are one line as well,
    ``refedit: error: ...``, with click's exit code 2 for usage errors and 130 for an interrupt."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt):
            fail("interrupted", INTERRUPTED_EXIT_CODE)
        except click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if isinstance(err, click.UsageError) and ctx else ""
            fail(f"{err.format_message()}{hint}", err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_warnings():
            return super().invoke(ctx)


class SeedType(click.ParamType):
    """A seed the generators accept (0 to 2**63-1)."""

    name = "seed"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return check_seed(value)
        except BadInput as err:
            self.fail(str(err), param, ctx)


def utf8_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse text that is not UTF-8 (undecodable bytes reach Python as lone surrogates)."""
    if value is None:
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        char = value[err.start]
        byte = f"byte 0x{ord(char) - 0xDC00:02x}" if 0xDC80 <= ord(char) <= 0xDCFF else f"character {char!r}"
        raise click.BadParameter(f"not UTF-8 text ({byte} at position {err.start}); write it in UTF-8") from None
    return value


def model_options(fn: F) -> F:
    """``--ROLE-model`` for every model role, ``--device`` and ``--dtype``."""
    for role in reversed(HF_ROLES):
        default, what = MODEL_ROLES[role]
        fn = click.option(f"--{role}-model", f"{role}_model", metavar="ID|DIR", default=None,
                          help=f"{what} [env {env_var(role)}; default {default}]")(fn)  # fmt: skip
    fn = click.option("--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default=None,
                      help="Model dtype [env REFEDIT_DTYPE; auto: float16 on GPU, float32 on CPU].")(fn)  # fmt: skip
    fn = click.option("--vae-tiling", type=click.Choice(["auto", "on", "off"]), default=None,
                      help="Tiled VAE [env REFEDIT_VAE_TILING; auto: for working sizes over 1024 px].")(fn)  # fmt: skip
    fn = click.option("--compile/--no-compile", "compile_unet", default=None,
                      help="torch.compile the UNet: slower first edit, faster after [env REFEDIT_COMPILE].")(fn)  # fmt: skip
    fn = click.option("--offload", type=click.Choice(["none", "model", "sequential"]), default=None,
                      help="GPU memory plan: model = one model on the GPU at a time; sequential = stream weights "
                           "layer by layer (least memory, slowest) [env REFEDIT_OFFLOAD; none].")(fn)  # fmt: skip
    fn = click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N|mps",
                      help="Where models run [env REFEDIT_DEVICE; auto: CUDA, then MPS, then CPU].")(fn)  # fmt: skip
    return fn


def settings_from(params: dict[str, Any]) -> Any:
    from refedit.config import Settings

    models = {role: params.pop(f"{role}_model", None) for role in HF_ROLES}
    return Settings.resolve(models=models, device=params.pop("device", None), dtype=params.pop("dtype", None),
                            offload=params.pop("offload", None), compile=params.pop("compile_unet", None),
                            vae_tiling=params.pop("vae_tiling", None))  # fmt: skip


def _numbers(n: int) -> Callable[[click.Context, click.Parameter, tuple[str, ...]], tuple[tuple[float, ...], ...]]:
    """A click callback parsing repeated "a,b,..." values of ``n`` numbers."""

    def parse(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[float, ...], ...]:
        out = []
        for v in values:
            try:
                nums = tuple(float(x) for x in v.split(","))
            except ValueError:
                nums = ()
            if len(nums) != n:
                raise click.BadParameter(f"{v!r} must be {n} comma-separated numbers")
            out.append(nums)
        return tuple(out)

    return parse


def hints_from(params: dict[str, Any], size: tuple[int, int], exact_mask: Path | None = None) -> Any:
    """Build :class:`Hints` from the CLI's hint options (removed from ``params``), checked against the image."""
    from refedit.pipeline.segment.hints import load_hints

    return load_hints(size, boxes=params.pop("hint_boxes"), points=params.pop("hint_points"),
                      hint_mask=params.pop("hint_mask"), mask=exact_mask)  # fmt: skip


def stage_options(fn: F) -> F:
    """Stage choice and the options the built-in stages understand."""
    opts = [
        click.option("--parser", default="rules", show_default=True, help="Parser stage (see `refedit stages`)."),
        click.option("--segmenter", default="grounded-sam", show_default=True, help="Segmenter stage."),
        click.option("--editor", default="diffedit", show_default=True, help="Editor stage."),
        click.option("--llm-base-url", default=None, metavar="URL",
                     help="OpenAI-compatible endpoint for --parser llm [env OPENAI_BASE_URL]."),  # fmt: skip
        *llm_flags(),
        click.option("--describe", is_flag=True, default=None,
                     help="--parser llm: describe the image first (BLIP-2 captioner) to resolve vague words."),  # fmt: skip
        click.option("--steps", type=int, default=None, help="DDIM steps T [50]."),
        click.option("--encode-ratio", type=float, default=None, help="Encoding ratio r in (0, 1] [0.5]."),
        click.option("--guidance", type=float, default=None, help="Classifier-free (text) guidance scale [7.5]."),
        click.option("--strength", type=float, default=None, help="sdedit/inpaint noise ratio in (0, 1] [0.7/1.0]."),
        click.option("--image-guidance", type=float, default=None, help="instruct: image guidance scale [1.5]."),
        click.option("--editor-model", default=None, metavar="ID|DIR",
                     help="Checkpoint for the chosen editor (its kind is checked from the UNet config)."),  # fmt: skip
        click.option("--paste-dilate", type=int, default=None, help="Grow the paste-back mask by N px [4]."),
        click.option("--feather", type=int, default=None, help="Feather the paste-back edge over N px [8]."),
        click.option("--resolution", type=int, default=None, help="Working long side in pixels [512]."),
        click.option("--box-threshold", type=float, default=None, help="GroundingDINO box threshold [0.30]."),
        click.option("--text-threshold", type=float, default=None, help="GroundingDINO text threshold [0.25]."),
        click.option("--dilate", type=int, default=None, help="Grow the object mask by N pixels [0]."),
        click.option("--box-mask", is_flag=True, default=None, help="Use the (expanded) box, not SAM's silhouette."),
        click.option("--box", "hint_boxes", multiple=True, metavar="X0,Y0,X1,Y1", callback=_numbers(4),
                     help="Rough box around the object (pixels); repeatable."),  # fmt: skip
        click.option("--point", "hint_points", multiple=True, metavar="X,Y", callback=_numbers(2),
                     help="A pixel on the object; repeatable."),  # fmt: skip
        click.option("--hint-mask", type=click.Path(path_type=Path), default=None,
                     help="Rough free-shape scribble (PNG) over or near the object."),  # fmt: skip
        click.option("--fusion", type=click.Choice(["paper", "official"]), default=None,
                     help="refdiff: the paper's score fusion (Eq. 1) or the official code's variant."),  # fmt: skip
        click.option("--proposals", type=click.Choice(["attention", "sam", "both", "grounded", "all"]), default=None,
                     help="refdiff: proposals from the attention map (Eq. 8), SAM, both [default], Grounded-SAM's "
                          "detections, or all three."),  # fmt: skip
        click.option("-O", "--option", "extra_options", multiple=True, metavar="KEY=VALUE",
                     help="Any stage option by name (e.g. -O refdiff_steps=10 -O alpha=0.2); repeatable."),  # fmt: skip
        click.option("--detections", type=click.Path(path_type=Path), default=None,
                     help="JSON list of {box, score, label} from any detector; skips GroundingDINO."),  # fmt: skip
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def llm_flags() -> list[Callable[[F], F]]:
    return [
        click.option("--llm-timeout", type=float, default=None, metavar="SECONDS",
                     help="--parser llm: seconds per request before it counts as failed [10]."),  # fmt: skip
        click.option("--llm-retries", type=int, default=None, metavar="N",
                     help="--parser llm: retries after a timeout, connection error or 5xx [1]."),  # fmt: skip
    ]


STAGE_OPTION_NAMES = ("fusion", "proposals", "llm_base_url", "llm_timeout", "llm_retries", "describe", "steps",
                      "encode_ratio", "guidance", "strength", "image_guidance", "editor_model",
                      "paste_dilate", "feather", "resolution", "box_threshold", "text_threshold", "dilate",
                      "box_mask", "detections")  # fmt: skip


@click.group(cls=RefEditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="refedit")
@click.option("--debug", is_flag=True, help="Show full tracebacks (also REFEDIT_DEBUG=1).")
def main(debug: bool) -> None:
    """Edit one referred object in a photo from a plain-English instruction.

    \b
    refedit edit cats.jpg "replace the left cat with a tiger" -o out.png

    Exit codes: 0 ok, 1 internal error, 2 bad input, 3 unclear instruction, 4 target not found,
    5 model unavailable, 6 batch had failures, 130 interrupted.
    """


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


def _llm_options(fn: F) -> F:
    for flag in reversed(llm_flags()):
        fn = flag(fn)
    return fn


@main.command()
@click.argument("instruction", callback=utf8_text)
@click.option("--parser", default="rules", show_default=True, help="Parser stage.")
@click.option("--llm-base-url", default=None, metavar="URL", help="OpenAI-compatible endpoint [env OPENAI_BASE_URL].")
@_llm_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@model_options
@handle_errors
def parse(instruction: str, parser: str, llm_base_url: str | None, llm_timeout: float | None,
          llm_retries: int | None, as_json: bool, **params: Any) -> None:  # fmt: skip
    """Parse INSTRUCTION into an edit plan (no image needed)."""
    from refedit.pipeline.chain import build_stage
    from refedit.pipeline.stages import check_options

    stages = {"parser": parser}
    options = check_options({"llm_base_url": llm_base_url, "llm_timeout": llm_timeout, "llm_retries": llm_retries},
                            stages)  # fmt: skip
    settings = settings_from(params)
    check_models(settings, stages, options)
    stage = build_stage("parser", parser, settings, **options)
    plan = stage.parse(instruction=instruction)
    if as_json:
        click.echo(json.dumps(plan.to_dict(), indent=2))
        return
    t = plan.target
    quals = ", ".join(f"{k}={v}" for k, v in (("spatial", t.spatial), ("ordinal", t.ordinal), ("size", t.size)) if v)
    click.echo(f"action:      {plan.action}")
    click.echo(f"target:      {t.expression} (head '{t.head}'{', all' if t.all else ''}{', ' + quals if quals else ''})")
    if t.attributes:
        click.echo(f"attributes:  {', '.join(t.attributes)}")
    click.echo(f"replacement: {plan.replacement}")
    click.echo(f"segment:     {plan.segmentation_prompt}")
    click.echo(f"captions:    {plan.source_caption!r} -> {plan.edited_caption!r}")


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
    given = read_plan(plan_source) if plan_source else None
    instruction = instruction if instruction is not None else (given.instruction if given else "")
    settings = settings_from(params)
    source = read_image(image)
    check_models(settings, {"segmenter": segmenter} if given else stages, options)
    hints = hints_from(params, source.rgb.size)
    from refedit.errors import UnclearInstruction
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import build_stage, check_not_empty
    from refedit.pipeline.imageio import save_mask
    from refedit.pipeline.parse.plan import hint_plan, referring_plan

    request = EditRequest(image=source.rgb, instruction=instruction, hints=hints, image_path=str(image))
    stage = build_stage("segmenter", segmenter, settings, **options)  # checkpoint kinds checked before parsing
    try:
        plan = given or build_stage("parser", parser, settings).parse(instruction=instruction, image=request.image)
    except UnclearInstruction:  # a bare referring expression ("the left cat") is fine for segmenting
        try:
            plan = referring_plan(instruction)
        except UnclearInstruction:
            if hints.empty:
                raise
            plan = hint_plan(instruction)
    seg = check_not_empty(stage.segment(image=request.image, plan=plan, hints=request.hints),
                          f"the {segmenter} segmenter found no pixels of {plan.target.expression!r}")  # fmt: skip
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


def options_from(params: dict[str, Any], stages: dict[str, str]) -> dict[str, Any]:
    """The stage options given on the command line (removed from ``params``), ``-O KEY=VALUE`` included,
    checked by the chosen ``stages`` (kind -> name) and typed: an unknown name, a name no chosen stage
    uses, or a value outside its type or range is :class:`BadInput`, before anything heavy is imported."""
    from refedit.pipeline.stages import check_options

    options = {k: params.pop(k) for k in STAGE_OPTION_NAMES}
    for item in params.pop("extra_options", ()):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise BadInput(f"-O {item!r} must be KEY=VALUE")
        if options.get(key) is not None:
            raise BadInput(f"-O {item!r}: {key} is given twice (by its flag and by -O)")
        options[key] = value.strip()
    return check_options(options, stages)


def check_models(settings: Any, stages: dict[str, str], options: dict[str, Any]) -> None:
    """Every model the ``stages`` will load can be read here or downloaded (:class:`ModelUnavailable`
    otherwise), checked without loading anything."""
    from refedit.pipeline.models import check_available
    from refedit.pipeline.stages import model_roles

    check_available(settings, model_roles(stages, options))


def is_std(path: Path | str | None) -> bool:
    return path is not None and str(path) == "-"


def read_image(image: Path) -> Any:
    """Load IMAGE, or the bytes piped on stdin when IMAGE is ``-``."""
    from refedit.pipeline.imageio import load_image, load_image_bytes

    return load_image_bytes(sys.stdin.buffer.read()) if is_std(image) else load_image(image)


def check_std_streams(image: Path, plan_source: str | None, output: Path | None, as_json: bool) -> None:
    """stdin feeds one thing and stdout carries one thing; binary never goes to a terminal."""
    if is_std(image) and is_std(plan_source):
        raise BadInput("stdin cannot carry both the image and the plan; give one of them as a file")
    if is_std(output) and as_json:
        raise BadInput("stdout cannot carry both the image (-o -) and --json; write the image to a file")
    if is_std(output) and sys.stdout.isatty():
        raise BadInput("refusing to write image bytes to a terminal; use -o FILE or pipe the output")


def write_png_stdout(img: Any) -> None:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.buffer.flush()


def read_plan(source: str) -> Any:
    """An :class:`EditPlan` from a JSON file or ``-`` (stdin): a plan, or a record with a "plan" key (the
    output of ``refedit parse --json`` or ``refedit segment --json``)."""
    from refedit.pipeline.artifacts import EditPlan

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        data = json.loads(text)
        return EditPlan.from_dict(data["plan"] if isinstance(data, dict) and "plan" in data else data)
    except OSError as err:
        raise BadInput(f"cannot read --plan {source}: {err}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise BadInput(f"--plan {source} is not a refedit plan (JSON from `refedit parse --json`): {err}") from None


def default_output(image: Path) -> Path:
    return image.with_name(f"{image.stem}_edited.png")


@main.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.argument("instruction", required=False, default=None, callback=utf8_text)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Output image (format from the extension) [IMAGE_edited.png beside the input].")  # fmt: skip
@click.option("--plan", "plan_source", default=None, metavar="FILE|-",
              help="Use this plan instead of parsing (JSON from `refedit parse/segment --json`; - for stdin).")  # fmt: skip
@click.option("--save-mask", "mask_out", type=click.Path(path_type=Path), default=None, help="Also write the mask as PNG.")
@click.option("--mask", "mask_path", type=click.Path(path_type=Path), default=None,
              help="Exact mask PNG of the object (skips segmentation).")  # fmt: skip
@click.option("--seed", type=SeedType(), default=0, show_default=True, help="Random seed (0 to 2**63-1).")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON on stdout.")
@stage_options
@model_options
@handle_errors
def edit(image: Path, instruction: str | None, output: Path | None, plan_source: str | None, mask_out: Path | None,
         mask_path: Path | None, seed: int, as_json: bool, parser: str, segmenter: str, editor: str,
         **params: Any) -> None:  # fmt: skip
    """Edit the object INSTRUCTION refers to in IMAGE and write the result."""
    from refedit.config import check_environment

    check_environment()
    output = output or (Path("-") if is_std(image) else default_output(image))
    check_std_streams(image, plan_source, output, as_json)
    stages = {"parser": parser, "segmenter": segmenter, "editor": editor}
    options = options_from(params, stages)
    from refedit.pipeline.imageio import check_mask_output, check_output_path

    if not is_std(output):
        check_output_path(output, image, mask_path)
    if mask_out is not None:
        check_mask_output(mask_out, image, mask_path)
        if mask_out.resolve() == output.resolve():
            raise BadInput("--save-mask and --output must be different files")
    given = read_plan(plan_source) if plan_source else None
    instruction = instruction if instruction is not None else (given.instruction if given else "")
    if not instruction.strip():
        raise BadInput("the instruction is empty; say what to change, e.g. 'replace the cat with a tiger'")
    settings = settings_from(params)
    source = read_image(image)
    needed = {k: v for k, v in stages.items() if not (k == "parser" and given) and not (k == "segmenter" and mask_path)}
    check_models(settings, needed, options)
    hints = hints_from(params, source.rgb.size, mask_path)
    if hints.mask is not None and not hints.mask.any():
        from refedit.errors import TargetNotFound

        raise TargetNotFound(f"the mask is empty: --mask {mask_path} has no white pixels (pixels > 127 are the object)")
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import Pipeline
    from refedit.pipeline.imageio import save_image, save_mask
    from refedit.pipeline.models import ModelStore

    store = ModelStore(settings)
    pipe = Pipeline.build(store.settings, parser=parser, segmenter=segmenter, editor=editor, options=options,
                          store=store, progress=progress_reporter(store))  # fmt: skip
    request = EditRequest(image=source.rgb, instruction=instruction, hints=hints, seed=seed, image_path=str(image),
                          plan=given)  # fmt: skip
    result = pipe.run(request)
    meta = {"refedit": json.dumps({"instruction": instruction, "seed": seed, "parameters": result.parameters})}
    if is_std(output):
        write_png_stdout(result.image)
    else:
        save_image(result.image, output, source=source, metadata=meta)
    if mask_out is not None:
        save_mask(result.segmentation.mask, mask_out)
    if as_json:
        record = result.to_dict(image_path=output)
        record["mask_path"] = None if mask_out is None else str(mask_out)
        click.echo(json.dumps(record))
    elif not is_std(output):
        click.echo(str(output))
        click.echo(f"{result.segmentation.reason}; {result.timings['total']:.1f}s", err=True)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-i", "--instruction", default=None, callback=utf8_text,
              help="Instruction for every image (folder; default for a manifest).")  # fmt: skip
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), required=True, help="Where outputs go (mirrors the input tree).")
@click.option("--name", default="{stem}_edited.png", show_default=True, help="Output name template: {stem} {index} {seed} {ext}.")
@click.option("--seed", type=SeedType(), default=0, show_default=True, help="Seed (a manifest row's seed wins).")
@click.option("--overwrite", is_flag=True, help="Redo items whose output exists (default: skip them, so reruns resume).")
@click.option("--dry-run", is_flag=True, help="Parse and segment only: write masks and overlays, no editing.")
@click.option("--log", "log_path", type=click.Path(path_type=Path), default=None,
              help="JSON-lines log, one line per item [OUTPUT_DIR/refedit-batch.jsonl].")  # fmt: skip
@click.option("--allow-outside", is_flag=True, help="Allow manifest paths outside the manifest's folder.")
@click.option("--continue-on-error/--fail-fast", default=True, show_default=True, help="Keep going past a failed item.")
@click.option("--json", "as_json", is_flag=True, help="Print each item's log record on stdout (else output paths).")
@stage_options
@model_options
@handle_errors
def batch(source: Path, instruction: str | None, output_dir: Path, name: str, seed: int, overwrite: bool, dry_run: bool,
          log_path: Path | None, allow_outside: bool, continue_on_error: bool, as_json: bool, parser: str,
          segmenter: str, editor: str, **params: Any) -> None:  # fmt: skip
    """Edit every image of a folder (-i INSTRUCTION) or every row of a JSONL/CSV manifest.

    Models load once; an item that fails is logged and the run goes on (exit code 6 at the end);
    outputs that exist are skipped, so rerunning a killed batch resumes it.
    """
    from refedit.batch import (
        BatchRunner,
        JsonlLog,
        Rejected,
        check_name_template,
        check_unique_outputs,
        items_from_folder,
        items_from_manifest,
    )
    from refedit.config import check_environment
    from refedit.errors import BatchFailed
    from refedit.pipeline.imageio import check_output_dir

    check_environment()
    if params.pop("hint_boxes") or params.pop("hint_points") or params.pop("hint_mask"):
        raise BadInput("per-item hints belong in the manifest (box, point, hint_mask columns)")
    check_name_template(name)
    stages = {"parser": parser, "segmenter": segmenter, "editor": editor}
    options = options_from(params, stages)
    check_output_dir(output_dir, "output folder (-o)")
    if log_path is not None:
        check_output_dir(log_path.parent, "--log folder")
    if source.is_dir():
        items: list[Any] = items_from_folder(source, instruction or "", output_dir, name=name, seed=seed)
    elif source.is_file() and source.suffix.lower() in (".jsonl", ".json", ".csv"):
        items = items_from_manifest(source, output_dir, instruction=instruction, name=name, seed=seed,
                                    allow_outside=allow_outside, stages=stages, options=options)  # fmt: skip
    else:
        raise BadInput(f"{source} is neither a folder nor a .jsonl/.csv manifest")
    if not items:
        raise BadInput(f"no images found in {source}")
    rejected = [i for i in items if isinstance(i, Rejected)]
    if len(rejected) == len(items):
        more = f" (and the other {len(items) - 1} rows are invalid too)" if len(items) > 1 else ""
        raise BadInput(f"{rejected[0].error}{more}")
    settings = settings_from(params)
    runner = BatchRunner(settings, parser=parser, segmenter=segmenter, editor=editor, options=options,
                         overwrite=overwrite, dry_run=dry_run, fail_fast=not continue_on_error,
                         debug=_debug(click.get_current_context()))  # fmt: skip
    check_unique_outputs(items, runner.outputs_of)
    runnable = [i for i in items if not isinstance(i, Rejected)]
    check_models(settings, {k: v for k, v in stages.items() if k != "segmenter" or any(i.mask is None for i in runnable)},
                 options)  # fmt: skip
    runner.pipeline({})  # checkpoint kinds checked (exit 5) before the log exists and before any item runs
    log = JsonlLog(log_path or output_dir / "refedit-batch.jsonl")
    bar = _item_progress(len(items))

    def on_item(record: dict[str, Any]) -> None:
        bar(record)
        if as_json:
            click.echo(json.dumps(record, default=str))
        elif record["status"] == "done":
            click.echo(record.get("mask") or record["output"])

    try:
        summary = runner.run(items, log, on_item)
    finally:
        log.close()
    click.echo(f"{summary.line()} (log: {log.path})", err=True)
    if summary.failed:
        raise BatchFailed(f"{summary.failed} of {len(items)} items failed; see {log.path}")


def _item_progress(total: int) -> Callable[[dict[str, Any]], None]:
    """Per-item progress on stderr: a tqdm bar with ETA on a TTY, a plain line per item otherwise."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="img", file=sys.stderr)

        def tick(record: dict[str, Any]) -> None:
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return tick
    count = {"n": 0}

    def line(record: dict[str, Any]) -> None:
        count["n"] += 1
        extra = f": {record['error']}" if record["status"] == "failed" else ""
        click.echo(f"[{count['n']}/{total}] {record['status']} {record['input']}{extra}", err=True)

    return line


def progress_reporter(store: Any) -> Callable[[str, int, int], None]:
    """Progress on stderr: a bar with ETA on a TTY, a plain line every 10 % otherwise. The ETA is measured
    from the steps already run, so on a CPU the estimate is honest from the second step on."""
    state: dict[str, Any] = {}

    def report(task: str, done: int, total: int) -> None:
        if not state and store.device.type == "cpu":
            click.echo("refedit: no GPU in use: running on the CPU, where a full-size edit takes minutes; "
                       "the time left below is measured as it runs", err=True)  # fmt: skip
        if state.get("task") != task:
            state.update(task=task, start=time.perf_counter(), last=-1)
        elapsed = time.perf_counter() - state["start"]
        eta = elapsed / done * (total - done) if done else float("nan")
        pct = int(100 * done / max(total, 1))
        if sys.stderr.isatty():
            end = "\n" if done >= total else ""
            click.echo(f"\r{task}: {done}/{total} [{elapsed:.0f}s elapsed, ~{eta:.0f}s left]   ", err=True, nl=False)
            click.echo(end, err=True, nl=False)
        elif pct // 10 != state["last"] // 10 or done >= total:
            state["last"] = pct
            click.echo(f"{task}: {done}/{total} ({elapsed:.1f}s elapsed, ~{eta:.1f}s left)", err=True)

    return report


if __name__ == "__main__":  # pragma: no cover
    main()
