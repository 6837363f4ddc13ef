import errno
import os

import numpy as np
import pytest
from PIL import Image

from refedit.core.files import all_or_nothing, atomic_write
from refedit.errors import BadInput
from refedit.pipeline.imageio import check_output_path, load_image, load_mask, save_image


def _save(img, path, **kw):
    img.save(path, **kw)
    return path


@pytest.mark.parametrize(
    "mode,fmt",
    [("RGB", "PNG"), ("L", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("1", "PNG"), ("I;16", "PNG"), ("LA", "PNG"),
     ("RGBA", "PNG"), ("F", "TIFF")],
)
def test_modes_become_rgb(tmp_path, mode, fmt):
    base = Image.new("RGB", (20, 10), (200, 100, 50))
    img = base.convert(mode) if mode not in ("I;16", "F") else Image.new(mode, (20, 10), 40000 if mode == "I;16" else 0.5)
    path = _save(img, tmp_path / f"x.{fmt.lower()}")
    loaded = load_image(path)
    assert loaded.rgb.mode == "RGB" and loaded.rgb.size == (20, 10)
    if mode == "I;16":  # 16-bit scaled, not clipped
        assert np.asarray(loaded.rgb)[0, 0, 0] == round(40000 / 257)


@pytest.mark.parametrize("values,want", [((0.0, 0.5, 1.0), (0, 128, 255)), ((0.0, 17.0, 240.0), (0, 17, 240)),
                                         ((0.0, 257.0, 40000.0), (0, 1, 156))])  # fmt: skip
def test_a_float_image_keeps_the_range_it_is_in(tmp_path, values, want):
    """An 8-bit photo stored as float (0-255, max 240) was divided by its maximum: every pixel brightened, those
    outside the edit too. 0-1 is x 255, 0-255 stays, 0-65535 is / 257."""
    arr = np.array([values], dtype=np.float32)
    loaded = load_image(_save(Image.fromarray(arr, mode="F"), tmp_path / "f.tiff"))
    assert tuple(np.asarray(loaded.rgb)[0, :, 0]) == want


def test_alpha_composited_on_white_and_kept(tmp_path):
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    img.putpixel((0, 0), (0, 0, 255, 255))
    loaded = load_image(_save(img, tmp_path / "a.png"))
    arr = np.asarray(loaded.rgb)
    assert tuple(arr[1, 1]) == (255, 255, 255) and tuple(arr[0, 0]) == (0, 0, 255)
    out = save_image(loaded.rgb, tmp_path / "out.png", source=loaded)
    assert Image.open(out).mode == "RGBA" and np.array_equal(np.asarray(Image.open(out))[..., 3], np.asarray(loaded.alpha))


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (30, 10), (0, 0, 0))
    img.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "e.jpg", exif=exif, quality=100)
    loaded = load_image(tmp_path / "e.jpg")
    assert loaded.rgb.size == (10, 30)


@pytest.mark.parametrize("kind", ["missing", "dir", "empty", "text", "truncated"])
def test_bad_files(tmp_path, kind):
    path = tmp_path / "bad.png"
    if kind == "dir":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, I am not a picture")
    elif kind == "truncated":
        Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "ok.jpg")
        path = tmp_path / "bad.jpg"
        path.write_bytes((tmp_path / "ok.jpg").read_bytes()[:300])
    with pytest.raises(BadInput):
        load_image(path)


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    Image.new("L", (200, 200)).save(tmp_path / "big.png")
    monkeypatch.setenv("REFEDIT_MAX_PIXELS", "1000")
    with pytest.raises(BadInput, match="has 200x200 pixels, over the limit of 1000 \\(set REFEDIT_MAX_PIXELS to raise it\\)"):
        load_image(tmp_path / "big.png")  # (PIL's own bomb check said 'too large to decode safely', no size, no fix)


