"""GroundingDINO post-processes only the boxes the caller can use (its box threshold), plus the best one."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from PIL import Image

from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.grounding import GroundingDino, decode_labels, post_process

from .conftest import EXAMPLES


def test_floor_keeps_the_boxes_above_it_and_the_best(tiny_settings):
    image = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((128, 96))
    store = ModelStore(tiny_settings)
    every = GroundingDino(store).detect(image, "cat", text_threshold=0.25)
    scores = sorted((c.score for c in every), reverse=True)
    assert len(every) > 3
    floor = scores[len(scores) // 2]
    some = GroundingDino(store, floor=floor).detect(image, "cat", text_threshold=0.25)
    assert sorted(c.box for c in some) == sorted(c.box for c in every if c.score >= floor)
    above_all = GroundingDino(store, floor=1.5).detect(image, "cat", text_threshold=0.25)
    assert [c.score for c in above_all] == [scores[0]]  # nothing passes: the best is still reported


def library(processor, logits, boxes, ids, floor, text_threshold, size):
    """transformers' own post-processing of one image at refedit's floor (scores >= min(floor, best))."""
    import numpy as np

    best = float(logits.float().sigmoid().amax())
    threshold = float(np.nextafter(np.float32(min(floor, best)), np.float32(-np.inf)))
    out = SimpleNamespace(logits=logits[None].float(), pred_boxes=boxes[None].float())
    r = processor.post_process_grounded_object_detection(out, ids[None], threshold=threshold,
                                                         text_threshold=text_threshold, target_sizes=[size[::-1]])[0]  # fmt: skip
    labels = r["text_labels"] if "text_labels" in r else r["labels"]
    return r["boxes"].tolist(), r["scores"].tolist(), list(labels)


def test_post_process_is_the_librarys_with_one_transfer(tiny_settings):
    """The same boxes, scores and labels as GroundingDinoProcessor's post-processing (which syncs per box and
    per token: for 900 queries at a low threshold, as long as the model on a GPU), on the tiny model's output and
    on made-up logits where several tokens and several labels occur; fp16 logits as float32."""
    store = ModelStore(tiny_settings)
    processor = store.get("grounding", "processor")
    image = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((128, 96))
    det = GroundingDino(store)
    inputs = det.inputs(image, "black cat.")
    with torch.inference_mode():
        out = store.get("grounding", "detector")(**inputs)
    ids = inputs["input_ids"][0]
    n = ids.shape[-1]
    g = torch.Generator().manual_seed(0)
    made_up = torch.randn(900, 256, generator=g) * 2
    made_up[:, n:] = float("-inf")  # as the model masks the positions after the text
    cases = [(out.logits[0], out.pred_boxes[0]), (made_up, torch.rand(900, 4, generator=g) * 0.6 + 0.2),
             (made_up.half(), torch.rand(900, 4, generator=g).half())]  # fmt: skip
    seen_labels = set()
    for logits, boxes in cases:
        for floor, text_threshold in ((0.0, 0.25), (0.3, 0.25), (0.9, 0.5), (2.0, 0.25), (0.5, 0.0)):
            kept = post_process(logits, boxes, ids, floor=floor, text_threshold=text_threshold, size=image.size)
            mine = [c[0] for c in kept], [c[1] for c in kept], decode_labels(processor.tokenizer, [c[2] for c in kept])
            want_boxes, want_scores, want_labels = library(processor, logits, boxes, ids, floor, text_threshold, image.size)
            w, h = image.size
            clipped = [[min(max(v, 0.0), lim) for v, lim in zip(b, (w, h, w, h))] for b in want_boxes]
            keep = [i for i, b in enumerate(clipped) if b[2] > b[0] and b[3] > b[1]]
            assert [list(b) for b in mine[0]] == [clipped[i] for i in keep]
            assert mine[1] == [want_scores[i] for i in keep]
            assert mine[2] == [want_labels[i] for i in keep]
            seen_labels.update(mine[2])
    assert len(seen_labels) > 3  # the made-up logits exercise several distinct labels


def test_labels_are_words_not_tokenizer_leftovers(tiny_settings):
    """The tokens over the text threshold also catch the phrase's "." and [SEP]: labels read "cat. [SEP]" or ".",
    in `segment`'s listing and the JSON. A label is its words, and the prompt when none is left."""
    from refedit.pipeline.segment.grounding import clean_label

    assert clean_label("cat. [SEP]", "cat") == "cat" and clean_label(".", "the cat") == "the cat"
    assert clean_label("[CLS] black cat . [SEP] [PAD]", "cat") == "black cat" and clean_label("t-shirt", "x") == "t-shirt"
    image = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((128, 96))
    found = GroundingDino(ModelStore(tiny_settings)).detect(image, "black cat", text_threshold=0.0)
    assert len(found) > 3 and {c.label for c in found} <= {"black cat", "black", "cat"}, {c.label for c in found}
