"""Single files on disk: which kind a file is, whether it may be opened (pickles run code), its tensor names and
shapes from the safetensors header, its weights, and its content hash (remembered by path, size and mtime)."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from refedit.core.files import atomic_write_text
from refedit.errors import BadInput, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import torch


SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
#: the roles whose checkpoint may be a single file (Stable Diffusion-family editors and Ref-Diff's SD)
SD_ROLES = ("sd", "inpaint", "instruct")
UNET_PREFIX = "model.diffusion_model."
EMA_PREFIX = "model_ema."
VAE_PREFIXES = ("first_stage_model.", "vae.")
CLIP_PREFIX = "cond_stage_model.transformer."
OPEN_CLIP_PREFIX = "cond_stage_model.model."
#: bump when the derived config folder changes, so old cache entries are not reused
FORMAT_VERSION = 1
Shapes = Mapping[str, tuple[int, ...]]



def looks_like_file(model_id: str) -> bool:
    """``model_id`` names a single-file checkpoint by its suffix (whether or not it exists)."""
    return Path(str(model_id)).suffix.lower() in SAFE_SUFFIXES + PICKLE_SUFFIXES


def is_single_file(model_id: str) -> bool:
    """``model_id`` is a single-file checkpoint (by suffix), not a folder or hub id."""
    return looks_like_file(model_id) and not Path(str(model_id)).expanduser().is_dir()


def is_pickle(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


def check_trusted(path: str | Path, trusted: bool, *, what: str = "checkpoint") -> None:
    """Refuse a pickled file (it runs code when read) unless the user trusts it; checked before it is opened."""
    if is_pickle(path) and not trusted:
        raise BadInput(
            f"refusing to load the {what} {str(path)!r}: a {Path(path).suffix} file is a Python pickle and loading it "
            "can run any code it contains -- use the .safetensors release if there is one, or pass --trust-checkpoint "
            "(env REFEDIT_TRUST_CHECKPOINT=1, config trust_checkpoint = true) if you trust where it came from"
        )


def _damaged(path: Path, why: str, fix: str = "download it again") -> ModelUnavailable:
    return ModelUnavailable(f"cannot read the checkpoint file {str(path)!r}: {why} -- {fix}")


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, checked against the file's size (a truncated file fails here)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise _damaged(path, f"it is {size} bytes long, too short for a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and 2 <= head[1] <= 5):  # a zipped or plain pickle
                raise _damaged(path, "it is a PyTorch pickle (a .ckpt or .bin file) named .safetensors",
                               "rename it .ckpt (a pickle runs code: --trust-checkpoint only for one you trust)")
            raise _damaged(path, "its safetensors header runs past the end of the file (truncated?)")
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, ValueError):
            raise _damaged(path, "it is not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise _damaged(path, "it is not a safetensors file (unreadable header)")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    if 8 + length + end > size:
        raise _damaged(path, f"it is truncated ({size} bytes, its header describes {8 + length + end})")
    return tensors


def quick_check(path: str | Path, *, trusted: bool) -> None:
    """The checks that read next to nothing (for the up-front model check): a pickle must be trusted and, when
    zipped, complete; a safetensors file's header must fit the file (a truncated download fails here)."""
    path = Path(path).expanduser()
    check_trusted(path, trusted)
    if not is_pickle(path):
        safetensors_header(path)
    elif _head(path, 2) == b"PK" and not zipfile.is_zipfile(path):
        raise _damaged(path, "its zip archive is incomplete (truncated?)")


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def read_shapes(path: str | Path, *, trusted: bool) -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape, without loading a safetensors file's data (its header only); a pickle is
    opened (memory-mapped where it can be) only when ``trusted``."""
    path = Path(path).expanduser()
    check_trusted(path, trusted)
    if not is_pickle(path):
        return {k: tuple(int(n) for n in v["shape"]) for k, v in safetensors_header(path).items()}
    return {k: tuple(v.shape) for k, v in load_tensors(path, trusted=trusted).items() if hasattr(v, "shape")}


def load_tensors(
    path: str | Path, *, trusted: bool, prefixes: tuple[str, ...] | None = None
) -> dict[str, "torch.Tensor"]:
    """The tensors of a single file whose names start with one of ``prefixes`` (all when None); a pickle's
    ``state_dict`` nesting (Lightning checkpoints) is unwrapped. A damaged file is :class:`ModelUnavailable`."""
    path = Path(path).expanduser()
    check_trusted(path, trusted)
    keep = (lambda k: True) if prefixes is None else (lambda k: k.startswith(prefixes))
    if not is_pickle(path):
        from safetensors import safe_open

        safetensors_header(path)
        try:
            with safe_open(str(path), framework="pt") as fh:
                return {k: fh.get_tensor(k) for k in fh.keys() if keep(k)}
        except Exception as err:  # safetensors raises its own SafetensorError
            raise _damaged(path, first_line(err)) from err
    state = _load_pickle(path)
    return {k: v for k, v in state.items() if isinstance(k, str) and keep(k)}


def _load_pickle(path: Path) -> dict[str, Any]:
    """A trusted torch pickle: tensors-only unpickling first, the full unpickler (it runs the file's code) only
    when the file needs it (Lightning checkpoints carry callbacks and hyper-parameters)."""
    import pickle

    import torch

    zipped = zipfile.is_zipfile(path)
    if not zipped and _head(path, 2) == b"PK":
        raise _damaged(path, "its zip archive is incomplete (truncated?)")
    mmap = {"mmap": True} if zipped else {}
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, **mmap)
        except pickle.UnpicklingError:
            obj = torch.load(path, map_location="cpu", weights_only=False, **mmap)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, AttributeError, ImportError) as err:
        raise _damaged(path, first_line(err)) from err
    while isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = {**{k: v for k, v in obj.items() if k != "state_dict"}, **obj["state_dict"]}
    if not isinstance(obj, dict):
        raise _damaged(path, f"it holds a {type(obj).__name__}, not a state dict")
    return obj


def first_line(err: BaseException) -> str:
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if len(line) <= 160 else line[:157] + "..."


def cache_root() -> Path:
    """refedit's cache folder for single files, made if need be; :class:`BadInput` naming the variables that place
    it when it cannot be (a file where a folder should be was an internal error, NotADirectoryError)."""
    from refedit.config import cache_dir

    root = cache_dir() / "single-file"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot use the cache folder {root} ({err.strerror or err}); point REFEDIT_CACHE_DIR (or "
                       "XDG_CACHE_HOME) at a folder refedit can write") from None  # fmt: skip
    return root


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, remembered in refedit's cache by (path, size, mtime) so a multi-GB
    checkpoint is hashed once, not at every run."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    index_path = cache_root() / "hashes.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    entry = index.get(str(path))
    if isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
        return str(entry["sha256"])
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    index[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}
    _write_atomic(index_path, json.dumps(index, indent=1))
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


