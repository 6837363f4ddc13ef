"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), v0.1.

The distance InstructEdit (Table 1) and PIE-Bench report: both images (in [-1, 1]) are shifted and scaled
(``ScalingLayer``), passed through an ImageNet backbone (AlexNet, VGG16 or SqueezeNet 1.1 ``features``, cut
after each ReLU stage as the ``lpips`` package cuts them), each stage's features are normalised to unit length
over channels, their squared difference weighted by a learned 1x1 convolution (``lin``), averaged over space,
and summed over stages.

The module keeps the ``lpips`` package's parameter names (``net.slice1.0.weight``, ``lin0.model.1.weight``), so
one state dict loads into this network, the ``lpips`` package's and torchmetrics'. Where it comes from (the
``lpips`` model role): ``alex``, ``vgg`` or ``squeeze`` — the published v0.1 weights: the torchvision ImageNet
backbone and the LPIPS authors' linear layers, downloaded once into torch's hub cache (``$TORCH_HOME``) — or a
folder with ``config.json`` (``{"model_type": "lpips", "net": "alex"}``) and ``model.safetensors`` holding the
whole state dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from refedit.errors import ModelUnavailable

NETS = ("alex", "vgg", "squeeze")
#: channels of each stage's output
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512),
            "squeeze": (64, 128, 256, 384, 384, 512, 512)}  # fmt: skip
#: where each stage ends in the torchvision ``features`` sequence (the ``lpips`` package's slices)
CUTS = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30), "squeeze": (2, 5, 8, 10, 11, 12, 13)}
BACKBONE_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "squeeze": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}
LIN_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/{net}.pth"


class Fire(nn.Module):
    """SqueezeNet's fire module (torchvision's parameter names)."""

    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)  # fmt: skip


def backbone_layers(net: str) -> list[nn.Module]:
    """torchvision's ``alexnet().features`` / ``vgg16().features`` / ``squeezenet1_1().features``, layer by layer."""
    relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
    if net == "alex":
        return [nn.Conv2d(3, 64, 11, stride=4, padding=2), relu(), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), relu(), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), relu(), nn.Conv2d(384, 256, 3, padding=1), relu(),
                nn.Conv2d(256, 256, 3, padding=1), relu(), nn.MaxPool2d(3, 2)]  # fmt: skip
    if net == "vgg":
        layers: list[nn.Module] = []
        cin = 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), relu()]
                cin = int(v)
        return layers
    if net == "squeeze":
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        return [nn.Conv2d(3, 64, 3, stride=2), relu(), pool(), Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(), Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256)]  # fmt: skip
    raise ValueError(f"unknown LPIPS backbone {net!r}; choose from {', '.join(NETS)}")


class Backbone(nn.Module):
    """The backbone cut into stages ``slice1`` ... (each a Sequential keeping torchvision's layer indices)."""

    def __init__(self, net: str) -> None:
        super().__init__()
        layers, start = backbone_layers(net), 0
        self.n_slices = len(CUTS[net])
        for k, stop in enumerate(CUTS[net], 1):
            stage = nn.Sequential()
            for i in range(start, stop):
                stage.add_module(str(i), layers[i])
            setattr(self, f"slice{k}", stage)
            start = stop

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for k in range(1, self.n_slices + 1):
            x = getattr(self, f"slice{k}")(x)
            outs.append(x)
        return outs


class LinLayer(nn.Module):
    """A stage's learned channel weights: dropout (inactive in eval) then a 1x1 convolution without bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, stride=1, padding=0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """``LPIPS(net)(x, y)``: the distance of image batches ``x``, ``y`` (Nx3xHxW in [-1, 1]), shape N."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"unknown LPIPS backbone {net!r}; choose from {', '.join(NETS)}")
        self.net_name = net
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.net = Backbone(net)
        for k, channels in enumerate(CHANNELS[net]):
            setattr(self, f"lin{k}", LinLayer(channels))

    @staticmethod
    def unit(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
        """Features divided by their L2 norm over channels (``normalize_tensor``)."""
        return features / (torch.sqrt(torch.sum(features**2, dim=1, keepdim=True)) + eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.net((x - self.shift) / self.scale)
        fy = self.net((y - self.shift) / self.scale)
        total = 0
        for k, (a, b) in enumerate(zip(fx, fy)):
            diff = (self.unit(a) - self.unit(b)) ** 2
            total = total + getattr(self, f"lin{k}")(diff).mean(dim=[2, 3], keepdim=True)
        return total.flatten()  # type: ignore[union-attr]


def save_lpips(model: LPIPS, folder: str | Path) -> Path:
    """Write ``model`` as a folder the ``lpips`` role can point at (config.json + model.safetensors)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "lpips", "net": model.net_name, "version": "0.1"}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


def load_lpips(model_id: str, dtype: Any = None, **_hub: Any) -> LPIPS:
    """The LPIPS network of the ``lpips`` role: a backbone name (published weights) or a saved folder. Always
    float32 (the metric's precision does not follow the pipeline's fp16)."""
    path = Path(model_id).expanduser()
    if path.is_dir():
        return _from_folder(path)
    if model_id in NETS:
        return _published(model_id)
    raise ModelUnavailable(f"cannot load the lpips model {model_id!r}: use alex, vgg or squeeze (the published "
                           "LPIPS v0.1 weights) or a folder with config.json and model.safetensors -- point "
                           "--lpips-model or REFEDIT_LPIPS_MODEL at one")  # fmt: skip


def _from_folder(path: Path) -> LPIPS:
    from safetensors.torch import load_file

    try:
        config = json.loads((path / "config.json").read_text())
        if config.get("model_type") != "lpips":
            raise ValueError(f"config.json says model_type {config.get('model_type')!r}, not 'lpips'")
        model = LPIPS(str(config.get("net", "alex")))
        model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelUnavailable(f"cannot load the lpips model {str(path)!r}: {reason[:160]} -- point --lpips-model "
                               "at a folder with config.json and model.safetensors") from None  # fmt: skip
    return model.eval()


def _published(net: str) -> LPIPS:
    """The published v0.1 LPIPS: torchvision's ImageNet backbone + the authors' linear layers (torch hub cache)."""
    model = LPIPS(net)
    try:
        backbone = torch.hub.load_state_dict_from_url(BACKBONE_URLS[net], progress=False, weights_only=True)
        lins = torch.hub.load_state_dict_from_url(LIN_URL.format(net=net), file_name=f"lpips-v0.1-{net}.pth",
                                                  progress=False, weights_only=True)  # fmt: skip
    except Exception as err:  # no network, no cache, a refused download
        raise ModelUnavailable(
            f"cannot load the lpips model {net!r}: {str(err).strip()[:120] or type(err).__name__} -- it downloads "
            f"{BACKBONE_URLS[net]} and {LIN_URL.format(net=net)} into {torch.hub.get_dir()}/checkpoints on first "
            "use; without a network put them there, or point --lpips-model at a saved LPIPS folder"
        ) from None
    state = {k.replace("features.", "", 1): v for k, v in backbone.items() if k.startswith("features.")}
    index = {i: k for k, stop in enumerate(CUTS[net], 1) for i in range(_start(net, k), stop)}
    mapped = {f"net.slice{index[int(name.split('.')[0])]}.{name}": v for name, v in state.items()
              if int(name.split(".")[0]) in index}  # fmt: skip
    mapped.update({k: v for k, v in lins.items() if k.startswith("lin")})
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def _start(net: str, k: int) -> int:
    """Index of the first layer of stage ``k`` (1-based)."""
    return 0 if k == 1 else CUTS[net][k - 2]
