"""The option groups the commands share (models, stages, hints, LLM) and their up-front checks: every value
typed and range-checked by the chosen stages, every model found, before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from refedit.config import METRIC_ROLES, MODEL_ROLES, check_seed, env_var
from refedit.errors import BadInput

F = TypeVar("F", bound=Callable[..., Any])
HF_ROLES = tuple(r for r in MODEL_ROLES if r != "llm" and r not in METRIC_ROLES)


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
        fn = click.option(f"--{role}-model", _param(role), metavar=_model_metavar(role), default=None,
                          help=f"{what} [env {env_var(role)}; default {default}]")(fn)  # fmt: skip
    fn = click.option("--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default=None,
                      help="Model dtype [env REFEDIT_DTYPE; auto: float16 on GPU, float32 on CPU].")(fn)  # fmt: skip
    fn = click.option("--vae-tiling", type=click.Choice(["auto", "on", "off"]), default=None,
                      help="Tiled VAE [env REFEDIT_VAE_TILING; auto: for working sizes over 1024 px].")(fn)  # fmt: skip
    fn = click.option("--cuda-graphs", type=click.Choice(["auto", "on", "off"]), default=None,
                      help="Replay the UNet as CUDA graphs (fewer kernel launches) [env REFEDIT_CUDA_GRAPHS; auto: "
                           "on CUDA without offload].")(fn)  # fmt: skip
    fn = click.option("--compile/--no-compile", "compile_unet", default=None,
                      help="torch.compile the UNet: slower first edit, faster after [env REFEDIT_COMPILE].")(fn)  # fmt: skip
    fn = click.option("--offload", type=click.Choice(["none", "model", "group", "sequential"]), default=None,
                      help="GPU memory plan: model = one model on the GPU at a time; group = stream weights layer "
                           "by layer from pinned CPU memory, copies overlapped with compute (as little GPU memory as "
                           "sequential, faster); sequential = stream weights layer by layer (least memory, slowest) [env "
                           "REFEDIT_OFFLOAD; none].")(fn)  # fmt: skip
    fn = click.option("--trust-checkpoint", "trust_checkpoint", is_flag=True, default=None,
                      help="Allow pickled checkpoints and LoRAs (.ckpt/.pt/.bin): loading one can run code it "
                           "contains; prefer .safetensors [env REFEDIT_TRUST_CHECKPOINT].")(fn)  # fmt: skip
    fn = click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N|mps",
                      help="Where models run [env REFEDIT_DEVICE; auto: CUDA, then MPS, then CPU].")(fn)  # fmt: skip
    return fn


def metric_model_options(fn: F) -> F:
    """``--ROLE-model`` for the roles only ``refedit eval`` loads (CLIP score, DINO, LPIPS)."""
    for role in reversed(METRIC_ROLES):
        default, what = MODEL_ROLES[role]
        fn = click.option(f"--{role}-model", f"{role}_model", metavar="ID|DIR", default=None,
                          help=f"{what} [env {env_var(role)}; default {default}]")(fn)  # fmt: skip
    return fn


def _param(role: str) -> str:
    """The Python name of ``--ROLE-model`` ("qwen-edit" -> "qwen_edit_model")."""
    return f"{role.replace('-', '_')}_model"


def _model_metavar(role: str) -> str:
    from refedit.pipeline.checkpoints import SD_ROLES

    return "ID|DIR|FILE" if role in SD_ROLES else "ID|DIR"


def _loras(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--lora`` values, or None when none is given (so stages that take no adapters are not offered one)."""
    return tuple(values) or None


