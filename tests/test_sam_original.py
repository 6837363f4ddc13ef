"""The original segment-anything package as the SAM backend for .pth checkpoints, on a tiny SAM of the
original architecture saved as a .pth state dict and loaded through the real torch.load/load_state_dict path.

segment-anything imports torchvision (for one image resize, and NMS in the automatic mask generator it is
not used here). Where torchvision does not import (the CPU torch of the test machines has no matching
torchvision build), those few torchvision functions are stood in for by PIL equivalents for these tests only.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from refedit.errors import ModelUnavailable
from refedit.pipeline.segment.sam_original import SamOriginal, model_type_from_name, sam_backend

from .conftest import EXAMPLES

HAVE_SEGMENT_ANYTHING = importlib.util.find_spec("segment_anything") is not None
IMG = 64  # tiny encoder input side (the real models use 1024)
BOXES = [(10.0, 20.0, 120.0, 150.0), (150.0, 40.0, 260.0, 180.0), (0.0, 0.0, 50.0, 50.0)]


def _torchvision_stand_in() -> dict[str, types.ModuleType]:
    """The torchvision names segment-anything imports; only ``resize``/``to_pil_image`` are exercised."""

    def resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:  # torchvision: (h, w), bilinear
        return img.resize((size[1], size[0]), Image.BILINEAR)

    def unavailable(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("torchvision stand-in: not available in this test")

    tv, transforms, functional, ops, boxes = (types.ModuleType(n) for n in (
        "torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
        "torchvision.ops.boxes"))  # fmt: skip
    functional.resize, functional.to_pil_image = resize, Image.fromarray  # type: ignore[attr-defined]
    boxes.batched_nms = boxes.box_area = unavailable  # type: ignore[attr-defined]
    tv.transforms, transforms.functional = transforms, functional  # type: ignore[attr-defined]
    tv.ops, ops.boxes = ops, boxes  # type: ignore[attr-defined]
    return {m.__name__: m for m in (tv, transforms, functional, ops, boxes)}


@pytest.fixture(scope="module")
def sa():  # type: ignore[no-untyped-def]
    """The imported ``segment_anything`` (with the torchvision stand-in where torchvision is unusable)."""
    if not HAVE_SEGMENT_ANYTHING:
        pytest.skip("segment-anything is not installed (extra: sam-original)")
    try:
        import torchvision  # noqa: F401

        yield pytest.importorskip("segment_anything")
        return
    except Exception:  # absent, or a build that does not match this torch
        pass
    before = set(sys.modules)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            mp.delitem(sys.modules, name)
        for name, module in _torchvision_stand_in().items():
            mp.setitem(sys.modules, name, module)
        import segment_anything

        yield segment_anything
    for name in set(sys.modules) - before:  # forget modules bound to the stand-in
        if name.startswith(("segment_anything", "torchvision")):
            del sys.modules[name]


def _tiny_sam(sa):  # type: ignore[no-untyped-def]
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    dim, patch = 32, 16
    torch.manual_seed(0)
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=IMG, patch_size=patch, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=(1,), window_size=2, out_chans=dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(IMG // patch, IMG // patch), input_image_size=(IMG, IMG),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim, iou_head_depth=2, iou_head_hidden_dim=16,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()  # fmt: skip


@pytest.fixture(scope="module")
def tiny_pth(sa, tmp_path_factory):  # type: ignore[no-untyped-def]
    import torch

    path = tmp_path_factory.mktemp("sam-original") / "sam_vit_b_tiny.pth"
    torch.save(_tiny_sam(sa).state_dict(), path)
    return path


@pytest.fixture
def builder(sa):  # type: ignore[no-untyped-def]
    """What segment_anything's build_sam_vit_b does, for the tiny architecture: build, torch.load, load."""
    import torch

    def build(checkpoint: str):  # type: ignore[no-untyped-def]
        sam = _tiny_sam(sa)
        with open(checkpoint, "rb") as f:
            state_dict = torch.load(f)
        sam.load_state_dict(state_dict)
        return sam

    return build


@pytest.fixture
def cat() -> Image.Image:
    return Image.open(EXAMPLES / "cat.jpg").convert("RGB")


def test_masks_have_the_image_shape_and_one_embedding_per_image(tiny_pth, builder, cat):
    sam = SamOriginal(tiny_pth, builder=builder)
    assert sam.model_type == "vit_b" and sam.embed_calls == 0  # loads lazily
    masks = sam.masks(cat, BOXES)
    assert len(masks) == 3
    for m in masks:
        assert m.shape == (cat.height, cat.width) and m.dtype == np.bool_
    assert sam.embed_calls == 1
    again = sam.masks(cat, BOXES[:1])
    assert sam.embed_calls == 1
    np.testing.assert_array_equal(again[0], masks[0])
    other = cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert sam.masks(other, BOXES)[0].shape == (other.height, other.width)
    assert sam.embed_calls == 2
    assert sam.masks(cat, []) == [] and sam.embed_calls == 2


