"""Settings: model ids per role, device and dtype, resolved as flag > env var > config file > default.

Environment variables:
    REFEDIT_<ROLE>_MODEL   model id or local directory for a role (e.g. REFEDIT_SD_MODEL)
    REFEDIT_DEVICE         auto | cpu | cuda | cuda:N | mps
    REFEDIT_DTYPE          auto | float32 | float16 | bfloat16
    REFEDIT_OFFLOAD        none | model | sequential   (GPU memory plan, see ``Settings.offload``)
    REFEDIT_COMPILE        1 | 0                       (torch.compile the UNet)
    REFEDIT_VAE_TILING     auto | on | off             (tiled VAE for large working sizes)
    REFEDIT_CHANNELS_LAST  auto | on | off             (UNet/VAE in channels_last; auto: on CUDA)
    REFEDIT_CONFIG         path of the config file (default: $XDG_CONFIG_HOME/refedit/config.toml)

Config file (TOML)::

    device = "cuda"
    dtype = "float16"
    offload = "model"
    compile = true
    [models]
    sd = "/models/stable-diffusion-v1-5"
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from refedit.errors import BadInput

#: role -> (default public model id, what it is used for)
MODEL_ROLES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "sd": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion for DiffEdit and Ref-Diff"),
        "inpaint": ("stable-diffusion-v1-5/stable-diffusion-inpainting", "9-channel SD inpainting"),
        "instruct": ("timbrooks/instruct-pix2pix", "InstructPix2Pix-family editor"),
        "grounding": ("IDEA-Research/grounding-dino-base", "GroundingDINO open-set detector"),
        "sam": ("facebook/sam-vit-huge", "Segment Anything"),
        "clip": ("openai/clip-vit-base-patch16", "CLIP for attribute and Ref-Diff scoring"),
        "captioner": ("Salesforce/blip2-opt-2.7b", "image describer for the LLM parser"),
        "llm": ("gpt-4o-mini", "chat model behind the LLM parser"),
    }
)

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
OFFLOADS = ("none", "model", "sequential")
SWITCHES = ("auto", "on", "off")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


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


def config_path() -> Path:
    """Where the user config file lives (``REFEDIT_CONFIG`` overrides)."""
    if explicit := os.environ.get("REFEDIT_CONFIG"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "refedit" / "config.toml"


def _read_config_file(path: Path) -> dict:
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise BadInput(f"config file {path} is not valid TOML: {err}") from None


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    base = value.split(":", 1)[0]
    if base not in choices or (":" in value and base != "cuda"):
        raise BadInput(f"invalid {what} {value!r}; choose from {', '.join(choices)} (or cuda:N)")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved settings shared by every stage of one pipeline.

    ``models`` maps every role of :data:`MODEL_ROLES` to a model id or a local directory. The GPU path:
    ``offload`` ``none`` keeps every model on the device; ``model`` keeps one model's modules there at a time
    (the detector and SAM leave before the UNet comes); ``sequential`` also streams the
    SD weights layer by layer from the CPU (accelerate's ``cpu_offload``: least memory, slowest). ``compile`` runs the UNet through
    ``torch.compile``; ``vae_tiling`` ``auto`` tiles the VAE for working sizes over 1024 px; ``channels_last``
    ``auto`` stores UNet and VAE in channels-last on CUDA.
    """

    models: Mapping[str, str] = field(default_factory=lambda: {r: d for r, (d, _) in MODEL_ROLES.items()})
    device: str = "auto"
    dtype: str = "auto"
    offload: str = "none"
    compile: bool = False
    vae_tiling: str = "auto"
    channels_last: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("device", self.device, DEVICES)
        _check_choice("dtype", self.dtype, DTYPES)
        for what, value, choices in (("offload", self.offload, OFFLOADS), ("vae_tiling", self.vae_tiling, SWITCHES),
                                     ("channels_last", self.channels_last, SWITCHES)):  # fmt: skip
            if value not in choices:
                raise BadInput(f"invalid {what.replace('_', '-')} {value!r}; choose from {', '.join(choices)}")
        if not isinstance(self.compile, bool):
            raise BadInput(f"invalid compile {self.compile!r}; use true or false")
        unknown = set(self.models) - set(MODEL_ROLES)
        if unknown:
            raise BadInput(f"unknown model role(s) {sorted(unknown)}; roles are {', '.join(MODEL_ROLES)}")
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))

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
        unknown = (set(flags) | set(file_models)) - set(MODEL_ROLES)
        if unknown:
            raise BadInput(f"unknown model role(s) {sorted(unknown)}; roles are {', '.join(MODEL_ROLES)}")
        def pick(key: str, flag: object, default: object) -> object:
            for value in (flag, env.get(f"REFEDIT_{key.upper()}"), file_cfg.get(key)):
                if value is not None and value != "":
                    return value
            return default

        return cls(
            models=resolved,
            device=device or env.get("REFEDIT_DEVICE") or file_cfg.get("device") or "auto",
            dtype=dtype or env.get("REFEDIT_DTYPE") or file_cfg.get("dtype") or "auto",
            offload=str(pick("offload", offload, "none")),
            compile=_flag("compile", pick("compile", compile, False)),
            vae_tiling=str(pick("vae_tiling", vae_tiling, "auto")),
            channels_last=str(pick("channels_last", channels_last, "auto")),
        )
