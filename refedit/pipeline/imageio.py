"""Image and mask I/O: load safely (EXIF orientation, every common mode, size limits), save atomically.

Alpha: an image with transparency (RGBA, LA, PA, P with a transparent colour) is composited on white for
the models; :class:`LoadedImage` keeps the alpha channel and :func:`save_image` puts it back when the
output format can hold it (PNG, WebP, TIFF), so transparent regions stay transparent.

Colour: an input's embedded ICC profile (an RGB one: sRGB, Display P3, Adobe RGB, ...) stays in ``rgb.info`` and
every image written from that input carries it (PNG, JPEG, WebP, TIFF, AVIF), so viewers show the output's pixels,
the unchanged ones included, in the input's colours; a CMYK or grey profile, which does not describe the RGB
pixels refedit works on, is dropped.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from PIL import Image, ImageOps, UnidentifiedImageError

from refedit.config import DEFAULT_MAX_PIXELS  # noqa: F401  (re-exported: the decompression-bomb guard)
from refedit.config import max_pixels as _max_pixels
from refedit.core.colour import rgb_profile
from refedit.core.files import atomic_write
from refedit.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# numpy is imported where pixels are handled: the output checks run before any work and must stay light
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF", "TGA", "QOI", "JPEG2000", "AVIF"}
#: the output formats PIL writes an ICC profile into
ICC_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF", "AVIF"}
#: outputs whose encoding changes pixels and that a user may take for exact (JPEG is known lossy; PIL writes AVIF
#: lossy even at quality 100: up to 6 levels off in 4:2:0, 2 in 4:4:4)
LOSSY_FORMATS = {"AVIF"}


#: the EXIF tag of a photo's orientation (1: as stored)
ORIENTATION = 0x0112


def shown_size(img: Image.Image) -> tuple[int, int]:
    """(W, H) of ``img`` as it is shown and loaded (EXIF orientation applied), from its header: no pixel decoded."""
    w, h = img.size
    return (h, w) if img.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8) else (w, h)


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image as refedit uses it: ``rgb`` (mode RGB, EXIF orientation applied), the original ``alpha``
    channel (mode L) if it had one, and where it came from."""

    rgb: Image.Image
    alpha: Image.Image | None
    path: Path | None
    format: str | None
    mode: str
    frames: int = 1
    #: the colour of a transparent image's pixels before they were composited on white (``rgb``), or None
    colour: Image.Image | None = None
    #: the file a picture a program holds was opened from (PIL's ``filename``): never written over, as ``path``
    opened_from: Path | None = None
    #: 16 bits a channel in the file (an RGB or RGBA PNG or TIFF), which PIL reads as 8
    deep: bool = False

    @property
    def file(self) -> Path | None:
        """The file this image came from, which outputs must not overwrite."""
        return self.path or self.opened_from

    def notes(self, label: object, output_format: str | None = None, segmenting: bool = False) -> list[str]:
        """What the edit (or with ``segmenting``, the segmentation) leaves out of this input, one line each (the CLI
        prints them): the frames after the first of an animation, the precision of a 16-bit or float image, and its
        transparency when written in ``output_format`` (e.g. "JPEG"), which holds none."""
        out = []
        # an alpha channel with nothing see-through is no transparency; a palette image's transparent index stays one
        # in a GIF (:func:`_with_clear_index`)
        see_through = self.alpha is not None and self.alpha.getextrema()[0] < 255
        if see_through and output_format is not None and output_format not in ALPHA_FORMATS:
            if output_format != "GIF":
                out.append(f"{label} is transparent but {output_format} holds no transparency: the output is the image "
                           "on white (write .png, .webp or .tif to keep it)")
            elif self.mode != "P":
                out.append(f"{label} is transparent but a GIF of it holds no alpha channel: the output is the image on "
                           "white (write .png, .webp or .tif to keep it)")
        if self.frames > 1:
            out.append(f"{label} has {self.frames} frames: the first is "
                       + ("segmented, the mask is the first frame's" if segmenting else "edited, the output is a still image"))
        output = "" if segmenting else ", and so does the output"
        if self.mode.startswith("I") or self.mode == "F":
            out.append(f"{label} is a {self.mode} image: refedit works in 8 bits a channel{output}")
        if self.deep:
            out.append(f"{label} has 16 bits a channel: refedit works in 8{output}")
        if output_format in LOSSY_FORMATS:
            out.append(f"{output_format} is written lossy: pixels outside the edit differ from the input's by the "
                       "encoding (write .png, .webp or .tif to keep them exact)")
        return out

    @property
    def icc_profile(self) -> bytes | None:
        """The input's embedded ICC colour profile (RGB), which the outputs carry; None when it had none."""
        return rgb_profile(self.rgb.info.get("icc_profile"))


