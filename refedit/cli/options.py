"""The option groups the commands share (models, stages, hints, LLM) and their up-front checks: every value
typed and range-checked by the chosen stages, every model found, before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from refedit.config import MODEL_ROLES, check_seed, env_var
from refedit.errors import BadInput

F = TypeVar("F", bound=Callable[..., Any])
HF_ROLES = tuple(r for r in MODEL_ROLES if r != "llm")


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


def llm_options(fn: F) -> F:
    for flag in reversed(llm_flags()):
        fn = flag(fn)
    return fn


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
