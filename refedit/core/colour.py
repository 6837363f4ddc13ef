"""An image's embedded ICC colour profile, carried from a photo to what refedit makes of it, so that viewers show
the pixels in the photo's colours (PIL only: no pixels are touched)."""

from __future__ import annotations

from PIL import Image


def rgb_profile(profile: object) -> bytes | None:
    """``profile`` (ICC bytes) when it describes RGB data (its header's colour space is 'RGB '), else None."""
    return profile if isinstance(profile, bytes) and profile[16:20] == b"RGB " else None


def in_colours_of(figure: Image.Image, image: Image.Image) -> Image.Image:
    """``figure`` (an edit of ``image``, or a figure of it) tagged with ``image``'s RGB ICC profile, if it has one;
    ``figure`` itself is returned."""
    if (profile := rgb_profile(image.info.get("icc_profile"))) is not None:
        figure.info["icc_profile"] = profile
    return figure