def settings_from(params: dict[str, Any], stages: dict[str, str] | None = None, options: dict[str, Any] | None = None,
                  editor_left: bool = False) -> Any:  # fmt: skip
    """The run's :class:`~refedit.config.Settings` from the flags in ``params`` (popped), env and config; with
    ``stages``, a ``--ROLE-model`` flag that none of them loads is refused (:func:`refuse_unused_models`)."""
    from refedit.config import Settings

    models = {role: params.pop(_param(role), None) for role in (*HF_ROLES, *METRIC_ROLES)}
    if stages is not None:
        refuse_unused_models([r for r in HF_ROLES if models[r] is not None], stages, options or {}, editor_left)
    return Settings.resolve(models=models, device=params.pop("device", None), dtype=params.pop("dtype", None),
                            offload=params.pop("offload", None), compile=params.pop("compile_unet", None),
                            vae_tiling=params.pop("vae_tiling", None), cuda_graphs=params.pop("cuda_graphs", None),
                            trust_checkpoint=params.pop("trust_checkpoint", None),
                            on_ambiguous=params.pop("_on_ambiguous", None))  # fmt: skip


def refuse_unused_models(given: list[str], stages: dict[str, str], options: dict[str, Any], editor_left: bool) -> None:
    """:class:`BadInput` for a model flag the chosen ``stages`` never load with these ``options``
    (``--segmenter sam3 --sam-model facebook/sam2.1-hiera-large`` would run SAM 3 and ignore the SAM 2 the user
    asked for), naming the stages that use it. ``editor_left``: no editor was named, so additions may go to the
    inpainting editor. Only flags: a role set by env or config is a standing choice, not a request for this run."""
    from refedit.pipeline.stages import ADDING_EDITOR, model_roles, registry, unused_roles

    unused = unused_roles(stages, options, given)
    if editor_left:
        unused = unused_roles({"editor": ADDING_EDITOR}, options, unused)
    if not unused:
        return
    role = unused[0]
    loads = ", ".join(sorted({r for r, _ in model_roles(stages, options)})) or "no model"
    users = [(kind, name) for kind in ("segmenter", "editor", "parser") for name, entry in registry.entries(kind).items()
             if entry.source == "refedit" and not unused_roles({kind: name}, {}, [role])]  # fmt: skip
    chosen = [f"{kind} {name}" for kind, name in users if stages.get(kind) == name]
    if chosen:
        hint = f": with these options {' and '.join(chosen)} does not load it"
    else:
        hint = f"; it is a model of {', '.join(f'{kind} {name}' for kind, name in users)}" if users else ""
    they = "they load" if len(stages) > 1 else "it loads"
    raise BadInput(f"--{role}-model is not used by the chosen stages ({', '.join(stages.values())}; {they} {loads})"
                   f"{hint}")


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


