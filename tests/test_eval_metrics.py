"""``refedit eval``'s metrics against reference implementations on fixed inputs (torchmetrics for PSNR/SSIM/MSE/
CLIP score/LPIPS, the ``lpips`` package for LPIPS, pycocotools for RLE/polygon decoding and mask IoU), and the
referring-segmentation figures against a hand computation."""

from __future__ import annotations

import math
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from refedit.errors import BadInput
from refedit.eval.formats import rle
from refedit.eval.metrics import embedding as emb
from refedit.eval.metrics import pixels as px
from refedit.eval.metrics.masks import Overlap, figures, iou, overlap

TOL = 1e-6


def _pair(seed: int = 0, shape: tuple[int, int] = (37, 45)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    return a, b


def _t(img: np.ndarray) -> torch.Tensor:
    """The reference's input: 1x3xHxW float64 in [0, 1] (the PnP-Inversion code's array / 255)."""
    return torch.tensor(img.astype(np.float64) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()


# --------------------------------------------------------------------------- mIoU / oIoU / Pr@X by hand
# ten samples on a 1x10 strip: (ground truth [start, stop), prediction [start, stop)), and the intersection and
# union counted by hand from those intervals
HAND = [((0, 10), (0, 10), 10, 10), ((0, 10), (0, 5), 5, 10), ((0, 4), (2, 6), 2, 6), ((0, 5), (5, 10), 0, 10),
        ((0, 8), (0, 6), 6, 8), ((2, 7), (2, 6), 4, 5), ((0, 10), (0, 9), 9, 10), ((0, 3), (0, 0), 0, 3),
        ((3, 10), (0, 10), 7, 10), ((0, 5), (0, 3), 3, 5)]  # fmt: skip


def _strip(span: tuple[int, int]) -> np.ndarray:
    m = np.zeros((1, 10), dtype=bool)
    m[0, span[0] : span[1]] = True
    return m


def test_miou_oiou_and_precision_equal_the_hand_computation() -> None:
    overlaps = [overlap(_strip(p), _strip(g)) for g, p, _, _ in HAND]
    assert [(o.intersection, o.union) for o in overlaps] == [(i, u) for _, _, i, u in HAND]
    f = figures(overlaps)
    # by hand: IoUs 1, .5, 1/3, 0, .75, .8, .9, 0, .7, .6
    assert f.miou == pytest.approx((1 + 0.5 + 1 / 3 + 0 + 0.75 + 0.8 + 0.9 + 0 + 0.7 + 0.6) / 10, abs=1e-12)
    assert f.oiou == pytest.approx(46 / 77, abs=1e-12)  # sum of I = 46, sum of U = 77
    # IoU >= X: 0.5 -> 7 samples, 0.6 -> 6, 0.7 -> 5, 0.8 -> 3, 0.9 -> 2
    assert f.precision == {0.5: 0.7, 0.6: 0.6, 0.7: 0.5, 0.8: 0.3, 0.9: 0.2}
    assert f.to_dict()["Pr@0.7"] == 0.5 and f.n == 10


def test_summary_by_kind_counts_a_sample_in_each_of_its_kinds() -> None:
    from refedit.eval.report import segmentation_summary

    records = [{"intersection": 1, "union": 2, "kinds": ["spatial", "attribute"], "status": "done"},
               {"intersection": 0, "union": 4, "kinds": ["plain"], "status": "failed", "error_type": "TargetNotFound"},
               {"intersection": 3, "union": 3, "kinds": ["spatial"], "status": "done", "box_correct": True}]  # fmt: skip
    s = segmentation_summary(records)
    assert s["by_kind"]["spatial"]["n"] == 2 and s["by_kind"]["spatial"]["mIoU"] == pytest.approx(0.75)
    assert s["by_kind"]["spatial"]["oIoU"] == pytest.approx(4 / 5)
    assert s["by_kind"]["attribute"]["n"] == 1 and s["by_kind"]["plain"]["mIoU"] == 0.0
    assert s["overall"]["failed"] == 1 and s["failures"] == {"TargetNotFound": 1}
    assert s["overall"]["box_acc"] == 1.0  # only the sample with a box verdict counts


def test_mask_iou_equals_pycocotools() -> None:
    from pycocotools import mask as mu

    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.random((23, 31)) < 0.3, rng.random((23, 31)) < 0.5
        ra, rb = (mu.encode(np.asfortranarray(m.astype(np.uint8))) for m in (a, b))
        assert abs(iou(a, b) - float(mu.iou([ra], [rb], [0])[0, 0])) < TOL
    empty = np.zeros((4, 4), dtype=bool)
    e = mu.encode(np.asfortranarray(empty.astype(np.uint8)))
    assert iou(empty, empty) == float(mu.iou([e], [e], [0])[0, 0]) == 0.0
    with pytest.raises(BadInput, match="ground truth is 4x4"):
        overlap(np.zeros((5, 4), bool), empty)


# --------------------------------------------------------------------------- RLE and polygons vs pycocotools
def test_rle_strings_and_lists_decode_and_encode_as_pycocotools() -> None:
    from pycocotools import mask as mu

    rng = np.random.default_rng(0)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        m = rng.random((h, w)) < rng.random()
        ref = mu.encode(np.asfortranarray(m.astype(np.uint8)))
        assert rle.encode_rle(m) == {"size": [h, w], "counts": ref["counts"].decode()}
        assert np.array_equal(rle.decode_rle({"size": [h, w], "counts": ref["counts"].decode()}), mu.decode(ref) > 0)
        counts = rle.counts_from_mask(m)  # the uncompressed form (COCO crowd annotations)
        from_list = mu.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        assert np.array_equal(rle.decode_rle({"size": [h, w], "counts": counts}), mu.decode(from_list) > 0)


def test_polygons_rasterise_as_pycocotools() -> None:
    from pycocotools import mask as mu

    rng = np.random.default_rng(1)
    for k in range(60):
        h, w = (int(v) for v in rng.integers(8, 50, 2))
        parts = [rng.uniform(-4, max(h, w) + 4, 2 * int(rng.integers(3, 9))).tolist() for _ in range(1 + k % 2)]
        if k % 3 == 0:
            parts = [[float(round(v)) for v in p] for p in parts]  # integer vertices, repeated ones included
        ref = mu.decode(mu.merge(mu.frPyObjects(parts, h, w))) > 0
        assert np.array_equal(rle.decode_polygons(parts, h, w), ref), k


@pytest.mark.parametrize("bad", [{"size": [2, 2], "counts": [1, 2]}, {"size": [2, 2], "counts": "x!"},
                                 {"size": [2], "counts": [4]}, {"counts": [4]}, [[1, 2, 3]], "nope"])  # fmt: skip
def test_malformed_masks_are_bad_input(bad: object) -> None:
    with pytest.raises(BadInput):
        if isinstance(bad, dict):
            rle.decode_rle(bad)
        else:
            rle.decode_polygons(bad, 4, 4)


def test_pie_bench_rle_decodes_as_its_mask_decode() -> None:
    # PnP-Inversion's mask_decode: (start, length) pairs over the row-major flattened mask, then the border set
    mask = rle.decode_pie([5, 2, 15, 9], (4, 4))
    expected = np.array([[1, 1, 1, 1],
                         [1, 1, 1, 1],  # indices 5, 6 (and the border)
                         [1, 0, 0, 1],
                         [1, 1, 1, 1]], dtype=bool)  # fmt: skip
    assert np.array_equal(mask, expected)  # index 15 with length 9 is cut at the end
    with pytest.raises(BadInput, match="beyond"):
        rle.decode_pie([16, 1], (4, 4))
    with pytest.raises(BadInput, match="pairs"):
        rle.decode_pie([1, 2, 3], (4, 4))


# --------------------------------------------------------------------------- pixel figures vs torchmetrics
def test_psnr_mse_ssim_l1_equal_torchmetrics() -> None:
    from torchmetrics.functional import mean_absolute_error, mean_squared_error
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    a, b = _pair()
    assert abs(px.mse(a, b) - float(mean_squared_error(_t(a), _t(b)))) < 1e-12
    assert abs(px.l1(a, b) - float(mean_absolute_error(_t(a), _t(b)))) < 1e-12
    assert abs(px.ssim(a, b) - float(structural_similarity_index_measure(_t(a), _t(b), data_range=1.0))) < TOL
    ref_psnr = float(peak_signal_noise_ratio(_t(a), _t(b), data_range=1.0))
    # torchmetrics scales ln(.) by 10 / ln(10) computed in float32: equal to 1e-7 relative
    assert abs(px.psnr(a, b) - ref_psnr) < 1e-7 * ref_psnr
    assert px.psnr(a, a) == math.inf


def test_pie_bench_background_figures_follow_its_evaluation_code() -> None:
    """PnP-Inversion's ``calculate_psnr(src, tgt, 1 - mask, 1 - mask)``: both images multiplied by 1 - mask, then
    torchmetrics on the whole image."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = _pair(1, (40, 48))
    mask = np.zeros((40, 48), dtype=bool)
    mask[10:25, 12:30] = True
    keep = (1 - mask.astype(np.float64))[..., None]
    ref_a, ref_b = _t(a) * torch.tensor(keep).permute(2, 0, 1), _t(b) * torch.tensor(keep).permute(2, 0, 1)
    ma, mb = px.masked(a, ~mask), px.masked(b, ~mask)
    assert abs(px.mse(ma, mb) - float(((ref_a - ref_b) ** 2).mean())) < 1e-12
    assert abs(px.ssim(ma, mb) - float(structural_similarity_index_measure(ref_a, ref_b, data_range=1.0))) < TOL


def test_region_figures_l2_bg_and_ssim_m() -> None:
    from torchmetrics.functional import mean_squared_error
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = _pair(2, (33, 40))
    mask = np.zeros((33, 40), dtype=bool)
    mask[5:20, 8:22] = True
    bg = ~mask
    # L2_bg: the mean squared difference over the background pixels' channels
    ref_l2 = float(mean_squared_error(_t(a)[0][:, torch.from_numpy(bg)], _t(b)[0][:, torch.from_numpy(bg)]))
    assert abs(px.l2_region(a, b, bg) - ref_l2) < 1e-12
    assert abs(px.l2_region(a, b, bg) - ((a[bg] / 255.0 - b[bg] / 255.0) ** 2).mean()) < 1e-12
    # SSIM-M / SSIM-M̄: torchmetrics' full SSIM map averaged inside / outside the mask
    _, full = structural_similarity_index_measure(_t(a), _t(b), data_range=1.0, return_full_image=True)
    assert abs(px.ssim_region(a, b, mask) - float(full[0][:, torch.from_numpy(mask)].mean())) < TOL
    assert abs(px.ssim_region(a, b, bg) - float(full[0][:, torch.from_numpy(bg)].mean())) < TOL
    assert math.isnan(px.ssim_region(a, b, np.zeros_like(mask)))


# --------------------------------------------------------------------------- CLIP / DINO figures
@pytest.fixture(scope="module")
def eval_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from refedit.testing.tiny_eval import build_eval_models

    return build_eval_models(tmp_path_factory.mktemp("eval-models"))


@pytest.fixture(scope="module")
def metric_store(eval_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    from refedit.config import Settings
    from refedit.eval.models import metric_store as make

    return make(Settings.resolve(models={k: str(v) for k, v in eval_models.items()}, environ={},
                                 config_file=Path("/dev/null")))  # fmt: skip


def _clip_pair(folder: Path):  # type: ignore[no-untyped-def]
    """The tiny CLIP for torchmetrics: transformers 5's ``get_*_features`` return an output object, torchmetrics
    expects the projected tensor (its ``pooler_output``), so this subclass hands that over."""
    from transformers import CLIPModel, CLIPProcessor

    class Clip(CLIPModel):
        def get_image_features(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return super().get_image_features(*args, **kwargs).pooler_output

        def get_text_features(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return super().get_text_features(*args, **kwargs).pooler_output

    return lambda: (Clip.from_pretrained(folder), CLIPProcessor.from_pretrained(folder))


def test_clip_score_equals_torchmetrics(metric_store, eval_models) -> None:  # type: ignore[no-untyped-def]
    from torchmetrics.functional.multimodal import clip_score

    from refedit.eval.models import ClipEncoder

    enc = ClipEncoder(metric_store)
    for seed, caption in ((0, "a photo of a red cat"), (1, "two dogs on a sofa")):
        img, _ = _pair(seed, (40, 52))
        ref = float(clip_score(torch.from_numpy(img).permute(2, 0, 1), caption, model_name_or_path=_clip_pair(eval_models["clipscore"])))
        mine = emb.clip_score(enc.image(img), enc.text(caption))
        assert abs(mine - ref) < 1e-5  # a score of ~2 in float32 features: 1e-6 is the rounding of one CPU's kernels


def test_clip_directional_similarity_and_dino_follow_their_definitions(metric_store, eval_models) -> None:  # type: ignore[no-untyped-def]
    from transformers import CLIPModel, CLIPProcessor, ViTImageProcessor, ViTModel

    from refedit.eval.models import ClipEncoder, DinoEncoder

    src, edit = _pair(4, (36, 36))
    model, proc = CLIPModel.from_pretrained(eval_models["clipscore"]), CLIPProcessor.from_pretrained(eval_models["clipscore"])
    with torch.no_grad():
        def img(x):  # type: ignore[no-untyped-def]
            f = model.get_image_features(**proc(images=[x], return_tensors="pt")).pooler_output[0].double()
            return f / f.norm()

        def txt(t):  # type: ignore[no-untyped-def]
            f = model.get_text_features(**proc(text=[t], return_tensors="pt", padding=True)).pooler_output[0].double()
            return f / f.norm()

        # InstructPix2Pix / diffusers' DirectionalSimilarity: cos(E_I(edit) - E_I(src), E_T(edit) - E_T(src))
        ref = torch.nn.functional.cosine_similarity(img(edit) - img(src), txt("a tiger") - txt("a cat"), dim=0)
    enc = ClipEncoder(metric_store)
    mine = emb.directional_similarity(enc.image(src), enc.image(edit), enc.text("a cat"), enc.text("a tiger"))
    assert abs(mine - float(ref)) < TOL
    vit, vproc = ViTModel.from_pretrained(eval_models["dino"]), ViTImageProcessor.from_pretrained(eval_models["dino"])
    with torch.no_grad():
        cls = [vit(**vproc(images=[x], return_tensors="pt")).last_hidden_state[0, 0].double() for x in (src, edit)]
    dino = DinoEncoder(metric_store)
    assert abs(emb.cosine(dino.image(src), dino.image(edit)) - float(torch.nn.functional.cosine_similarity(*cls, dim=0))) < TOL


# --------------------------------------------------------------------------- LPIPS vs torchmetrics and lpips
def _stand_in_torchvision() -> types.ModuleType:
    """torchvision cannot be installed beside the CPU torch here (PyPI's wheels are CUDA builds); the references
    only take its backbones' ``features``: these are written from torchvision's AlexNet and SqueezeNet 1.1."""

    class Fire(nn.Module):
        def __init__(self, cin: int, sq: int, e1: int, e3: int) -> None:
            super().__init__()
            self.squeeze, self.squeeze_activation = nn.Conv2d(cin, sq, 1), nn.ReLU(inplace=True)
            self.expand1x1, self.expand1x1_activation = nn.Conv2d(sq, e1, 1), nn.ReLU(inplace=True)
            self.expand3x3, self.expand3x3_activation = nn.Conv2d(sq, e3, 3, padding=1), nn.ReLU(inplace=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)

    def wrap(*layers: nn.Module) -> nn.Module:
        m = nn.Module()
        m.features = nn.Sequential(*layers)
        return m

    def alexnet(pretrained: bool = False, weights: object = None) -> nn.Module:
        return wrap(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2),
                    nn.ReLU(True), nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
                    nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True),
                    nn.MaxPool2d(3, 2))  # fmt: skip

    def squeezenet1_1(pretrained: bool = False, weights: object = None) -> nn.Module:
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        return wrap(nn.Conv2d(3, 64, 3, 2), nn.ReLU(True), pool(), Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                    Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(), Fire(256, 48, 192, 192),
                    Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256))  # fmt: skip

    tv, models = types.ModuleType("torchvision"), types.ModuleType("torchvision.models")
    models.alexnet, models.squeezenet1_1 = alexnet, squeezenet1_1  # type: ignore[attr-defined]
    tv.models, tv.__version__ = models, "0.28.0"  # type: ignore[attr-defined]
    return tv


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_lpips_equals_torchmetrics(net: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from refedit.config import Settings
    from refedit.eval.models import LpipsDistance, metric_store
    from refedit.testing.tiny_eval import build_tiny_lpips

    import torchmetrics  # noqa: F401  (imported before the stand-in: its import probes torchvision's spec)

    tv = _stand_in_torchvision()
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", tv.models)
    import torchmetrics.functional.image.lpips as tm_lpips

    monkeypatch.setattr(tm_lpips, "_TORCHVISION_AVAILABLE", True)
    folder = build_tiny_lpips(tmp_path / "lpips", net=net, seed=3)
    store = metric_store(Settings.resolve(models={"lpips": str(folder)}, environ={}, config_file=Path("/dev/null")))
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    ref = tm_lpips._LPIPS(pretrained=False, net=net, pnet_rand=True).eval()
    # torchmetrics keeps SqueezeNet's stages in a list (net.slices.0 ...), the lpips package as net.slice1 ...
    tm_weights = {re.sub(r"^net\.slice(\d+)\.", lambda m: f"net.slices.{int(m[1]) - 1}.", k) if net == "squeeze" else k: v
                  for k, v in weights.items()}  # fmt: skip
    result = ref.load_state_dict(tm_weights, strict=False)
    assert not result.unexpected_keys and all(k.startswith("lins.") for k in result.missing_keys)  # aliases of lin0...
    a, b = _pair(5, (64, 64))
    x, y = (torch.from_numpy(v.astype(np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1 for v in (a, b))
    with torch.no_grad():
        expected = float(ref(x, y))
    mine = LpipsDistance(store)(a, b)
    assert abs(mine - expected) < TOL and mine > 0


#: where ``make test`` installs the ``lpips`` package and torchvision's pure-Python model definitions
#: (``pip install --no-deps --target``): not on the path, since torchvision's PyPI wheels are CUDA builds whose
#: C extension cannot load beside the CPU torch the tests pin (and transformers would import it)
LPIPS_REFS = Path(__file__).resolve().parents[1] / ".venv-test" / "refs"


def _lpips_package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The ``lpips`` package (0.1.4) over torchvision's own AlexNet/VGG16/SqueezeNet 1.1 code: torchvision's
    package ``__init__`` (which loads the C extension) is bypassed, its ``models`` subpackage is imported as is."""
    import os

    if not (LPIPS_REFS / "lpips" / "__init__.py").is_file() or not (LPIPS_REFS / "torchvision" / "models").is_dir():
        message = f"the lpips package and torchvision's model code are not in {LPIPS_REFS} (make test installs them)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    tv = types.ModuleType("torchvision")
    tv.__path__, tv.__version__ = [str(LPIPS_REFS / "torchvision")], "0.28.0"  # type: ignore[attr-defined]
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith(("torchvision.", "lpips"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.syspath_prepend(str(LPIPS_REFS))
    import lpips

    assert Path(lpips.__file__).is_relative_to(LPIPS_REFS)
    return lpips


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_lpips_equals_the_lpips_package(net: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The issue's reference: the ``lpips`` package's LPIPS with the same random weights loaded into both."""
    from refedit.config import Settings
    from refedit.eval.models import LpipsDistance, metric_store
    from refedit.testing.tiny_eval import build_tiny_lpips

    lpips = _lpips_package(monkeypatch)
    folder = build_tiny_lpips(tmp_path / "lpips", net=net, seed=11)
    from safetensors.torch import load_file

    ref = lpips.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False).eval()
    result = ref.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    # missing: the ``lins`` aliases of lin0... and the scaling layer's constants, which the package builds itself
    assert not result.unexpected_keys and all(k.startswith(("lins.", "scaling_layer.")) for k in result.missing_keys)
    assert all(torch.equal(ref.lins[i].model[1].weight, getattr(ref, f"lin{i}").model[1].weight) for i in range(len(ref.lins)))
    store = metric_store(Settings.resolve(models={"lpips": str(folder)}, environ={}, config_file=Path("/dev/null")))
    for seed, shape in ((6, (64, 64)), (8, (75, 50))):
        a, b = _pair(seed, shape)
        x, y = (torch.from_numpy(v.astype(np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1 for v in (a, b))
        with torch.no_grad():
            expected = float(ref(x, y))
        mine = LpipsDistance(store)(a, b)
        assert abs(mine - expected) < TOL and mine != 0  # random linear layers may weigh a distance below zero
        assert LpipsDistance(store)(a, a) == 0.0


def test_lpips_published_weights_load_from_torch_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``--lpips-model alex`` reads torchvision's AlexNet file and the LPIPS authors' linear layers from torch's hub
    cache: the same tensors in the two files' own key layouts give the same network as a saved folder."""
    from refedit.eval.metrics.lpips import load_lpips
    from refedit.testing.tiny_eval import random_lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    model = random_lpips("alex", seed=7)
    state = model.state_dict()
    # torchvision's layout: features.<index>.weight, plus its classifier; LPIPS's: lin<k>.model.1.weight
    backbone = {"features." + k.split(".", 2)[2]: v for k, v in state.items() if k.startswith("net.")}
    backbone["classifier.1.weight"] = torch.zeros(4, 4)
    torch.save(backbone, cache / "alexnet-owt-7be5be79.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("lin")}, cache / "lpips-v0.1-alex.pth")
    loaded = load_lpips("alex")
    a, b = (torch.rand(1, 3, 64, 64) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        assert torch.equal(loaded(a, b), model(a, b))
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_lpips_without_weights_or_network_is_model_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from refedit.config import Settings
    from refedit.errors import ModelUnavailable
    from refedit.eval.models import check_metric_models

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    settings = Settings.resolve(models={"lpips": "alex"}, environ={}, config_file=Path("/dev/null"))
    with pytest.raises(ModelUnavailable, match="download.pytorch.org cannot be reached"):
        check_metric_models(settings, ["lpips"])
    with pytest.raises(ModelUnavailable, match="not one of alex, vgg, squeeze"):
        check_metric_models(Settings.resolve(models={"lpips": "resnet"}, environ={}, config_file=Path("/dev/null")),
                            ["lpips"])  # fmt: skip


def test_a_sample_without_background_has_no_background_figures_and_identical_ones_do_not_hide_the_rest() -> None:
    """An object that fills the image left PSNR ∞, MSE 0 and SSIM 1 (a perfect background that is not there) in the
    means; and one bit-identical background made the mean PSNR infinite, hiding every other sample's."""
    from refedit.eval.report import edit_summary, edit_table
    from refedit.eval.score import Scorer

    src = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    edited = np.clip(src.astype(int) + 20, 0, 255).astype(np.uint8)
    scorer = Scorer(store=None, metrics=("psnr_bg", "mse_bg", "ssim_bg", "l2_bg", "ssim_m", "ssim_m_bar"))
    full = scorer._background(src, edited, np.ones((32, 32), bool))
    assert set(full) == {"ssim_m"}
    half = np.zeros((32, 32), bool)
    half[:, :16] = True
    some = scorer._background(src, edited, half)
    assert np.isfinite(some["psnr_bg"]) and some["mse_bg"] > 0
    recs = [{"status": "done", **some}, {"status": "done", "psnr_bg": "inf", "mse_bg": 0.0}, {"status": "done", **full}]
    overall = edit_summary(recs)["overall"]
    assert overall["psnr_bg"] == pytest.approx(some["psnr_bg"]) and overall["psnr_bg_identical"] == 1
    assert overall["mse_bg"] == pytest.approx(some["mse_bg"] / 2)  # the sample without background is not a 0
    table = edit_table(edit_summary(recs))
    assert "psnr_bg_identical" in table and "bit-identical" in table and "∞" not in table
