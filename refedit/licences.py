"""The licence of each model role's default checkpoint, as its model card states it (checked 2026-11).

Users ask "may I use this commercially?" before anything else. The answer belongs to the checkpoint, not to
refedit (Apache-2.0): ``refedit stages`` shows it beside every default, and says "see its model card" for any
other checkpoint a user configures, since refedit cannot know that one's terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Licence:
    """A checkpoint's licence: its short ``name``, whether it allows ``commercial`` use, and where it is written."""

    name: str
    commercial: bool
    url: str


_OPENRAIL = Licence("CreativeML OpenRAIL-M", True, "https://huggingface.co/spaces/CompVis/stable-diffusion-license")
_MIT_CLIP = Licence("MIT", True, "https://github.com/openai/CLIP/blob/main/LICENSE")

#: role -> the licence of the role's default checkpoint (:data:`refedit.config.MODEL_ROLES`)
DEFAULT_LICENCES: Mapping[str, Licence] = MappingProxyType({
    "sd": _OPENRAIL,
    "inpaint": _OPENRAIL,
    "instruct": Licence("MIT", True, "https://huggingface.co/timbrooks/instruct-pix2pix"),
    "grounding": Licence("Apache-2.0", True, "https://huggingface.co/IDEA-Research/grounding-dino-base"),
    "sam": Licence("Apache-2.0", True, "https://huggingface.co/facebook/sam-vit-huge"),
    "clip": _MIT_CLIP,
    "clipseg": Licence("Apache-2.0", True, "https://huggingface.co/CIDAS/clipseg-rd64-refined"),
    "captioner": Licence("MIT", True, "https://huggingface.co/Salesforce/blip2-opt-2.7b"),
    "llm": Licence("the endpoint's terms of service", True, "https://openai.com/policies/services-agreement"),
    "clipscore": _MIT_CLIP,
    "dino": Licence("Apache-2.0", True, "https://huggingface.co/facebook/dino-vits16"),
    "lpips": Licence("BSD-2-Clause (LPIPS layers) + BSD-3-Clause (torchvision AlexNet)", True,
                     "https://github.com/richzhang/PerceptualSimilarity/blob/master/LICENSE"),  # fmt: skip
    "sam3": Licence("SAM License, with its acceptable-use terms", True, "https://huggingface.co/facebook/sam3"),
    "qwen-edit": Licence("Apache-2.0", True, "https://huggingface.co/Qwen/Qwen-Image-Edit-2509"),
    "kontext": Licence("FLUX.1 [dev] Non-Commercial License", False,
                       "https://huggingface.co/black-forest-labs/FLUX.1-Kontext-dev/blob/main/LICENSE.md"),  # fmt: skip
})


def licence_of(role: str, model_id: str, default_id: str) -> str:
    """What to tell a user about ``model_id``'s licence in ``role``: the default checkpoint's licence, else a
    pointer to the configured checkpoint's own model card."""
    known = DEFAULT_LICENCES.get(role)
    if known is None or model_id != default_id:
        return "see its model card"
    return known.name if known.commercial else f"{known.name} (no commercial use)"