def _ratio(ctx: click.Context, param: click.Parameter, value: str | None) -> float | str | None:
    """``--encode-ratio``: one number, or a comma-separated list (kept as text: a sweep, checked by the editor)."""
    if value is None or "," in value:
        return value
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number or a comma-separated list of numbers") from None


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
        click.option("--editor", default=None, metavar="NAME",
                     help="Editor stage [diffedit; with none given, additions ('add a cup ...') go to inpaint when "
                          "its checkpoint is available]."),  # fmt: skip
        click.option("--llm-base-url", default=None, metavar="URL",
                     help="OpenAI-compatible endpoint for --parser llm [env OPENAI_BASE_URL]."),  # fmt: skip
        *llm_flags(),
        click.option("--describe", is_flag=True, default=None,
                     help="--parser llm: describe the image first (BLIP-2 captioner) to resolve vague words."),  # fmt: skip
        click.option("--steps", type=int, default=None,
                     help="Denoising steps [SD editors 50, qwen-edit 40, kontext 28]."),  # fmt: skip
        click.option("--encode-ratio", default=None, metavar="R|R1,R2,...", callback=_ratio,
                     help="Encoding ratio r in (0, 1] [0.5]; several (0.3,0.5,0.7) invert once and write one output "
                          "per ratio plus a contact sheet."),  # fmt: skip
        click.option("--sweep", "encode_ratios", default=None, metavar="START:STOP:STEP",
                     help="diffedit: encoding ratios from START to STOP (included) by STEP, e.g. 0.3:0.8:0.1."),  # fmt: skip
        click.option("--auto-ratio", is_flag=True, default=None,
                     help="diffedit: keep the smallest ratio (of the sweep, or 0.3..0.8) whose edit reaches "
                          "-O auto_threshold of CLIP directional similarity towards the edited caption [0.1]."),  # fmt: skip
        click.option("--num-outputs", type=int, default=None, metavar="N",
                     help="diffedit: N outputs from one inversion, denoised as one batch (stochastic DDIM, "
                          "-O eta [1]); writes OUTPUT_1..N and a contact sheet."),  # fmt: skip
        click.option("--guidance", type=float, default=None,
                     help="Text guidance scale [SD editors 7.5, qwen-edit 4.0 (true CFG), kontext 2.5]."),  # fmt: skip
        click.option("--strength", type=float, default=None,
                     help="Noise ratio in (0, 1]: how much of the region is redrawn [sdedit 0.7; inpaint, qwen-edit, "
                          "kontext 1.0]."),  # fmt: skip
        click.option("--image-guidance", type=float, default=None, help="instruct: image guidance scale [1.5]."),
        click.option("--editor-model", default=None, metavar="ID|DIR|FILE",
                     help="Checkpoint for the chosen editor: a hub id, a diffusers folder, or an original single "
                          "file (.safetensors, or .ckpt with --trust-checkpoint); its UNet type is checked first."),  # fmt: skip
        click.option("--editor-config", default=None, metavar="FILE.yaml",
                     help="Original (LDM) .yaml config of a single-file --editor-model [FILE.yaml beside it]."),  # fmt: skip
        click.option("--lora", multiple=True, metavar="FILE|ID[:SCALE]", callback=_loras,
                     help="LoRA adapter for the editor's UNet and text encoder, scaled by SCALE [1]; repeatable."),  # fmt: skip
        click.option("--lora-fuse", is_flag=True, default=None,
                     help="Merge the --lora adapters into the weights once (as fast as no adapter)."),  # fmt: skip
        click.option("--paste-dilate", type=int, default=None, help="Grow the paste-back mask by N px [4; inpaint 8]."),
        click.option("--feather", type=int, default=None, help="Feather the paste-back edge over N px [8]."),
        click.option("--mask-mode", default=None, metavar="object|box|expand:N",
                     help="qwen-edit/kontext: repaint the object's silhouette, its box, or its box grown by N% per "
                          "side (room for a bigger replacement) [by action: replace expand:15, modify object, "
                          "remove expand:5, add box]."),  # fmt: skip
        click.option("--resolution", type=int, default=None,
                     help="Working size in pixels: the SD editors' long side [512]; qwen-edit/kontext about N x N in "
                          "the crop's aspect [1024]."),  # fmt: skip
        click.option("--box-threshold", type=float, default=None,
                     help="Detection score threshold: the detector's boxes [0.30], sam3's instances [0.50]."),
        click.option("--text-threshold", type=float, default=None,
                     help="GroundingDINO-family text (token) threshold [0.25]; not sam3's."),
        click.option("--dilate", type=int, default=None, help="Grow the object mask by N pixels [0]."),
        click.option("--box-mask", is_flag=True, default=None, help="Use the (expanded) box, not SAM's silhouette."),
        click.option("--on-ambiguous", type=click.Choice(["fail", "best", "all"]), default=None,
                     help="When several objects fit equally well: fail (exit 7, candidates listed and drawn), best "
                          "(highest score) or all [env REFEDIT_ON_AMBIGUOUS; config on_ambiguous; fail]."),  # fmt: skip
        click.option("--pick", default=None, metavar="N|all|best",
                     help="Settle an ambiguous instruction: candidate N as numbered in the exit-7 listing and "
                          "*_candidates.png (from the left), all of them, or the best-scoring."),  # fmt: skip
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


def stage_names(parser: str, segmenter: str, editor: str | None) -> dict[str, str]:
    """The chosen stages (kind -> name) that options and models are checked against; an editor left to choose
    (``None``: the pipeline picks, additions going to inpaint) is checked as the default editor."""
    from refedit.pipeline.stages import DEFAULTS

    return {"parser": parser, "segmenter": segmenter, "editor": editor or DEFAULTS["editor"]}


