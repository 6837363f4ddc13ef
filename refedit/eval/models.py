"""The metric models, loaded once through the :class:`~refedit.pipeline.models.ModelStore` roles ``clipscore``,
``dino`` and ``lpips`` (flag > environment > config file > default, like every other model), always in float32.

Each encoder prepares images as its reference does: CLIP through the checkpoint's own processor, as torchmetrics'
``clip_score`` does; DINO through its checkpoint's image processor, the class token of the last layer as the
feature (what DINO's hub model returns, MagicBrush's DINO score); LPIPS on images scaled to [-1, 1]
(PIE-Bench's ``img * 2 - 1``)."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from refedit.config import Settings
from refedit.errors import ModelUnavailable


def metric_store(settings: Settings) -> Any:
    """A ModelStore for the metric models: the run's device, float32 whatever the pipeline's dtype."""
    from refedit.pipeline.models import ModelStore

    return ModelStore(replace(settings, dtype="float32"))


def _features(output: Any) -> Any:
    """``get_*_features`` returns a tensor (transformers 4) or an output whose ``pooler_output`` is the projection."""
    return getattr(output, "pooler_output", output)


class ClipEncoder:
    """CLIP image and text features of the ``clipscore`` role's checkpoint."""

    def __init__(self, store: Any, role: str = "clipscore") -> None:
        self.store, self.role = store, role

    @property
    def model(self) -> Any:
        return self.store.get(self.role, "clip")

    @property
    def processor(self) -> Any:
        return self.store.get(self.role, "processor")

    def image(self, image: np.ndarray) -> Any:
        """Features of an HxWx3 uint8 image (1-D)."""
        import torch

        pixels = self.processor(images=[np.asarray(image)], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=pixels.to(self.store.device, self.model.dtype))
        return _features(out)[0].float().cpu()

    def text(self, text: str) -> Any:
        """Features of a caption (1-D), truncated to the text encoder's length."""
        import torch

        limit = self.model.config.text_config.max_position_embeddings
        enc = self.processor(text=[text], return_tensors="pt", padding=True, truncation=True, max_length=limit)
        with torch.inference_mode():
            out = self.model.get_text_features(input_ids=enc["input_ids"].to(self.store.device),
                                               attention_mask=enc["attention_mask"].to(self.store.device))  # fmt: skip
        return _features(out)[0].float().cpu()


class DinoEncoder:
    """The class-token feature of the ``dino`` role's ViT (DINO ViT-S/16 by default; DINOv2 works too)."""

    def __init__(self, store: Any, role: str = "dino") -> None:
        self.store, self.role = store, role

    def image(self, image: np.ndarray) -> Any:
        import torch

        model = self.store.get(self.role, "dino")
        pixels = self.store.get(self.role, "processor")(images=[np.asarray(image)], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = model(pixel_values=pixels.to(self.store.device, model.dtype))
        return out.last_hidden_state[0, 0].float().cpu()


class LpipsDistance:
    """LPIPS of two HxWx3 uint8 images with the ``lpips`` role's network."""

    def __init__(self, store: Any, role: str = "lpips") -> None:
        self.store, self.role = store, role

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        import torch

        net = self.store.get(self.role, "lpips")

        def prep(img: np.ndarray) -> Any:
            t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
            return (t * 2 - 1).to(self.store.device)

        with torch.inference_mode():
            return float(net(prep(a), prep(b))[0])


def check_metric_models(settings: Settings, roles: Iterable[str]) -> None:
    """Every metric model the run needs can be read here or fetched, and is of its family (:class:`ModelUnavailable`
    otherwise), checked before any work: CLIP and DINO as the pipeline's checkpoints are (a DINO folder given as
    the CLIP score's model was refused only after every sample was edited); an LPIPS backbone name by its files in
    torch's hub cache, else by whether the download host answers."""
    from refedit.pipeline.models import check_available

    typed = []
    for role in roles:
        if role == "lpips":
            _check_lpips(settings.model("lpips"))
        else:
            check_available(settings, [(role, None)])
            typed.append((role, None))
    metric_store(settings).check_types(typed)  # reads each config.json, loads no weight


def _check_lpips(model_id: str) -> None:
    from refedit.eval.metrics.lpips import BACKBONE_URLS, NETS

    path = Path(model_id).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
            raise ModelUnavailable(f"cannot load the lpips model {model_id!r}: the folder needs config.json and "
                                   "model.safetensors -- point --lpips-model at a saved LPIPS folder")  # fmt: skip
        return
    if model_id not in NETS:
        raise ModelUnavailable(f"cannot load the lpips model {model_id!r}: no such folder, and not one of "
                               f"{', '.join(NETS)} -- point --lpips-model or REFEDIT_LPIPS_MODEL at one")  # fmt: skip
    import torch

    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if (cache / BACKBONE_URLS[model_id].rsplit("/", 1)[1]).is_file() and (cache / f"lpips-v0.1-{model_id}.pth").is_file():
        return
    try:
        socket.create_connection(("download.pytorch.org", 443), timeout=2.0).close()
    except Exception:  # no route, no DNS, or a sandbox that forbids sockets
        raise ModelUnavailable(
            f"cannot load the lpips model {model_id!r}: its weights are not in {cache} and download.pytorch.org "
            "cannot be reached -- download them elsewhere (see the README's evaluation section) or point "
            "--lpips-model at a saved LPIPS folder"
        ) from None
