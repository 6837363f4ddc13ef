"""An example third-party refedit editor: Gaussian-blur the referred object (anonymise a face, a plate).

Install it (``pip install ./examples/plugin-blur``) and it appears in ``refedit stages`` and works as
``refedit edit photo.jpg "remove the man on the left" --editor blur``. It follows the same contract as the
built-in editors: a light factory registered under ``refedit.editors`` that returns an object with
``edit(*, image, plan, segmentation, seed) -> EditResult``, and a ``spec`` on the factory declaring its options,
so that ``-O blur_radius=abc`` or a mistyped ``-O blur_raduis=20`` is refused before any model loads, as the
built-ins' options are (a factory without a spec receives every ``-O`` name unchecked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFilter

from refedit.pipeline.stages import StageContext, StageOptions, StageSpec, option

#: the largest blur radius taken, in pixels (Pillow's blur crashes the process on NaN or infinite radii)
MAX_RADIUS = 1000.0


@dataclass(frozen=True)
class BlurOptions(StageOptions):
    """``blur_radius`` in pixels of the Gaussian blur applied inside the mask (checked against its type and range
    when built: a number in (0, 1000]; NaN and infinities are refused)."""

    blur_radius: float = option(12.0, 0, MAX_RADIUS, lo_open=True)


class BlurEditor:
    """Blur the masked region; everything outside the mask is left bit-identical."""

    name = "blur"

    def __init__(self, options: BlurOptions) -> None:
        self.options = options

    def edit(self, *, image: Image.Image, plan: Any, segmentation: Any, seed: int) -> Any:
        from refedit.pipeline.artifacts import EditResult

        blurred = image.filter(ImageFilter.GaussianBlur(self.options.blur_radius))
        mask = Image.fromarray(segmentation.mask.astype("uint8") * 255, mode="L")
        out = Image.composite(blurred, image, mask)
        return EditResult(image=out, plan=plan, segmentation=segmentation,
                          parameters={"editor": self.name, "blur_radius": self.options.blur_radius, "seed": seed})


def blur_editor(context: StageContext) -> BlurEditor:
    """Gaussian-blur the referred object (example plugin; no model needed)."""
    return BlurEditor(BlurOptions.from_mapping(context.options))


#: the options this editor understands (and their checks), read by refedit before anything runs
blur_editor.spec = StageSpec.of(BlurOptions)  # type: ignore[attr-defined]
