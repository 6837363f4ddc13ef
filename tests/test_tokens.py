"""The models' text inputs are made once per text (a batch: many photos, one instruction) and kept per tokenizer."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image

from refedit.pipeline.segment import tokens


class Counting:
    """A tokenizer stand-in that counts its calls (the memo's bookkeeping, without a model)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *, return_tensors: str, text: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        self.calls += 1
        return {"input_ids": torch.tensor([[len(str(text)), len(kwargs)]])}


def test_one_call_per_text_tokenizer_and_device() -> None:
    tokens.forget()
    a, b = Counting(), Counting()
    first = tokens.text_inputs(a, "cpu", text=["a cat", "a dog"], padding=True)
    assert tokens.text_inputs(a, "cpu", padding=True, text=["a cat", "a dog"]) is first  # same arguments, any order
    assert a.calls == 1
    tokens.text_inputs(a, "cpu", text=["a cat", "a dog"])  # other arguments
    tokens.text_inputs(a, "cpu", text="a cat")  # other text
    tokens.text_inputs(a, "meta", text="a cat")  # other device
    assert a.calls == 4
    assert tokens.text_inputs(a, "meta", text="a cat")["input_ids"].device.type == "meta"
    tokens.text_inputs(b, "cpu", text=["a cat", "a dog"], padding=True)  # another tokenizer
    assert (a.calls, b.calls) == (4, 1)


def test_only_the_last_texts_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens.forget()
    monkeypatch.setattr(tokens, "KEPT", 3)
    tok = Counting()
    for text in ("a", "b", "c", "a", "d"):  # "a" used again: "b" is the oldest when "d" comes
        tokens.text_inputs(tok, "cpu", text=text)
    assert tok.calls == 4 and len(tokens._made) == 3  # noqa: SLF001
    tokens.text_inputs(tok, "cpu", text="a")
    assert tok.calls == 4
    tokens.text_inputs(tok, "cpu", text="b")
    assert tok.calls == 5


def test_segment_tokenizes_each_prompt_once_over_photos(tiny_settings: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grounded-SAM on two photos with one instruction: the detector's caption and CLIP's attribute prompts are
    tokenized on the first photo only, and the second photo's result is what a fresh process gives."""
    from refedit.pipeline.artifacts import Hints
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.parse.rules import RulesParser
    from refedit.pipeline.stages import StageContext, registry

    def segmenter() -> Any:
        context = StageContext(settings=tiny_settings, store=ModelStore(tiny_settings),  # type: ignore[arg-type]
                               options={"box_threshold": 0.0, "on_ambiguous": "best"})
        return registry.create("segmenter", "grounded-sam", context)

    tokens.forget()
    seg = segmenter()
    plan = RulesParser().parse(instruction="remove the white cup on the right")
    photos = [Image.new("RGB", (96, 64), (120, 80, 40)), Image.new("RGB", (96, 64), (30, 90, 200))]
    seg.segment(image=photos[0], plan=plan, hints=Hints())
    made = []
    original = tokens.remember

    def remember(owner: object, device: Any, key: Any, make: Any) -> dict[str, torch.Tensor]:
        return original(owner, device, key, lambda: made.append(key) or make())

    monkeypatch.setattr(tokens, "remember", remember)
    second = seg.segment(image=photos[1], plan=plan, hints=Hints())
    assert made == []
    monkeypatch.undo()
    tokens.forget()
    fresh = segmenter().segment(image=photos[1], plan=plan, hints=Hints())
    assert (second.mask == fresh.mask).all()
    assert [c.score for c in second.candidates] == [c.score for c in fresh.candidates]
