"""Settings: model ids per role, device and dtype, resolved as flag > env var > config file > default.

Environment variables:
    REFEDIT_<ROLE>_MODEL   model id or local directory for a role (e.g. REFEDIT_SD_MODEL)
    REFEDIT_DEVICE         auto | cpu | cuda | cuda:N | mps
    REFEDIT_DTYPE          auto | float32 | float16 | bfloat16
    REFEDIT_OFFLOAD        none | model | group | sequential  (GPU memory plan, see ``Settings.offload``)
    REFEDIT_COMPILE        1 | 0                       (torch.compile the UNet)
    REFEDIT_VAE_TILING     auto | on | off             (tiled VAE for large working sizes)
    REFEDIT_CUDA_GRAPHS    auto | on | off             (replay the UNet as CUDA graphs; auto: on CUDA without offload)
    REFEDIT_CHANNELS_LAST  auto | on | off             (UNet/VAE in channels_last; auto: on CUDA)
    REFEDIT_MAX_PIXELS     largest image refedit decodes, in pixels (decompression-bomb guard; 64000000)
    REFEDIT_TRUST_CHECKPOINT 1 | 0                     (load pickled .ckpt/.pt/.bin files: they can run code)
    REFEDIT_CACHE_DIR      where converted single-file configs and file hashes go ($XDG_CACHE_HOME/refedit)
    REFEDIT_ON_AMBIGUOUS   fail | best | all          (when candidates tie: exit 7, the highest score, or all)
    REFEDIT_CONFIG         path of the config file (default: $XDG_CONFIG_HOME/refedit/config.toml)

Config file (TOML)::

    device = "cuda"
    dtype = "float16"
    offload = "model"
    compile = true
    trust_checkpoint = false
    on_ambiguous = "fail"
    [models]
    sd = "/models/stable-diffusion-v1-5"

Every value a user gives (flags, ``-O KEY=VALUE``, manifest columns, environment variables, the config
file) goes through :func:`typed`: one parser per declared type, one line naming the value and what is
accepted when it does not fit.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Any, Iterable, Literal, Mapping, Union, get_args, get_origin

from refedit.errors import BadInput

#: role -> (default public model id, what it is used for)
MODEL_ROLES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "sd": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion for DiffEdit and Ref-Diff"),
        "inpaint": ("stable-diffusion-v1-5/stable-diffusion-inpainting", "9-channel SD inpainting"),
        "instruct": ("timbrooks/instruct-pix2pix", "InstructPix2Pix-family editor"),
        "qwen-edit": ("Qwen/Qwen-Image-Edit-2509", "Qwen-Image-Edit instruction editor (the qwen-edit editor)"),
        "kontext": ("black-forest-labs/FLUX.1-Kontext-dev", "FLUX.1 Kontext instruction editor (the kontext editor)"),
        "grounding": ("IDEA-Research/grounding-dino-base",
                      "open-set detector: GroundingDINO, MM-Grounding-DINO, OWLv2/OWL-ViT or Florence-2"),
        "sam": ("facebook/sam-vit-huge", "Segment Anything (SAM, or SAM 2/2.1) for Grounded-SAM"),
        "sam3": ("facebook/sam3", "SAM 3 text-prompted instance segmentation (the sam3 segmenter)"),
        "clip": ("openai/clip-vit-base-patch16", "CLIP for attribute and Ref-Diff scoring"),
        "clipseg": ("CIDAS/clipseg-rd64-refined", "CLIPSeg text-prompted masks (the clipseg segmenter)"),
        "captioner": ("Salesforce/blip2-opt-2.7b", "image describer for the LLM parser"),
        "llm": ("gpt-4o-mini", "chat model behind the LLM parser"),
        "clipscore": ("openai/clip-vit-large-patch14", "CLIP of `refedit eval`'s CLIP scores (torchmetrics', PIE-Bench's)"),
        "dino": ("facebook/dino-vits16", "DINO image features of `refedit eval` (MagicBrush's DINO score)"),
        "lpips": ("alex", "LPIPS of `refedit eval`: alex, vgg, squeeze (published v0.1 weights) or a folder"),
    }
)
#: the roles only `refedit eval` loads (their flags belong to the eval commands)
METRIC_ROLES: tuple[str, ...] = ("clipscore", "dino", "lpips")

#: seeds must fit the generators' 64-bit state, with room for the small offsets stages add to a seed
SEED_MAX = 2**63 - 1
#: the decompression-bomb guard of image loading (REFEDIT_MAX_PIXELS overrides)
DEFAULT_MAX_PIXELS = 64_000_000
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
OFFLOADS = ("none", "model", "group", "sequential")
SWITCHES = ("auto", "on", "off")
#: what to do when several objects fit an instruction equally well (see refedit.pipeline.segment.resolve.settle)
AMBIGUITY_POLICIES = ("fail", "best", "all")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Range:
    """Accepted numbers: ``lo`` (exclusive when ``lo_open``) to ``hi``, inclusive; ``None`` is unbounded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        return above and (self.hi is None or value <= self.hi)

    def __str__(self) -> str:
        lo, hi = _fmt(self.lo), _fmt(self.hi)
        if self.hi is None:
            return "" if self.lo is None else f" {'>' if self.lo_open else '>='} {lo}"
        if self.lo is None:
            return f" <= {hi}"
        return f" in {'(' if self.lo_open else '['}{lo}, {hi}]"