def llm_flags() -> list[Callable[[F], F]]:
    return [
        click.option("--llm-timeout", type=float, default=None, metavar="SECONDS",
                     help="--parser llm: seconds per request before it counts as failed [10]."),  # fmt: skip
        click.option("--llm-retries", type=int, default=None, metavar="N",
                     help="--parser llm: retries after a timeout, connection error or 5xx [1]."),  # fmt: skip
    ]


STAGE_OPTION_NAMES = ("fusion", "proposals", "llm_base_url", "llm_timeout", "llm_retries", "describe", "steps",
                      "encode_ratio", "guidance", "strength", "image_guidance", "editor_model", "editor_config",
                      "lora", "lora_fuse", "mask_mode",
                      "paste_dilate", "feather", "resolution", "box_threshold", "text_threshold", "dilate",
                      "box_mask", "detections", "encode_ratios", "auto_ratio", "num_outputs", "on_ambiguous",
                      "pick")  # fmt: skip


def flag_of(option: str) -> str:
    """The flag that gives stage option ``option`` on the command line (``box_threshold`` -> ``--box-threshold``)."""
    return "--sweep" if option == "encode_ratios" else "--" + option.replace("_", "-")


def segmenter_only(options: dict[str, Any], stages: dict[str, str]) -> list[str]:
    """The flags of the given ``options`` that only the segmenter of ``stages`` takes (``--box-threshold``,
    ``--dilate``, ``--pick``): idle when the mask is given (``--mask``)."""
    from refedit.pipeline.stages import registry

    specs = {kind: registry.get(kind, name).spec for kind, name in stages.items()}
    if any(spec is None for spec in specs.values()):
        return []
    others = {k for kind, spec in specs.items() if kind != "segmenter" for k in spec.types()}  # type: ignore[union-attr]
    mine = specs["segmenter"].types() if "segmenter" in specs else {}  # type: ignore[union-attr]
    return [flag_of(k) for k, v in options.items() if v is not None and k in mine and k not in others]


def llm_options(fn: F) -> F:
    for flag in reversed(llm_flags()):
        fn = flag(fn)
    return fn


def options_from(params: dict[str, Any], stages: dict[str, str]) -> dict[str, Any]:
    """The stage options given on the command line (removed from ``params``), ``-O KEY=VALUE`` included,
    checked by the chosen ``stages`` (kind -> name) and typed: an unknown name, a name no chosen stage
    uses, or a value outside its type or range is :class:`BadInput`, before anything heavy is imported."""
    from refedit.pipeline.stages import check_options

    from refedit.pipeline.edit.options import ratio_list_as_sweep

    flagged = {k: params.pop(k) for k in STAGE_OPTION_NAMES}
    flags = {k: flag_of(k) for k, v in flagged.items() if v is not None}
    options = ratio_list_as_sweep(flagged)  # --encode-ratio 0.3,0.5: a sweep
    if options.get("encode_ratios") is not None and "encode_ratios" not in flags:
        flags["encode_ratios"] = "--encode-ratio"
    by_o: set[str] = set()
    for item in params.pop("extra_options", ()):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise BadInput(f"-O {item!r} must be KEY=VALUE")
        if options.get(key) is not None:
            how = "by two -O" if key in by_o else "by its flag and by -O"
            raise BadInput(f"-O {item!r}: {key} is given twice ({how})")
        options[key] = value.strip()
        by_o.add(key)
    checked = check_options(options, stages, flags=flags)
    params["_on_ambiguous"] = checked.get("on_ambiguous")  # for settings_from: the flag wins over a bad variable
    dets = checked.get("detections")
    if dets is not None and not Path(dets).is_file():
        what = "a folder" if Path(dets).is_dir() else "not a regular file" if Path(dets).exists() else "not there"
        raise BadInput(f"--detections {dets} is {what}: give one JSON file, a list of {{box, score, label}} objects")
    return checked


def check_models(settings: Any, stages: dict[str, str], options: dict[str, Any]) -> None:
    """Every model the ``stages`` will load can be read here or downloaded (:class:`ModelUnavailable`
    otherwise), checked without loading anything."""
    from refedit.pipeline.models import check_available
    from refedit.pipeline.stages import model_roles

    check_available(settings, model_roles(stages, options))