def max_pixels() -> int:
    """Refuse images with more pixels than this (``REFEDIT_MAX_PIXELS``, a positive integer, overrides)."""
    return _max_pixels()


def _check_readable_file(path: Path, what: str) -> None:
    if not path.exists():
        raise BadInput(f"{what} {path} does not exist")
    if path.is_dir():
        raise BadInput(f"{what} {path} is a directory, not an image file")
    if path.stat().st_size == 0:
        raise BadInput(f"{what} {path} is empty (0 bytes)")


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer and float single-channel images to 8-bit L: 16-bit values by 1/257, float values by
    their range (0-1: x 255; 0-255: as they are, so that an 8-bit image stored as float keeps its values and the
    pixels outside the edit stay the input's; 0-65535: / 257); values beyond by the image's maximum."""
    import numpy as np

    arr = np.asarray(img, dtype=np.float64)
    top = arr.max(initial=0)
    if img.mode.startswith("I;16") or (img.mode == "I" and top > 255):
        arr = arr / 257.0 if top <= 65535 else arr / top * 255.0
    elif img.mode == "F":
        if top <= 1.0:
            arr = arr * 255.0
        elif top > 65535:
            arr = arr / top * 255.0
        elif top > 255.0:
            arr = arr / 257.0
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def _split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None, Image.Image | None]:
    """Return (RGB on white, alpha or None, the colour before compositing or None) for any PIL mode; the RGB image
    keeps ``img``'s ICC profile when it is an RGB one, and no other (:func:`_keep_profile`)."""
    profile = img.info.get("icc_profile")
    if img.mode in ("P", "RGB", "L") and "transparency" in img.info:  # a key colour (index, grey, RGB): alpha
        img = img.convert("RGBA")
    elif img.mode == "P":
        img = img.convert("RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        alpha = rgba.getchannel("A")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        colour = rgba.convert("RGB")
        white.paste(colour, mask=alpha)
        return _keep_profile(white, profile), alpha, colour
    if img.mode in ("RGB;16", "RGBA;16"):  # pragma: no cover - PIL converts these on load
        img = img.convert("RGB")
    return _keep_profile(img.convert("RGB"), profile), None, None


def _keep_profile(rgb: Image.Image, profile: object) -> Image.Image:
    """``rgb`` (a new image) carrying ``profile`` in its info when that is an RGB profile, and no other one."""
    rgb.info.pop("icc_profile", None)
    if (kept := rgb_profile(profile)) is not None:
        rgb.info["icc_profile"] = kept
    return rgb


def load_image(path: str | os.PathLike[str], *, what: str = "image") -> LoadedImage:
    """Load an image file as RGB with EXIF orientation applied.

    Raises :class:`BadInput` for a missing path, a directory, an empty, truncated or non-image file, or an
    image over :func:`max_pixels` pixels (decompression bomb).
    """
    path = Path(path)
    _check_readable_file(path, what)
    return _decode(path, path, what)


def image_in_memory(image: object, *, what: str = "image") -> LoadedImage:
    """:func:`load_image` for a picture a program already holds: a PIL image (any mode: 16-bit scaled, alpha
    composited on white, EXIF orientation applied, as from a file; the file it was opened from is never written
    over) or an HxW / HxWx3 / HxWx4 uint8 array. Anything else, or more pixels than
    :func:`max_pixels`, is :class:`BadInput`."""
    import numpy as np

    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise BadInput(f"{what} array must be HxW, HxWx3 or HxWx4 uint8, got {image.dtype} {image.shape}")
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise BadInput(f"{what} must be a file path, a PIL image or a uint8 array, not {type(image).__name__}")
    if image.width == 0 or image.height == 0:  # (a division by zero further on)
        raise BadInput(f"{what} is {image.width}x{image.height}: it has no pixels")
    opened_from = Path(image.filename) if isinstance(getattr(image, "filename", None), str) and image.filename else None
    if image.getexif().get(ORIENTATION, 1) != 1:  # as a file is read: "left" is the left of the picture one sees
        image = ImageOps.exif_transpose(image)
    if image.width * image.height > (limit := max_pixels()):
        raise BadInput(f"{what} has {image.width}x{image.height} pixels, over the limit of {limit} "
                       "(set REFEDIT_MAX_PIXELS to raise it)")  # fmt: skip
    rgb, alpha, colour = _split_alpha(image)
    return LoadedImage(rgb=rgb, alpha=alpha, path=None, format=None, mode=image.mode, colour=colour,
                       opened_from=opened_from)  # fmt: skip


def load_image_bytes(data: bytes, *, what: str = "image", label: str = "<stdin>") -> LoadedImage:
    """:func:`load_image` for encoded bytes (e.g. an image piped on stdin)."""
    if not data:
        raise BadInput(f"{what} {label} is empty (0 bytes)")
    loaded = _decode(io.BytesIO(data), label, what)
    return LoadedImage(rgb=loaded.rgb, alpha=loaded.alpha, path=None, format=loaded.format, mode=loaded.mode,
                       frames=loaded.frames, colour=loaded.colour)


def _decode(source: Path | io.BytesIO, label: object, what: str) -> LoadedImage:
    path = label
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # the check below says the size and the setting; nothing is decoded before it
            try:
                with Image.open(source) as img:
                    fmt = img.format
                    if img.width * img.height > limit:
                        raise BadInput(
                            f"{what} {path} has {img.width}x{img.height} pixels, over the limit of {limit} "
                            "(set REFEDIT_MAX_PIXELS to raise it)"
                        )
                    deep = img.mode in ("RGB", "RGBA") and any(";16" in _raw_mode(t) for t in img.tile)
                    img.load()
                    mode, frames = img.mode, int(getattr(img, "n_frames", 1))
                    img = ImageOps.exif_transpose(img)
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadInput(f"{what} {path} is too large to decode safely (limit {limit} pixels)") from None
    except UnidentifiedImageError:
        raise BadInput(f"{what} {path} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadInput(f"{what} {path} is corrupt or truncated ({err})") from None
    rgb, alpha, colour = _split_alpha(img)
    return LoadedImage(rgb=rgb, alpha=alpha, path=source if isinstance(source, Path) else None, format=fmt, mode=mode,
                       frames=frames, colour=colour, deep=deep)


def _raw_mode(tile: Any) -> str:
    """The raw mode a decoder tile reads ("RGB;16B" for a 16-bit RGB PNG, which PIL opens as 8-bit "RGB")."""
    args = tile[3] if len(tile) > 3 else None
    return args if isinstance(args, str) else str(args[0]) if isinstance(args, tuple) and args else ""


#: the formats an edited photo is written in: those that hold an RGB image at any size (not ICO, at most 256
#: pixels; not PDF or EPS, documents; not XBM or MSP, one bit a pixel)
OUTPUT_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF", "PPM", "TGA", "JPEG2000", "AVIF", "QOI"})


def image_format_for(path: str | os.PathLike[str]) -> str:
    """The PIL format implied by ``path``'s extension; :class:`BadInput` if there is none, or if it is no format
    a photo is written in (:data:`OUTPUT_FORMATS`)."""
    ext = Path(path).suffix.lower()
    Image.preinit()  # the common formats (PNG, JPEG, ...) without importing every plugin
    fmt = Image.EXTENSION.get(ext) or Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise BadInput(f"cannot tell an image format from the extension of {path!s} (use .png, .jpg, .webp, ...)")
    if fmt not in OUTPUT_FORMATS:
        raise BadInput(f"refedit does not write {fmt} ({path!s}): it cannot hold every photo as it is; use .png, "
                       ".jpg, .webp, .tif, .bmp, ...")  # fmt: skip
    return fmt


def check_writable(folder: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Raise :class:`BadInput` unless a file can be created in ``folder``. Tried for real (a probe file made
    and removed at once): permission bits cannot tell root, read-only mounts or ``/proc`` apart."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{what} {folder} {'is not a folder' if folder.exists() else 'does not exist'}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".refedit-probe-", suffix=".part", dir=folder)
    except OSError as err:
        raise BadInput(f"cannot write to {what} {folder} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)
    return folder


def check_output_dir(folder: str | os.PathLike[str], what: str = "output folder") -> Path:
    """:func:`check_writable` for a folder refedit will create if needed: it, or the nearest folder above
    it that exists, must accept new files; nothing is created here."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != folder and not existing.is_dir():
        raise BadInput(f"cannot create {what} {folder}: {existing} is not a folder")
    check_writable(existing, what)
    return folder


def check_output_path(out: str | os.PathLike[str], *inputs: str | os.PathLike[str] | None) -> Path:
    """Validate an output path before any work is done: its folder exists and accepts new files, it has an
    image extension, and it is not one of the ``inputs`` (refedit never overwrites an input)."""
    out = Path(out)
    if out.is_dir():
        raise BadInput(f"output {out} is a directory; give a file name such as {out / 'edited.png'}")
    if not out.parent.is_dir():
        raise BadInput(f"output folder {out.parent} {'is not a folder' if out.parent.exists() else 'does not exist'}")
    image_format_for(out)
    check_writable(out.parent)
    check_not_inputs([out], *inputs)
    return out


def check_not_inputs(outputs: Iterable[str | os.PathLike[str] | None], *inputs: str | os.PathLike[str] | None,
                     what: str = "output") -> None:  # fmt: skip
    """:class:`BadInput` when one of ``outputs`` is one of ``inputs`` (the same file by any path or link)."""
    for out in outputs:
        for src in inputs:
            if out is not None and src is not None and same_file(Path(out), Path(src)):
                raise BadInput(f"{what} {out} is the input file {src}; refedit never overwrites its input")


def same_file(a: Path, b: Path) -> bool:
    """The same file by path, symlink or hard link (either may not exist yet: then by path)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return a.resolve() == b.resolve()


def atomic_save(img: Image.Image, path: str | os.PathLike[str], **save_kwargs: object) -> Path:
    """Save ``img`` to ``path`` through a temporary file in the same folder and an atomic rename, so a
    reader never sees a half-written file and a crash never destroys an existing one."""
    path = Path(path)
    fmt = image_format_for(path)
    if fmt == "JPEG" and img.mode not in ("RGB", "L", "CMYK"):
        img = img.convert("RGB")
    return atomic_write(path, lambda fh: img.save(fh, format=fmt, **save_kwargs))


#: zlib level of the PNGs refedit writes: 4, not Pillow's 6, writes a 12 MP photo in about half the time (4.5 -> 2.3 s
#: on this project's CPU) for the same size or a few % more (``benchmarks/png_save.py``); lossless at every level
PNG_COMPRESS_LEVEL = 4


def save_image(
    img: Image.Image,
    path: str | os.PathLike[str],
    *,
    source: LoadedImage | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Save an edited RGB image atomically in the format implied by ``path``'s extension.

    With ``source``, refuses to overwrite the source file and re-attaches its alpha channel when the
    format supports alpha. The ICC profile of ``source`` (else the one in ``img.info``) is embedded when the format
    holds one (:data:`ICC_FORMATS`). ``metadata`` is written as PNG text chunks (PNG only).
    """
    path = check_output_path(path, source.file if source else None)
    img, kwargs = _prepared(img, image_format_for(path), source, metadata)
    return atomic_save(img, path, **kwargs)


def encode_image(img: Image.Image, fmt: str = "PNG", *, source: LoadedImage | None = None,
                 metadata: dict[str, str] | None = None) -> bytes:  # fmt: skip
    """``img`` encoded as :func:`save_image` writes it in format ``fmt`` (for stdout: ``-o -``)."""
    img, kwargs = _prepared(img, fmt, source, metadata)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _prepared(img: Image.Image, fmt: str, source: LoadedImage | None,
              metadata: dict[str, str] | None) -> tuple[Image.Image, dict[str, object]]:  # fmt: skip
    """The image and the save options of :func:`save_image`: the source's alpha and colour profile where ``fmt``
    holds them, the PNG text, the compression."""
    if source is not None and source.alpha is not None and fmt in ALPHA_FORMATS and img.size == source.alpha.size:
        img = with_alpha(img, source)
    kwargs: dict[str, object] = {}
    if fmt == "GIF" and source is not None and source.mode == "P" and img.size == source.rgb.size:
        img = on_palette(img, source.rgb, colours=256 if source.alpha is None else 255)
        if source.alpha is not None and img.mode == "P":
            img = _with_clear_index(img, source)
            kwargs["transparency"] = CLEAR_INDEX
    profile = (source.icc_profile if source is not None else None) or rgb_profile(img.info.get("icc_profile"))
    if profile is not None and fmt in ICC_FORMATS:
        kwargs["icc_profile"] = profile
    if fmt == "PNG" and metadata:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in metadata.items():
            info.add_text(key, value)
        kwargs["pnginfo"] = info
    if fmt == "PNG":
        kwargs["compress_level"] = PNG_COMPRESS_LEVEL
    elif fmt == "JPEG":
        kwargs["quality"] = 95
    elif fmt == "WEBP":  # lossless, so that every pixel outside the edit stays the input's (a JPEG input: as good)
        # exact: the colour of fully transparent pixels is kept too (libwebp drops it by default)
        kwargs.update({"quality": 95} if source is not None and source.format == "JPEG" else {"lossless": True,
                                                                                              "exact": True})
    return img, kwargs


def with_alpha(edited: Image.Image, source: LoadedImage) -> Image.Image:
    """The edit of a transparent ``source`` as RGBA with the source's alpha: the models saw it composited on white
    (``source.rgb``), so each pixel the edit left as it was gets its colour before compositing back (bit-identical
    to the input), and each changed pixel the colour that, composited on white with its alpha, is the edit's
    (C = a F + (1 - a) 255, solved for F; an invisible pixel keeps the edit's)."""
    import numpy as np

    assert source.alpha is not None
    edit = np.asarray(edited.convert("RGB"), dtype=np.float32)
    white = np.asarray(source.rgb, dtype=np.float32)
    a = np.asarray(source.alpha, dtype=np.float32)[..., None] / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(a > 0, (edit - 255.0 * (1.0 - a)) / a, edit)
    out = np.clip(np.rint(straight), 0, 255).astype(np.uint8)
    kept = (edit == white).all(axis=-1)
    out[kept] = np.asarray(source.colour if source.colour is not None else source.rgb)[kept]
    return Image.fromarray(np.dstack([out, np.asarray(source.alpha)]), mode="RGBA")


def on_palette(edited: Image.Image, source: Image.Image, colours: int = 256) -> Image.Image:
    """The edit of a palette image (a GIF) as a palette image whose pixels outside the edit are the input's colours:
    the palette is the input's colours, and as many more as are free (of ``colours``) chosen for the changed pixels
    (PIL's median cut); every pixel gets the nearest palette colour, so an unchanged one its own (PIL's own
    quantising, which a GIF output went through, changed every pixel of the photo)."""
    import numpy as np

    edit = np.asarray(edited.convert("RGB"))
    src = np.asarray(source.convert("RGB"))
    palette = np.unique(src.reshape(-1, 3), axis=0)
    if len(palette) > colours:  # not a palette image after all: PIL's quantising
        return edited
    changed = (edit != src).any(axis=-1)
    free = colours - len(palette)
    if free and changed.any():
        strip = Image.fromarray(edit[changed][None], mode="RGB").quantize(free, dither=Image.Dither.NONE)
        used = np.unique(np.asarray(strip))
        extra = np.asarray(strip.getpalette()[: 3 * (int(used.max()) + 1)], dtype=np.uint8).reshape(-1, 3)[used]
        palette = np.unique(np.concatenate([palette, extra]), axis=0)
    packed = edit.reshape(-1, 3).astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    uniq, inverse = np.unique(packed, return_inverse=True)
    rgb = np.stack([uniq >> 16, (uniq >> 8) & 255, uniq & 255], axis=-1).astype(np.int32)
    nearest = np.empty(len(uniq), dtype=np.uint8)
    pal = palette.astype(np.int32)
    for i in range(0, len(uniq), 4096):  # (4096 x 256) distances at a time
        d = ((rgb[i : i + 4096, None, :] - pal[None]) ** 2).sum(-1)
        nearest[i : i + 4096] = d.argmin(1)
    out = Image.fromarray(nearest[inverse.reshape(-1)].reshape(edit.shape[:2]), mode="P")
    out.putpalette(palette.astype(np.uint8).tobytes())
    return out


#: the palette entry a transparent palette input's clear pixels take in a GIF output (:func:`on_palette` leaves it free)
CLEAR_INDEX = 255


def _with_clear_index(img: Image.Image, source: LoadedImage) -> Image.Image:
    """``img`` (the edit on the input's palette, :func:`on_palette` with one entry free) with the pixels that are
    clear in ``source`` and that the edit left as they were on :data:`CLEAR_INDEX`, whose colour is the one hidden
    under them in the input: the GIF's transparent index, as the input had one."""
    import numpy as np

    assert source.alpha is not None
    clear = np.asarray(source.alpha) == 0
    unchanged = (np.asarray(img.convert("RGB")) == np.asarray(source.rgb)).all(axis=-1)
    indices = np.asarray(img).copy()
    indices[clear & unchanged] = CLEAR_INDEX
    palette = (img.getpalette() or [])[: 3 * CLEAR_INDEX]
    hidden = np.asarray(source.colour)[clear][0].tolist() if source.colour is not None and clear.any() else [0, 0, 0]
    out = Image.fromarray(indices, mode="P")
    out.putpalette(palette + [0] * (3 * CLEAR_INDEX - len(palette)) + hidden)
    return out


def check_mask_output(path: str | os.PathLike[str], *inputs: str | os.PathLike[str] | None) -> Path:
    """:func:`check_output_path` for a mask, which must be a (lossless) PNG."""
    if Path(path).suffix.lower() != ".png":
        raise BadInput(f"mask output {path} must be a .png file (masks must be lossless)")
    return check_output_path(path, *inputs)


def save_mask(mask: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an HxW bool mask as an 8-bit PNG (255 inside, 0 outside), atomically."""
    import numpy as np

    check_mask_output(path)
    return atomic_save(Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255, mode="L"), path)


def load_mask(
    path: str | os.PathLike[str], size: tuple[int, int] | None = None, *, what: str = "mask"
) -> np.ndarray:
    """Read a mask image as an HxW bool array (pixels > 127 are inside, or 1 in a mask of only 0 and 1, as numpy
    masks are often saved; the alpha channel is used when the image has one). With ``size=(W, H)``, a mask of
    another size is an error."""
    import numpy as np

    loaded = load_image(path, what=what)
    labels = _label_indices(path) if loaded.mode == "P" and loaded.alpha is None else None
    if labels is not None:  # a label map (PASCAL VOC's, a 0/1 palette PNG): its indices say, not their colours
        gray = ((labels != 0) & (labels != VOID_INDEX)).astype(np.uint8)
    elif loaded.alpha is not None and loaded.mode in ("RGBA", "LA", "PA") and np.asarray(loaded.alpha).min() < 255:
        gray = np.asarray(loaded.alpha)
    else:
        gray = np.asarray(loaded.rgb.convert("L"))
    if size is not None and (gray.shape[1], gray.shape[0]) != tuple(size):
        raise BadInput(f"{what} {path} is {gray.shape[1]}x{gray.shape[0]} but the image is {size[0]}x{size[1]}")
    return gray > (0 if gray.max(initial=0) == 1 else 127)  # a 0/1 mask (a bool array saved as uint8): 1 is inside


#: PASCAL VOC's palette index for the unlabelled border around objects: not the object
VOID_INDEX = 255


def _label_indices(path: str | os.PathLike[str]) -> "np.ndarray | None":
    """A palette PNG's index array when its indices are labels (0 the background, others objects, 255 VOC's void),
    None when it is a picture of the mask (only black and white entries used: their brightness says, whatever
    their order in the palette)."""
    import numpy as np

    with Image.open(path) as im:
        idx = np.asarray(im)
        palette = im.getpalette() or []
    used = np.unique(idx)
    colours = {tuple(palette[3 * int(i) : 3 * int(i) + 3]) for i in used}
    return None if colours <= {(0, 0, 0), (255, 255, 255)} else idx