def _fmt(value: float | None) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}" if value is not None else ""


SEED_RANGE = Range(0, SEED_MAX)


def _noun(expected: Any) -> str:
    if get_origin(expected) is Literal:
        return "one of " + ", ".join(map(str, get_args(expected)))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path"}.get(
        expected, getattr(expected, "__name__", str(expected))
    )


def typed(what: str, value: object, expected: Any, bounds: Range | None = None) -> Any:
    """``value`` (a string from the shell, a CSV cell or the environment, or a JSON/TOML value) as ``expected``:
    ``bool``, ``int``, ``float``, ``str``, ``Path``, a ``Literal`` or an optional (``X | None``) of one;
    numbers must lie in ``bounds``. Raises :class:`BadInput` naming ``what``, the value and what is accepted. A
    numpy scalar (``np.int64(2)`` from a script's arrays) is taken as the Python number it holds."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        value = value.item()  # type: ignore[attr-defined]
    if get_origin(expected) in (Union, UnionType):
        arms = [a for a in get_args(expected) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        expected = arms[0] if len(arms) == 1 else expected
    parsed = _parse(value, expected)
    if parsed is _BAD:
        accepted = _noun(expected) + (str(bounds) if bounds and expected in (int, float) else "")
        raise BadInput(f"{what} must be {accepted}, got {value!r}")
    number = isinstance(parsed, (int, float)) and not isinstance(parsed, bool)
    if bounds is not None and number and parsed not in bounds:
        raise BadInput(f"{what} must be {_noun(expected)}{bounds}, got {value!r}")
    return parsed


_BAD = object()


def _parse(value: object, expected: Any) -> Any:
    """``value`` as ``expected``, or ``_BAD``."""
    if get_origin(expected) is Literal:
        return value if isinstance(value, str) and value in get_args(expected) else _BAD
    text = value.strip() if isinstance(value, str) else None
    if expected is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        low = (text or "").lower()
        if low and (low in _TRUE or low in _FALSE):
            return low in _TRUE
        return _BAD
    if expected is int:
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else _BAD
        try:
            return int(text) if text is not None else _BAD
        except ValueError:
            return _BAD
    if expected is float:
        if isinstance(value, bool):
            return _BAD
        try:
            number = float(value) if isinstance(value, (int, float)) else float(text) if text is not None else None
        except (ValueError, OverflowError):
            return _BAD
        return number if number is not None and math.isfinite(number) else _BAD
    if expected is str:
        return value if isinstance(value, str) else _BAD
    if expected is Path:
        return Path(value) if isinstance(value, (str, Path)) and str(value) else _BAD
    if isinstance(expected, type):
        return value if isinstance(value, expected) else _BAD
    return value  # a type this parser does not know (``Any``, ``tuple[int, int]``): the stage checks it


def loose(value: object) -> object:
    """A value for an option nobody declared a type for (a plugin's): a string that reads as a boolean or a
    number becomes one, anything else stays as it is."""
    if not isinstance(value, str):
        return value
    low = value.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for expected in (int, float):
        parsed = _parse(value, expected)
        if parsed is not _BAD:
            return parsed
    return value


def check_seed(value: object, what: str = "seed") -> int:
    """A seed as an integer the generators accept (0 to 2**63-1)."""
    return typed(what, value, int, SEED_RANGE)


def close_matches(name: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest of ``choices`` (difflib), else ""."""
    found = difflib.get_close_matches(name, sorted(set(choices)), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(f) for f in found)}?" if found else ""