def test_save_is_atomic_and_format_from_extension(tmp_path):
    img = Image.new("RGB", (8, 8), (10, 20, 30))
    for ext, fmt in ((".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".tif", "TIFF"), (".bmp", "BMP")):
        out = save_image(img, tmp_path / f"o{ext}")
        assert Image.open(out).format == fmt
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_never_overwrite_input(tmp_path):
    src = _save(Image.new("RGB", (8, 8)), tmp_path / "in.png")
    loaded = load_image(src)
    before = src.read_bytes()
    with pytest.raises(BadInput, match="never overwrites"):
        save_image(loaded.rgb, tmp_path / "." / "in.png", source=loaded)
    assert src.read_bytes() == before


@pytest.mark.parametrize("out", ["nodir/x.png", "x.unknownext", ".", "x.ico", "x.pdf", "x.eps", "x.xbm"])
def test_bad_output_paths(tmp_path, out):
    with pytest.raises(BadInput):
        check_output_path(tmp_path / out)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_disk_is_one_clear_error_and_the_old_file_stays(tmp_path, code):
    """A write that fails for want of room (or a read-only mount) is BadInput naming the file, not an internal
    error; the temporary file goes and an existing output is untouched."""
    out = tmp_path / "o.png"
    out.write_bytes(b"old")

    def write(fh):
        fh.write(b"partial")
        raise OSError(code, os.strerror(code))

    with pytest.raises(BadInput, match=f"cannot write {out}: {os.strerror(code)}"):
        atomic_write(out, write)
    assert out.read_bytes() == b"old" and not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_files_written_together_are_all_written_or_none(tmp_path):
    """Inside ``all_or_nothing`` a file is renamed into place only when every write of the block succeeded: a
    full disk on the second file leaves the first one as it was (old content, or not there) and no temporary
    file; a block inside another joins it."""
    old, new = tmp_path / "old.png", tmp_path / "new.png"
    old.write_bytes(b"old")

    def full(fh):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(BadInput, match=f"cannot write {tmp_path / 'mask.png'}: No space left"):
        with all_or_nothing():
            atomic_write(old, lambda fh: fh.write(b"fresh"))
            with all_or_nothing():
                atomic_write(new, lambda fh: fh.write(b"fresh"))
            assert old.read_bytes() == b"old" and not new.exists()  # written, not yet renamed
            atomic_write(tmp_path / "mask.png", full)
    assert old.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["old.png"]
    with all_or_nothing():
        atomic_write(old, lambda fh: fh.write(b"fresh"))
        atomic_write(new, lambda fh: fh.write(b"fresh"))
    assert old.read_bytes() == new.read_bytes() == b"fresh" and sorted(os.listdir(tmp_path)) == ["new.png", "old.png"]


def _profile(space: bytes = b"RGB ") -> bytes:
    """An ICC profile (ImageCms's sRGB) whose header says colour space ``space`` (a CMYK or grey one made up)."""
    from PIL import ImageCms

    data = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return data[:16] + space + data[20:]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_the_inputs_rgb_colour_profile_is_written_with_its_outputs(tmp_path, fmt):
    """An sRGB/Display-P3-tagged input's ICC profile goes, byte for byte, into every output format that holds one
    (EXIF rotation or not); an input without one, or with a CMYK or grey one (not the RGB pixels' space), none."""
    profile, ext = _profile(), {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (30, 10), (20, 120, 220)).save(tmp_path / "in.jpg", icc_profile=profile, exif=exif)
    loaded = load_image(tmp_path / "in.jpg")
    assert loaded.rgb.size == (10, 30) and loaded.icc_profile == profile
    out = save_image(Image.new("RGB", (10, 30)), tmp_path / f"out.{ext}", source=loaded)
    assert Image.open(out).info.get("icc_profile") == profile
    for space, mode in ((None, "RGB"), (b"CMYK", "CMYK"), (b"GRAY", "L")):
        kw = {} if space is None else {"icc_profile": _profile(space)}
        Image.new(mode, (10, 30)).save(tmp_path / "other.jpg", **kw)
        other = load_image(tmp_path / "other.jpg")
        assert other.icc_profile is None
        out = save_image(other.rgb, tmp_path / f"other_out.{ext}", source=other)
        assert "icc_profile" not in Image.open(out).info


def test_what_the_edit_leaves_out_is_noted(tmp_path):
    """An animation's later frames and a 16-bit image's precision are said (one line each); a plain photo has no
    notes."""
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    loaded = load_image(gif)
    assert loaded.frames == 3 and loaded.rgb.getpixel((0, 0)) == (255, 0, 0)
    assert loaded.notes("anim.gif") == ["anim.gif has 3 frames: the first is edited, the output is a still image"]
    assert loaded.notes("anim.gif", segmenting=True) == ["anim.gif has 3 frames: the first is segmented, the mask is the "
                                                         "first frame's"]  # (refedit segment: nothing is edited)
    deep = load_image(_save(Image.new("I;16", (20, 10), 40000), tmp_path / "deep.png"))
    assert len(deep.notes("deep.png")) == 1 and "8 bits" in deep.notes("deep.png")[0]
    assert load_image(_save(Image.new("RGB", (20, 10)), tmp_path / "plain.png")).notes("plain.png") == []


def test_png_is_written_at_refedit_s_zlib_level_losslessly(tmp_path, monkeypatch):
    from refedit.pipeline import imageio

    seen = {}
    original = Image.Image.save

    def save(self, fp, format=None, **params):  # noqa: A002 - PIL's own name
        seen.update(params)
        return original(self, fp, format=format, **params)

    monkeypatch.setattr(Image.Image, "save", save)
    pixels = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    out = save_image(Image.fromarray(pixels), tmp_path / "out.png")
    assert seen["compress_level"] == imageio.PNG_COMPRESS_LEVEL == 4
    assert np.array_equal(np.asarray(Image.open(out)), pixels)


@pytest.mark.parametrize("colours", [64, 256])
def test_a_gif_input_written_as_gif_keeps_its_colours_outside_the_edit(tmp_path, colours):
    """A GIF output went through PIL's quantising of the whole photo: every pixel outside the edit could change
    colour. The input's palette is kept, the edit gets the free entries (none for a 256-colour input) and the
    nearest colours."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).quantize(colours)
    photo.save(tmp_path / "in.gif")
    src = load_image(tmp_path / "in.gif")
    before = np.asarray(src.rgb)
    edited = before.copy()
    edited[20:40, 30:60] = np.linspace(0, 255, 30, dtype=np.uint8)[None, :, None] * np.array([1, 0, 1], np.uint8)
    save_image(Image.fromarray(edited), tmp_path / "out.gif", source=src)
    out = np.asarray(Image.open(tmp_path / "out.gif").convert("RGB"))
    inside = np.zeros(before.shape[:2], bool)
    inside[20:40, 30:60] = True
    assert (out[~inside] == before[~inside]).all()
    # the edit's own colours where the palette had room; the input's nearest otherwise
    err = np.abs(out[inside].astype(int) - edited[inside]).mean()
    assert err == 0 if colours == 64 else err < 40


def _png16(path, arr16, colour_type):
    """A 16-bit-a-channel PNG (PIL writes none): RGB (2) or RGBA (6)."""
    import struct
    import zlib

    h, w = arr16.shape[:2]
    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_what_an_output_loses_is_said(tmp_path):
    """A 16-bit RGB PNG (PIL opens it as 8-bit RGB) lost its low bytes without the note the README promises for
    16-bit images; an AVIF output (lossy even at quality 100) was said to keep the outside exact."""
    rgb = np.random.default_rng(0).integers(0, 65535, (12, 16, 3)).astype(np.uint16)
    _png16(tmp_path / "deep.png", rgb, 2)
    _png16(tmp_path / "deeper.png", np.dstack([rgb, rgb[..., :1]]), 6)
    for name in ("deep.png", "deeper.png"):
        loaded = load_image(tmp_path / name)
        assert loaded.deep and f"{name} has 16 bits a channel: refedit works in 8, and so does the output" in loaded.notes(name)
    Image.fromarray((rgb >> 8).astype(np.uint8)).save(tmp_path / "flat.png")
    flat = load_image(tmp_path / "flat.png")
    assert not flat.deep and flat.notes("flat.png", "PNG") == []
    assert any(n.startswith("AVIF is written lossy") for n in flat.notes("flat.png", "AVIF"))


@pytest.mark.parametrize("mode,key", [("RGB", (0, 255, 0)), ("L", 7)])
def test_a_key_colour_is_transparency_kept(tmp_path, mode, key):
    """An RGB or grey PNG with a tRNS key colour came out opaque (only palette images had theirs read)."""
    arr = np.full((10, 12, 3), 90, dtype=np.uint8) if mode == "RGB" else np.full((10, 12), 90, dtype=np.uint8)
    arr[:4, :5] = key
    Image.fromarray(arr, mode).save(tmp_path / "k.png", transparency=key)
    loaded = load_image(tmp_path / "k.png")
    assert loaded.alpha is not None and (np.asarray(loaded.alpha) == 0).sum() == 20
    assert (np.asarray(loaded.rgb)[:4, :5] == 255).all()  # on white for the models
    save_image(loaded.rgb, tmp_path / "o.png", source=loaded)
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert out.shape[-1] == 4 and (out[..., 3] == 0).sum() == 20


def test_a_transparent_gif_stays_transparent_as_a_gif(tmp_path):
    """A GIF's transparent index was dropped ('GIF holds no transparency', which it does) and the output was on white."""
    rng = np.random.default_rng(1)
    idx = rng.integers(1, 40, (20, 30)).astype(np.uint8)
    idx[:6, :9] = 0
    gif = Image.fromarray(idx, mode="P")
    gif.putpalette(rng.integers(0, 256, 3 * 40).astype(np.uint8).tobytes())
    gif.save(tmp_path / "t.gif", transparency=0)
    loaded = load_image(tmp_path / "t.gif")
    assert loaded.alpha is not None and loaded.notes("t.gif", "GIF") == []
    save_image(loaded.rgb, tmp_path / "o.gif", source=loaded)  # an edit that changed nothing
    before = np.asarray(Image.open(tmp_path / "t.gif").convert("RGBA"))
    after = np.asarray(Image.open(tmp_path / "o.gif").convert("RGBA"))
    assert (after[..., 3] == 0).sum() == 54 and np.array_equal(before, after)
    rgba = tmp_path / "a.png"
    Image.fromarray(np.dstack([np.full((4, 4, 3), 9, np.uint8), np.full((4, 4), 128, np.uint8)])).save(rgba)
    assert any("a GIF of it holds no alpha channel" in n for n in load_image(rgba).notes("a.png", "GIF"))


def test_an_opaque_alpha_channel_is_not_called_transparent(tmp_path):
    Image.new("RGBA", (8, 6), (10, 20, 30, 255)).save(tmp_path / "opaque.png")
    assert load_image(tmp_path / "opaque.png").notes("opaque.png", "JPEG") == []


def test_a_palette_mask_is_read_by_its_indices_when_they_are_labels(tmp_path):
    """A 0/1 palette PNG whose index 1 is red, and a PASCAL VOC label map (object 15, void border 255), are label maps:
    the object is its non-zero, non-void indices (their colours' brightness had the red one empty and the void in);
    a palette picture of a mask in black and white is read by brightness, whatever the entries' order."""
    idx = np.zeros((30, 40), np.uint8)
    idx[10:20, 10:30] = 1
    red = Image.fromarray(idx, mode="P")
    red.putpalette([0, 0, 0, 255, 0, 0])
    red.save(tmp_path / "red.png")
    assert load_mask(tmp_path / "red.png").sum() == 200
    voc = idx * 15
    voc[9, 9:31] = 255  # the void ring's top edge
    v = Image.fromarray(voc, mode="P")
    v.putpalette([0, 0, 0] + [128, 0, 0] * 254 + [224, 224, 192])
    v.save(tmp_path / "voc.png")
    assert load_mask(tmp_path / "voc.png").sum() == 200
    inverted = Image.fromarray(1 - idx, mode="P")  # the rectangle is index 0, white: the object; the rest black
    inverted.putpalette([255, 255, 255, 0, 0, 0])
    inverted.save(tmp_path / "bw.png")
    assert load_mask(tmp_path / "bw.png").sum() == 200
