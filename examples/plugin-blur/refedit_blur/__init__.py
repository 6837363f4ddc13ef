"""An example third-party refedit editor: Gaussian-blur the referred object (anonymise a face, a plate).

Install it (``pip install ./examples/plugin-blur``) and it appears in ``refedit stages`` and works as
``refedit edit photo.jpg "remove the man on the left" --editor blur``. It follows the same contract as the
built-in editors: a light factory registered under ``refedit.editors`` that returns an object with
``edit(*, image, plan, segmentation, seed) -> EditResult``; options arrive validated in a dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFilter


#: the largest blur radius taken, in pixels (Pillow's blur crashes the process on NaN or infinite radii)
MAX_RADIUS = 1000.0


@dataclass(frozen=True)
class BlurOptions:
    """``blur_radius`` in pixels of the Gaussian blur applied inside the mask."""

    blur_radius: float = 12.0

    def __post_init__(self) -> None:
        from refedit.errors import BadInput

        if not 0 < self.blur_radius <= MAX_RADIUS:  # NaN fails this too (NaN and inf crashed Pillow's blur)
            raise BadInput(f"blur_radius must be a number of pixels in (0, {MAX_RADIUS:g}], got {self.blur_radius}")


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


def blur_editor(context: Any) -> BlurEditor:
    """Gaussian-blur the referred object (example plugin; no model needed)."""
    from refedit.errors import BadInput

    radius = context.options.get("blur_radius")
    if radius is None:
        return BlurEditor(BlurOptions())
    try:
        value = float(radius)
    except (TypeError, ValueError):
        raise BadInput(f"blur_radius must be a number of pixels, got {radius!r}") from None
    return BlurEditor(BlurOptions(value))