def max_pixels(environ: Mapping[str, str] | None = None) -> int:
    """The decompression-bomb limit: ``REFEDIT_MAX_PIXELS`` (a positive integer) or the default."""
    env = os.environ if environ is None else environ
    raw = env.get("REFEDIT_MAX_PIXELS", "")
    return DEFAULT_MAX_PIXELS if not raw.strip() else typed("REFEDIT_MAX_PIXELS", raw, int, Range(1))


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Check the environment variables refedit reads that :meth:`Settings.resolve` does not."""
    env = os.environ if environ is None else environ
    max_pixels(environ)
    _flag("REFEDIT_DEBUG", env.get("REFEDIT_DEBUG", ""))


def debug_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``REFEDIT_DEBUG`` asks for tracebacks: 1/true/yes/on (``0`` or ``false`` do not; an invalid value
    does not either, and :func:`check_environment` refuses it)."""
    env = os.environ if environ is None else environ
    return str(env.get("REFEDIT_DEBUG", "")).strip().lower() in _TRUE


def _flag(what: str, value: object) -> bool:
    """A boolean from a flag, an environment string or a TOML value."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadInput(f"invalid {what} {value!r}; use 1/0, true/false, yes/no or on/off")


def env_var(role: str) -> str:
    """The environment variable that overrides ``role``'s model id."""
    return f"REFEDIT_{role.upper().replace('-', '_')}_MODEL"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where refedit keeps what it derives from model files (single-file checkpoint configs, file hashes):
    ``REFEDIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/refedit``, else ``~/.cache/refedit``. Never beside a user's file."""
    env = os.environ if environ is None else environ
    if explicit := env.get("REFEDIT_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "refedit"


def config_path() -> Path:
    """Where the user config file lives (``REFEDIT_CONFIG`` overrides)."""
    if explicit := os.environ.get("REFEDIT_CONFIG"):
        path = Path(explicit).expanduser()
        if not path.exists():  # a typo would silently drop every setting of the file
            raise BadInput(f"config file {path} (REFEDIT_CONFIG) does not exist")
        if path.is_dir():
            raise BadInput(f"config file {path} (REFEDIT_CONFIG) is a folder; give the .toml file")
        return path
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "refedit" / "config.toml"


#: config file keys and their types (``models`` is a table of role = "model id")
CONFIG_KEYS: Mapping[str, Any] = MappingProxyType(
    {"device": str, "dtype": str, "offload": str, "compile": bool, "vae_tiling": str, "channels_last": str, "cuda_graphs": str,
     "trust_checkpoint": bool, "on_ambiguous": str, "models": dict}  # fmt: skip
)


def _read_config_file(path: Path) -> dict:
    """The config file's table, every key known and every value of its type (``{}`` when there is none, or it is
    ``os.devnull``: no config). A folder or a fifo where the file should be is :class:`BadInput` (its settings would
    be dropped without a word)."""
    if not path.exists() or path == Path(os.devnull):
        return {}
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise BadInput(f"config file {path} is {what}; make it a TOML file, or move it away (REFEDIT_CONFIG names "
                       "another)")  # fmt: skip
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise BadInput(f"config file {path} is not valid TOML: {err}") from None
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise BadInput(f"config file {path}: unknown key {key!r}{close_matches(key, CONFIG_KEYS)}")
        if key == "models":
            if not isinstance(value, dict):
                raise BadInput(f"config file {path}: [models] must be a table of role = \"model id\"")
            for role, model in value.items():
                if role not in MODEL_ROLES:
                    raise BadInput(f"config file {path}: unknown model role {role!r}{close_matches(role, MODEL_ROLES)}")
                typed(f"config file {path}: models.{role}", model, str)
        else:
            data[key] = typed(f"config file {path}: {key}", value, CONFIG_KEYS[key])
    return data


def _check_setting(key: str, value: object) -> None:
    """:class:`BadInput` when ``value`` is no value of the setting ``key`` (one of :data:`_CHOICES`; a device may
    also be ``cuda:N``)."""
    choices = _CHOICES[key]
    cuda_n = key == "device" and isinstance(value, str) and re.fullmatch(r"cuda:[0-9]+", value) is not None
    if not isinstance(value, str) or (value not in choices and not cuda_n):
        also = " (or cuda:N)" if key == "device" else ""
        raise BadInput(f"invalid {key.replace('_', '-')} {value!r}; choose from {', '.join(choices)}{also}")


#: the settings that take one of a few values, and those values
_CHOICES: dict[str, tuple[str, ...]] = {"device": DEVICES, "dtype": DTYPES, "offload": OFFLOADS, "vae_tiling": SWITCHES,
                                        "channels_last": SWITCHES, "cuda_graphs": SWITCHES,
                                        "on_ambiguous": AMBIGUITY_POLICIES}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Resolved settings shared by every stage of one pipeline.

    ``models`` maps every role of :data:`MODEL_ROLES` to a model id or a local directory. The GPU path:
    ``offload`` ``none`` keeps every model on the device; ``model`` keeps one model's modules there at a time
    (the detector and SAM leave before the UNet comes); ``group`` and ``sequential`` also stream the SD (and the
    instruction editors') weights layer by layer from the CPU: ``group`` with diffusers' group offloading, the weights
    kept in pinned memory and the next layer's copy overlapped with the current layer's work on a CUDA stream (on an H100
    the default chain's peak of ``sequential`` at all 50 steps in 5.8 s), ``sequential`` with accelerate's ``cpu_offload`` (least memory, slowest). ``compile`` runs the UNet through
    ``torch.compile``; ``vae_tiling`` ``auto`` tiles the VAE for working sizes over 1024 px; ``channels_last``
    ``auto`` stores UNet and VAE in channels-last on CUDA; ``cuda_graphs`` ``on`` replays the UNet's calls as CUDA
    graphs (:mod:`refedit.pipeline.graphs`; ``auto``: on CUDA with every model resident, i.e. ``offload`` ``none``,
    see :meth:`graphs_on`). ``trust_checkpoint`` allows loading pickled
    single-file checkpoints and adapters (``.ckpt``, ``.pt``, ``.pth``, ``.bin``), which can run code when read.
    ``on_ambiguous`` is the default policy when several objects fit the instruction equally well: ``fail`` (exit
    7 with the candidates listed), ``best`` (the highest detection score) or ``all``; ``--on-ambiguous`` overrides.
    """

    models: Mapping[str, str] = field(default_factory=lambda: {r: d for r, (d, _) in MODEL_ROLES.items()})
    device: str = "auto"
    dtype: str = "auto"
    offload: str = "none"
    compile: bool = False
    vae_tiling: str = "auto"
    channels_last: str = "auto"
    cuda_graphs: str = "auto"
    trust_checkpoint: bool = False
    on_ambiguous: str = "fail"

    def __post_init__(self) -> None:
        for key in _CHOICES:
            _check_setting(key, getattr(self, key))
        for what, value in (("compile", self.compile), ("trust_checkpoint", self.trust_checkpoint)):
            if not isinstance(value, bool):
                raise BadInput(f"invalid {what.replace('_', '-')} {value!r}; use true or false")
        unknown = set(self.models) - set(MODEL_ROLES)
        if unknown:
            raise BadInput(f"unknown model role(s) {sorted(unknown)}; roles are {', '.join(MODEL_ROLES)}")
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))

    def graphs_on(self, device_type: str) -> bool:
        """Whether UNet calls on a ``device_type`` device replay as CUDA graphs: ``on``, or ``auto`` with no
        offload (an offloaded UNet comes back at other addresses each edit, and a graph would be captured again).
        Never under group or sequential offload (the weights stream in layer by layer). On an H100 the default chain's
        edit takes 0.58 s with them against 1.58 s without, with the same pixels (benchmarks/results/gpu-h100.md)."""
        if device_type != "cuda" or self.offload in ("group", "sequential"):
            return False
        return self.cuda_graphs == "on" or (self.cuda_graphs == "auto" and self.offload == "none")

    def model(self, role: str) -> str:
        """The model id (or directory) configured for ``role``."""
        if role not in self.models:
            raise BadInput(f"unknown model role {role!r}; roles are {', '.join(MODEL_ROLES)}")
        return self.models[role]

    def with_models(self, **overrides: str | None) -> "Settings":
        """A copy with some roles' model ids replaced (``None`` values are ignored)."""
        models = dict(self.models)
        models.update({k: v for k, v in overrides.items() if v})
        return replace(self, models=models)

    @classmethod
    def resolve(
        cls,
        *,
        models: Mapping[str, str | None] | None = None,
        device: str | None = None,
        dtype: str | None = None,
        offload: str | None = None,
        compile: bool | None = None,
        vae_tiling: str | None = None,
        channels_last: str | None = None,
        cuda_graphs: str | None = None,
        trust_checkpoint: bool | None = None,
        on_ambiguous: str | None = None,
        environ: Mapping[str, str] | None = None,
        config_file: Path | None = None,
    ) -> "Settings":
        """Build settings with precedence flag > environment > config file > default."""
        env = os.environ if environ is None else environ
        file_cfg = _read_config_file(config_file if config_file is not None else config_path())
        file_models = file_cfg.get("models", {}) or {}
        if not isinstance(file_models, dict):
            raise BadInput("config file: [models] must be a table of role = \"model id\"")
        flags = {k: v for k, v in (models or {}).items() if v}
        resolved: dict[str, str] = {}
        for role, (default, _) in MODEL_ROLES.items():
            resolved[role] = flags.get(role) or env.get(env_var(role)) or file_models.get(role) or default
            if isinstance(resolved[role], str) and resolved[role].startswith("~"):  # "~/models/sd" in the config file
                resolved[role] = os.path.expanduser(resolved[role])
        unknown = (set(flags) | set(file_models)) - set(MODEL_ROLES)
        if unknown:
            raise BadInput(f"unknown model role(s) {sorted(unknown)}; roles are {', '.join(MODEL_ROLES)}")
        def pick(key: str, flag: object, default: object) -> object:
            """The first value given, flag, environment, config file; a bad one named by where it was given (an
            invalid REFEDIT_DEVICE said only "invalid device")."""
            for value, where in ((flag, ""), (env.get(f"REFEDIT_{key.upper()}"), f"REFEDIT_{key.upper()}: "),
                                 (file_cfg.get(key), f"config file {config_file or config_path()}: {key}: ")):  # fmt: skip
                if value is not None and value != "":
                    try:
                        if key in _CHOICES:
                            _check_setting(key, value)
                        elif key in ("compile", "trust_checkpoint"):  # "invalid compile 'maybe'" named no variable
                            _flag(key.replace("_", "-"), value)
                    except BadInput as err:
                        raise BadInput(f"{where}{err}") from None
                    return value
            return default

        return cls(
            models=resolved,
            device=str(pick("device", device, "auto")),
            dtype=str(pick("dtype", dtype, "auto")),
            offload=str(pick("offload", offload, "none")),
            compile=_flag("compile", pick("compile", compile, False)),
            vae_tiling=str(pick("vae_tiling", vae_tiling, "auto")),
            channels_last=str(pick("channels_last", channels_last, "auto")),
            cuda_graphs=str(pick("cuda_graphs", cuda_graphs, "auto")),
            trust_checkpoint=_flag("trust-checkpoint", pick("trust_checkpoint", trust_checkpoint, False)),
            on_ambiguous=str(pick("on_ambiguous", on_ambiguous, "fail")),
        )
