"""ModelStore: loads each checkpoint component once, lazily, and shares it between stages.

One instance per (model id, component, device, dtype): the DiffEdit editor and the Ref-Diff segmenter
get the very same UNet. Components are loaded by subfolder (``unet``, ``vae``, ``text_encoder``,
``tokenizer``, ``scheduler``) so refedit does not depend on pipeline classes or the safety checker.

The GPU path lives here too, so every stage gets it: TF32 matrix products on CUDA, UNet and VAE in
channels-last, an optional ``torch.compile`` of the UNet, and the memory plan (``Settings.offload``): with
``model`` only the modules of the model in use stay on the device, with ``sequential`` accelerate streams
weights from the CPU layer by layer. Every device move is recorded in ``ModelStore.moves``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from refedit.config import MODEL_ROLES, Settings, env_var
from refedit.errors import ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _diffusers(cls_name: str, subfolder: str) -> Callable[..., Any]:
    def load(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
        import diffusers

        return getattr(diffusers, cls_name).from_pretrained(model_id, subfolder=subfolder, torch_dtype=dtype, **hub)

    return load


def _scheduler_config(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
    from diffusers import DDIMScheduler

    # SD repositories ship a PNDM config; DDIM/DDIMInverse are built from its values by the editor.
    return DDIMScheduler.load_config(model_id, subfolder="scheduler", **hub)


def _transformers(cls_name: str, subfolder: str | None = None, weights: bool = True) -> Callable[..., Any]:
    def load(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
        import transformers

        kwargs: dict[str, Any] = {"subfolder": subfolder, **hub} if subfolder else dict(hub)
        if weights:
            kwargs["dtype"] = dtype
        return getattr(transformers, cls_name).from_pretrained(model_id, **kwargs)

    return load


@dataclass(frozen=True)
class Component:
    """How to load one component: ``loader(model_id, dtype, **hub_kwargs)``; ``module`` ones go to the
    device."""

    loader: Callable[..., Any]
    module: bool = True


COMPONENTS: dict[str, Component] = {
    "unet": Component(_diffusers("UNet2DConditionModel", "unet")),
    "vae": Component(_diffusers("AutoencoderKL", "vae")),
    "text_encoder": Component(_transformers("CLIPTextModel", "text_encoder")),
    "tokenizer": Component(_transformers("CLIPTokenizer", "tokenizer", weights=False), module=False),
    "scheduler": Component(_scheduler_config, module=False),
    "detector": Component(_transformers("AutoModelForZeroShotObjectDetection")),
    "sam": Component(_transformers("SamModel")),
    "clip": Component(_transformers("CLIPModel")),
    "captioner": Component(_transformers("AutoModelForImageTextToText")),
    "processor": Component(_transformers("AutoProcessor", weights=False), module=False),
}


#: components that ``sequential`` offload streams layer by layer (diffusers' own sequential offload covers these;
#: the detector, SAM and CLIP read some weights outside their owning module's forward, so they move whole)
STREAMABLE = ("unet", "vae", "text_encoder")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can the model hub be reached right now? False at once when ``HF_HUB_OFFLINE`` is set, else one TCP
    connection attempt (so a machine without a network fails in seconds, not after the hub's retries)."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except Exception:  # no route, no DNS, refused, or a sandbox that forbids sockets
        return False


def resolve_device(name: str) -> "torch.device":
    """``auto`` picks CUDA, then Apple MPS, then CPU."""
    import torch

    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            from refedit.errors import BadInput

            raise BadInput(f"device {name!r} requested but CUDA is not available here (use --device cpu)")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(name: str, device: "torch.device") -> "torch.dtype":
    """``auto`` is float16 on CUDA and MPS, float32 on CPU."""
    import torch

    if name == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    return getattr(torch, name)


def _unavailable(role: str, model_id: str, component: str, err: BaseException) -> ModelUnavailable:
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if len(reason) > 160:
        reason = reason[:157] + "..."
    flag = "the config file" if role == "llm" else f"--{role}-model"  # the CLI has a flag for every other role
    return ModelUnavailable(
        f"cannot load the {role} model {model_id!r} ({component}): {reason} -- it downloads on first use where "
        f"a network exists; otherwise download it elsewhere (`hf download {model_id}`) and point {flag} or "
        f"{env_var(role)} at the local directory"
    )


def _quiet_libraries() -> None:
    """Silence per-load chatter (weight-loading bars, advice to install extras); hub download progress and
    real errors still show. ``REFEDIT_DEBUG=1`` keeps everything."""
    import os

    if os.environ.get("REFEDIT_DEBUG"):
        return
    import diffusers
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()


class ModelStore:
    """Lazy, shared model loading for one device and dtype.

    ``get(role, component)`` returns the component of the model configured for ``role`` (see
    :data:`refedit.config.MODEL_ROLES`); ``loads`` records every ``from_pretrained`` call made, in order.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._cache: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.RLock()
        self._device: "torch.device | None" = None
        self._dtype: "torch.dtype | None" = None
        self.loads: list[tuple[str, str]] = []
        #: every offload move: (model id, component, "device" | "cpu" | "sequential")
        self.moves: list[tuple[str, str, str]] = []
        self._active: str | None = None  # model id whose modules are on the device ("model" offload)
        self._where: dict[tuple[str, str, str, str], str] = {}  # "model" offload: where each module is

    @property
    def device(self) -> "torch.device":
        if self._device is None:
            self._device = resolve_device(self.settings.device)
            if self._device.type == "cuda":
                import torch

                # TF32 for float32 matrix products and convolutions (Ampere and newer; fp16 is unaffected)
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
        return self._device

    @property
    def dtype(self) -> "torch.dtype":
        if self._dtype is None:
            self._dtype = resolve_dtype(self.settings.dtype, self.device)
        return self._dtype

    def model_id(self, role: str) -> str:
        return self.settings.model(role)

    def get(self, role: str, component: str, model_id: str | None = None) -> Any:
        """The loaded ``component`` ("unet", "vae", "detector", ...) of ``role``'s model (or of ``model_id``,
        e.g. from ``--editor-model``), cached."""
        if role not in MODEL_ROLES:
            raise KeyError(f"unknown model role {role!r}")
        spec = COMPONENTS[component]
        model_id = model_id or self.model_id(role)
        key = (model_id, component, str(self.device), str(self.dtype))
        with self._lock:
            if key in self._cache:
                if spec.module and self.settings.offload != "none" and self._active != model_id:
                    self._activate(model_id)
                return self._cache[key]
            _quiet_libraries()
            try:
                try:  # the local copy (a directory, or the hub cache) first: no network needed
                    obj = spec.loader(model_id, self.dtype, local_files_only=True)
                except (OSError, ValueError) as local_err:
                    if Path(model_id).exists() or not hub_reachable():
                        raise local_err
                    obj = spec.loader(model_id, self.dtype)  # download it (the hub shows progress)
            except (OSError, ValueError, ImportError) as err:
                raise _unavailable(role, model_id, component, err) from err
            except Exception as err:  # huggingface_hub HTTP errors and friends
                if type(err).__module__.startswith(("huggingface_hub", "requests", "httpx", "urllib3")):
                    raise _unavailable(role, model_id, component, err) from err
                raise
            self.loads.append((model_id, component))
            if spec.module:
                obj = self._place(model_id, component, obj.eval().requires_grad_(False))
            self._cache[key] = obj
            return obj

    def _place(self, model_id: str, component: str, module: Any) -> Any:
        """Put a freshly loaded module where the memory plan wants it, in the layout the device runs fastest."""
        import torch

        if component in ("unet", "vae") and (
            self.settings.channels_last == "on" or (self.settings.channels_last == "auto" and self.device.type == "cuda")
        ):
            module = module.to(memory_format=torch.channels_last)
        offload = self.settings.offload
        if offload == "sequential" and component in STREAMABLE:
            from accelerate import cpu_offload

            cpu_offload(module, execution_device=self.device)
            self.moves.append((model_id, component, "sequential"))
        elif offload in ("model", "sequential"):
            self._activate(model_id)
            module = module.to(self.device)
            self._where[(model_id, component, str(self.device), str(self.dtype))] = "device"
        else:
            module = module.to(self.device)
        if component == "unet" and self.settings.compile:
            # in place (the module keeps its class, config and attention processors); static shapes: one graph for
            # the inversion's batch of 1 and one for the guided batch of 2, no third dynamic-shape compilation
            module.compile(dynamic=False)
        return module

    def _activate(self, model_id: str) -> None:
        """``model`` offload: the modules of ``model_id`` to the device, every other model's to the CPU."""
        moved_out = False
        for key, now in list(self._where.items()):
            mid, component = key[0], key[1]
            obj = self._cache.get(key)
            where = "device" if mid == model_id else "cpu"
            if obj is not None and now != where:
                obj.to(self.device if where == "device" else "cpu")
                self._where[key] = where
                self.moves.append((mid, component, where))
                moved_out |= where == "cpu"
        self._active = model_id
        if moved_out and self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()  # hand the freed blocks back, so the next model has the room

    def cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """A derived object (e.g. a built scheduler) cached under ``key`` for this store's lifetime."""
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]
