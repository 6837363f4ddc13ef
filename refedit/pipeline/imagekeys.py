"""Content keys of PIL images for the per-image caches (SAM's embedding, SAM 2's and SAM 3's features).

A key is a hash of the pixels, not the object: a PIL image is mutable (``paste`` keeps the same object), so a key
kept per object could outlive its pixels. Within one stage call the image does not change, though, and one
``segment()`` asks for the key of the same photo several times (the detector's cache, the mask model's, the
hint prompts): :func:`same_images` lets a stage say so, and the pixels are hashed once per image inside it (as
they are converted to an array, and copied to the model's device, once: :func:`memo`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, TypeVar

import numpy as np
from PIL import Image

T = TypeVar("T")
ImageKey = tuple[int, tuple[int, int], str]

#: (id(image), what) -> (the image, kept alive so that its id is not reused, the value made); None outside a scope
_scope: ContextVar[dict[tuple[int, str], tuple[Image.Image, object]] | None] = ContextVar("refedit_image_keys", default=None)


def memo(image: Image.Image, what: str, make: Callable[[], T]) -> T:
    """``make()``, once per image and ``what`` inside :func:`same_images` (every time outside it)."""
    made = _scope.get()
    if made is None:
        return make()
    if (id(image), what) not in made:
        made[(id(image), what)] = (image, make())
    return made[(id(image), what)][1]  # type: ignore[return-value]


def image_array(image: Image.Image) -> np.ndarray:
    """``image``'s pixels as a read-only (H, W, channels) uint8 array (RGB images: 3 channels); converted once per
    image inside :func:`same_images` (PIL's ``tobytes`` is the slow part of hashing and of handing pixels to torch)."""

    def make() -> np.ndarray:
        array = np.asarray(image)
        array.flags.writeable = False
        return array

    return memo(image, "array", make)


def image_key(image: Image.Image) -> ImageKey:
    """A hash of ``image``'s pixels with its size and mode; hashed once per image inside :func:`same_images`."""
    return memo(image, "key", lambda: (hash(image_array(image).tobytes()), image.size, image.mode))


@contextmanager
def same_images() -> Iterator[None]:
    """A scope in which the images passed to :func:`image_key` are not modified (one stage call); nested scopes
    share the outermost one."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)
