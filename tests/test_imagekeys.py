"""Per-image cache keys: a hash of the pixels, computed once per image within one stage call."""

from __future__ import annotations

import pytest
from PIL import Image

from refedit.pipeline.imagekeys import image_key, same_images


def counting(monkeypatch: pytest.MonkeyPatch, size: tuple[int, int] | None = None) -> dict[str, int]:
    """Counts ``tobytes`` calls (of images of ``size`` only, when given)."""
    calls = {"n": 0}
    original = Image.Image.tobytes

    def tobytes(self: Image.Image, *args: object, **kwargs: object) -> bytes:
        calls["n"] += size is None or self.size == size
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "tobytes", tobytes)
    return calls


def test_the_key_follows_the_pixels_not_the_object() -> None:
    image = Image.new("RGB", (20, 10), (10, 20, 30))
    before = image_key(image)
    assert image_key(Image.new("RGB", (20, 10), (10, 20, 30))) == before  # same pixels, another object
    image.paste((255, 0, 0), (3, 3, 5, 5))  # same object, other pixels
    assert image_key(image) != before
    assert image_key(Image.new("RGB", (10, 20), (10, 20, 30))) != before  # same bytes, other shape
    assert image_key(Image.new("RGB", (20, 10), (10, 20, 30)).convert("RGBA")) != before


def test_inside_a_scope_each_image_is_hashed_once_and_a_new_scope_sees_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch)
    a, b = Image.new("RGB", (8, 8), 1), Image.new("RGB", (8, 8), 2)
    with same_images():
        keys = [image_key(a), image_key(b), image_key(a), image_key(b)]
        with same_images():  # a nested scope shares the outer one
            keys.append(image_key(a))
    assert calls["n"] == 2
    assert keys[0] == keys[2] == keys[4] and keys[1] == keys[3] and keys[0] != keys[1]
    a.paste(7, (0, 0, 2, 2))  # changed between stage calls
    with same_images():
        assert image_key(a) != keys[0]
    assert calls["n"] == 3
    image_key(a), image_key(a)  # outside a scope every call hashes
    assert calls["n"] == 5


def test_segment_hashes_the_photo_once(tiny_settings: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grounded-SAM's detector and SAM share one conversion of the photo per segment() call, and its hash (the
    CLIP scorer converts its crops, other images)."""
    from refedit.pipeline.artifacts import Hints
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.parse.rules import RulesParser
    from refedit.pipeline.stages import StageContext, registry

    context = StageContext(settings=tiny_settings, store=ModelStore(tiny_settings),  # type: ignore[arg-type]
                           options={"box_threshold": 0.0, "on_ambiguous": "best"})
    seg = registry.create("segmenter", "grounded-sam", context)
    image = Image.new("RGB", (96, 64), (120, 80, 40))
    plan = RulesParser().parse(instruction="remove the white cup on the right")
    seg.segment(image=image, plan=plan, hints=Hints())
    seg.sam._key = None  # noqa: SLF001 - a new photo for SAM's cache
    calls = counting(monkeypatch, image.size)
    seg.segment(image=image, plan=plan, hints=Hints())
    assert calls["n"] == 1


def test_segment_copies_the_photo_to_the_device_once(tiny_settings: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector and SAM read one device copy of the photo per segment() call (36 MB for 12 MP); a later call
    makes its own (the photo may have changed in between)."""
    import numpy as np
    import torch

    from refedit.pipeline.artifacts import Hints
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.parse.rules import RulesParser
    from refedit.pipeline.segment import pixels
    from refedit.pipeline.stages import StageContext, registry

    context = StageContext(settings=tiny_settings, store=ModelStore(tiny_settings),  # type: ignore[arg-type]
                           options={"box_threshold": 0.0, "on_ambiguous": "best"})
    seg = registry.create("segmenter", "grounded-sam", context)
    image = Image.new("RGB", (96, 64), (120, 80, 40))
    plan = RulesParser().parse(instruction="remove the cup")  # no attribute: the CLIP crops are not involved
    copies = []
    original = torch.from_numpy

    def from_numpy(array: np.ndarray) -> torch.Tensor:
        copies.append(array.shape)
        return original(array)

    monkeypatch.setattr(pixels.torch, "from_numpy", from_numpy)
    for n in (1, 2):
        seg.sam._key = None  # noqa: SLF001 - SAM embeds the photo again
        seg.segment(image=image, plan=plan, hints=Hints())
        assert copies.count((64, 96, 3)) == n
    with same_images():
        assert pixels.uint8_image(image, "cpu") is pixels.uint8_image(image, "cpu")
    assert pixels.uint8_image(image, "cpu") is not pixels.uint8_image(image, "cpu")


def test_a_run_converts_the_photo_once(tiny_settings: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipeline.run shares one scope between its stages: the photo becomes an array once (segment's hash and device
    copy, the paste-back and the metrics all read it), and the edited image is not converted back for the metrics
    (the paste-back hands over its array). A 12 MP photo costs ~50 ms of CPU a conversion on this machine."""
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import Pipeline

    from .conftest import FAST

    pipe = Pipeline.build(tiny_settings, options=FAST)  # type: ignore[arg-type]
    image = Image.new("RGB", (96, 64), (120, 80, 40))
    image.paste((30, 60, 200), (40, 20, 70, 50))
    pipe.run(EditRequest(image, "make the cup red", seed=1))  # loads and warms
    calls = {"photo": 0, "same size": 0}
    original = Image.Image.tobytes

    def tobytes(self: Image.Image, *args: object, **kwargs: object) -> bytes:
        calls["photo"] += self is image
        calls["same size"] += self.size == image.size
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "tobytes", tobytes)
    result = pipe.run(EditRequest(image, "make the cup red", seed=1))
    # the photo once; the edited crop (resized to the crop, here the whole photo) once; the result never
    assert calls == {"photo": 1, "same size": 2} and result.image.size == image.size
