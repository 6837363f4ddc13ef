"""Figures a user looks at to choose: the numbered candidates of an ambiguous instruction, and a labelled contact
sheet of several results. Pure PIL/numpy on RGB images; boxes are xyxy pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from refedit.core.colour import in_colours_of

#: distinct, colour-blind-friendly outline colours (Okabe-Ito), cycled over candidates
PALETTE = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` pixels (scalable where FreeType is available)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: tuple[int, int, int],
           font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:  # fmt: skip
    """``text`` in black on a ``colour`` tag whose top-left corner is ``xy``."""
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    pad = max(2, (y1 - y0) // 4)
    draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=colour)
    draw.text(xy, text, fill=(0, 0, 0), font=font)


def numbered_candidates(image: Image.Image, boxes: Sequence[Sequence[float]],
                        masks: Sequence[np.ndarray | None] | None = None) -> Image.Image:  # fmt: skip
    """``image`` with each box outlined in its own colour and numbered 1.. in the given order (masks, when given,
    tinted in the same colour): the picture behind ``--pick N``."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    for k, m in enumerate(masks or ()):
        if m is not None and m.shape == arr.shape[:2]:
            arr[m] = 0.6 * arr[m] + 0.4 * np.array(PALETTE[k % len(PALETTE)], dtype=np.float32)
    out = Image.fromarray(arr.round().astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(out)
    side = min(out.size)
    width = max(2, side // 150)
    font = _font(max(12, side // 18))
    for k, box in enumerate(boxes):
        colour = PALETTE[k % len(PALETTE)]
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        _label(draw, (x0 + width + 2, y0 + width + 2), str(k + 1), colour, font)
    return in_colours_of(out, image)


def contact_sheet(tiles: Sequence[tuple[Image.Image, str]], *, tile_height: int = 256, columns: int | None = None,
                  gap: int = 8) -> Image.Image:  # fmt: skip
    """The ``tiles`` (image, label) side by side in rows of ``columns`` (default: all in one row up to 6), each
    scaled to ``tile_height`` with its label in a strip under it, on a white background; in the colours (ICC
    profile) of the first tile."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one image")
    columns = columns or min(len(tiles), 6)
    font = _font(max(12, tile_height // 14))
    strip = int(max(12, tile_height // 14) * 1.6)
    scaled = [im.convert("RGB").resize((max(1, round(im.width * tile_height / im.height)), tile_height),
                                       Image.Resampling.LANCZOS) for im, _ in tiles]  # fmt: skip
    width = max(scaled, key=lambda im: im.width).width
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (gap + columns * (width + gap), gap + rows * (tile_height + strip + gap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (im, (_, label)) in enumerate(zip(scaled, tiles, strict=True)):
        x = gap + (k % columns) * (width + gap) + (width - im.width) // 2
        y = gap + (k // columns) * (tile_height + strip + gap)
        sheet.paste(im, (x, y))
        draw.text((x, y + tile_height + strip // 5), label, fill=(0, 0, 0), font=font)
    return in_colours_of(sheet, tiles[0][0])


def mask_overlay(image: Image.Image, mask: np.ndarray, colour: tuple[int, int, int] = (255, 0, 0)) -> Image.Image:
    """The image with the mask tinted (half ``colour``): what was edited, for a contact sheet."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    arr[mask] = 0.5 * arr[mask] + 0.5 * np.array(colour, dtype=np.float32)
    return in_colours_of(Image.fromarray(arr.round().astype(np.uint8), mode="RGB"), image)
