"""DiffEdit's noise-difference mask: the reduction as a pure function, the segmenter on the tiny SD."""

import numpy as np
import pytest
import torch
from PIL import Image

from refedit.pipeline.artifacts import Hints
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.diffedit_mask import noise_difference_mask

from .conftest import EXAMPLES


def test_reduction_marks_where_predictions_differ():
    diffs = torch.zeros(3, 4, 8, 8)
    diffs[:, :, 2:4, 5:7] = 1.0  # the edit changes the noise prediction here only
    mask = noise_difference_mask(diffs, threshold_ratio=3.0)
    assert mask[2:4, 5:7].all() and mask.sum() == 4
    assert noise_difference_mask(torch.zeros(2, 4, 8, 8), 3.0).sum() == 0


def test_segmenter_on_tiny_sd(tiny_settings):
    seg = build_stage("segmenter", "diffedit-mask", tiny_settings, num_maps=3, mask_resolution=64)
    img = Image.open(EXAMPLES / "cat.jpg").convert("RGB")
    plan = RulesParser().parse(instruction="replace the cat with a tiger")
    out = seg.segment(image=img, plan=plan, hints=Hints())
    assert out.mask.shape == (img.height, img.width) and out.mask.dtype == np.bool_ and out.mask.any()
    assert seg.unet_calls == 3 and "noise difference" in out.reason
    again = build_stage("segmenter", "diffedit-mask", tiny_settings, num_maps=3, mask_resolution=64)
    assert np.array_equal(again.segment(image=img, plan=plan, hints=Hints()).mask, out.mask)


@pytest.mark.parametrize("bad", [{"num_maps": 0}, {"mask_strength": 0.0}, {"threshold_ratio": -1}])
def test_options_checked(bad, tiny_settings):
    from refedit.errors import BadInput

    with pytest.raises(BadInput):
        build_stage("segmenter", "diffedit-mask", tiny_settings, **bad)
