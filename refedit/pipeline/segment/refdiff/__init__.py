"""Ref-Diff (Ni et al. 2023, "Ref-Diff: Zero-shot Referring Image Segmentation with Generative Models"):
zero-shot referring segmentation from Stable Diffusion's cross-attention (generative) fused with CLIP
(discriminative) over mask proposals. One module per step of the paper:

- :mod:`.geometry`        the image padded into SD's square input, and back
- :mod:`.root`            the ROOT token of the expression and its token positions (Sec. 3.2)
- :mod:`.attention`       cross-attention capture through diffusers' own processor (Eq. 4), Eq. 5's normalisation
- :mod:`.generative`      the Generative Process: noise (Eq. 3), UNet passes, the ROOT map c (Eq. 5)
- :mod:`.proposals`       weight-free proposals (Eq. 8), SAM's point grid, Grounded-SAM's detections (Sec. 3.4)
- :mod:`.discriminative`  the Discriminative Process: positional bias (Eq. 6), CLIP features (Eq. 7, 10's r)
- :mod:`.scores`          s^G (Eq. 9), s^D (Eq. 10), fusion (Eq. 1, or the official code's) and Eq. 2
- :mod:`.segmenter`       :class:`RefDiffSegmenter`, the stage that runs them in order
- :mod:`.heatmap`         :func:`overlay_heatmap` for ``refedit segment --attention``

Importing the package loads no torch (the steps import it when they run).
"""

from refedit.pipeline.segment.options import RefDiffOptions
from refedit.pipeline.segment.refdiff.discriminative import DIRECTIONS, direction_of, positional_bias
from refedit.pipeline.segment.refdiff.geometry import Square
from refedit.pipeline.segment.refdiff.heatmap import overlay_heatmap
from refedit.pipeline.segment.refdiff.proposals import (
    PAPER_THRESHOLDS,
    dedupe,
    iou,
    pairwise_iou,
    stability_scores,
    weight_free_proposals,
)
from refedit.pipeline.segment.refdiff.root import root_word, token_indices
from refedit.pipeline.segment.refdiff.scores import (
    OFFICIAL_WEIGHTS,
    discriminative_scores,
    fuse,
    fuse_official,
    generative_scores,
    select,
    text_feature,
    visual_features,
)
from refedit.pipeline.segment.refdiff.segmenter import RefDiffSegmenter

__all__ = [
    "DIRECTIONS", "OFFICIAL_WEIGHTS", "PAPER_THRESHOLDS", "RefDiffOptions", "RefDiffSegmenter", "Square", "dedupe",
    "direction_of", "discriminative_scores", "fuse", "fuse_official", "generative_scores", "iou", "overlay_heatmap",
    "pairwise_iou", "positional_bias", "root_word", "select", "stability_scores", "text_feature", "token_indices",
    "visual_features", "weight_free_proposals",
]  # fmt: skip