def test_weights_come_from_the_file(tiny_pth, builder, sa):
    import torch

    sam = SamOriginal(tiny_pth, builder=builder)
    saved = torch.load(tiny_pth)
    loaded = sam.load().model.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)


def test_the_model_is_shared_through_a_cache(tiny_pth, builder, cat):
    built: list[object] = []
    store: dict = {}

    def counting(path: str):  # type: ignore[no-untyped-def]
        built.append(path)
        return builder(path)

    def cached(key, make):  # type: ignore[no-untyped-def]
        return store[key] if key in store else store.setdefault(key, make())

    a, b = SamOriginal(tiny_pth, builder=counting, cache=cached), SamOriginal(tiny_pth, builder=counting, cache=cached)
    a.masks(cat, BOXES[:1]), b.masks(cat, BOXES[:1])
    assert len(built) == 1 and a.load().model is b.load().model
    assert (a.embed_calls, b.embed_calls) == (1, 1)


def test_corrupt_or_mismatched_checkpoint_is_model_unavailable(tmp_path, tiny_pth, builder, sa):
    bad = tmp_path / "sam_vit_b_bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailable, match="sam_vit_b_bad.pth"):
        SamOriginal(bad, builder=builder).load()

    import torch

    partial_sd = tmp_path / "sam_vit_b_partial.pth"
    sd = torch.load(tiny_pth)
    torch.save({k: v for k, v in sd.items() if not k.startswith("mask_decoder")}, partial_sd)
    with pytest.raises(ModelUnavailable, match="sam_vit_b_partial.pth") as err:
        SamOriginal(partial_sd, builder=builder).load()
    assert "\n" not in str(err.value)


def test_default_builder_is_the_registry_of_the_named_type(tiny_pth, sa, monkeypatch):
    seen: list[str] = []

    def fake_vit_b(checkpoint: str):  # type: ignore[no-untyped-def]
        seen.append(checkpoint)
        return _tiny_sam(sa)

    monkeypatch.setitem(sa.sam_model_registry, "vit_b", fake_vit_b)
    sam = SamOriginal(tiny_pth)
    assert sam.load().model.image_encoder.img_size == IMG
    assert seen == [str(tiny_pth)]


def test_sam_backend_picks_by_model_id(tiny_pth, sa, monkeypatch):
    from refedit.config import Settings
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.sam import Sam

    settings = Settings(device="cpu")
    assert type(sam_backend(ModelStore(settings))) is Sam  # facebook/sam-vit-huge: loads lazily, not here
    monkeypatch.setitem(sa.sam_model_registry, "vit_b", lambda checkpoint: _tiny_sam(sa))
    store = ModelStore(settings.with_models(sam=str(tiny_pth)))
    backend = sam_backend(store)
    assert isinstance(backend, SamOriginal) and backend.device == str(store.device)
    assert backend.load() is not None and sam_backend(store).load().model is backend.load().model


# -- what needs neither the package nor a model -------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("sam_vit_h_4b8939.pth", "vit_h"), ("sam_vit_l_0b3195.pth", "vit_l"), ("sam_vit_b_01ec64.pth", "vit_b"),
    ("SAM-ViT-L.pth", "vit_l"), ("my_sam.pth", None), ("vit_base.pth", None),
])  # fmt: skip
def test_model_type_from_file_name(name, kind):
    assert model_type_from_name(name) == kind


def test_missing_file_is_model_unavailable_naming_it(tmp_path):
    path = tmp_path / "sam_vit_h_4b8939.pth"
    with pytest.raises(ModelUnavailable, match="sam_vit_h_4b8939.pth"):
        SamOriginal(path)


def test_unknown_model_type_is_model_unavailable(tmp_path):
    path = tmp_path / "my_sam.pth"
    path.write_bytes(b"")
    with pytest.raises(ModelUnavailable, match="model type"):
        SamOriginal(path)
    with pytest.raises(ModelUnavailable, match="vit_x"):
        SamOriginal(path, model_type="vit_x")


def test_missing_package_is_model_unavailable_with_the_install_line(tmp_path, monkeypatch):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    with pytest.raises(ModelUnavailable) as err:
        SamOriginal(path)
    assert str(err.value) == "the .pth SAM backend needs the segment-anything package: pip install segment-anything"


def test_missing_torchvision_names_torchvision(tmp_path, monkeypatch):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    path.write_bytes(b"")
    if not HAVE_SEGMENT_ANYTHING:
        pytest.skip("segment-anything is not installed")
    for name in [n for n in sys.modules if n.startswith(("segment_anything", "torchvision"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)
    before = set(sys.modules)
    try:
        with pytest.raises(ModelUnavailable, match="needs torchvision, which segment-anything imports"):
            SamOriginal(path)
    finally:  # drop the half-imported package
        for name in set(sys.modules) - before:
            if name.startswith("segment_anything"):
                del sys.modules[name]


def test_choosing_the_backend_imports_no_torch():
    import subprocess

    probe = (
        "import sys\nfrom refedit.pipeline.segment import sam_original\n"
        "print('torch' in sys.modules, 'segment_anything' in sys.modules)"
    )
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.split() == ["False", "False"]
