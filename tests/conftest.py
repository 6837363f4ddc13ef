"""Offline test harness: tiny random-weight models of the real architectures, built once per session and
loaded through the ordinary ``from_pretrained`` paths; any network attempt outside loopback fails."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# hermetic against the developer's shell: their REFEDIT_* models and config file are not the tests'
for _name in [n for n in os.environ if n.startswith("REFEDIT_")]:
    del os.environ[_name]
os.environ["REFEDIT_CONFIG"] = os.devnull
# shell-pipeline tests run the `refedit` console script of this environment, activated or not
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
_LOOPBACK = ("127.", "::1", "localhost")


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not touch the network: any connection except to loopback raises."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and (host.startswith(_LOOPBACK) or self.family == socket.AF_UNIX):
            return real_connect(self, address)
        raise NetworkBlocked(f"test tried to reach the network: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo(socket.getaddrinfo))


def _guarded_getaddrinfo(real):  # type: ignore[no-untyped-def]
    def guarded(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host is None or str(host).startswith(_LOOPBACK):
            return real(host, *args, **kwargs)
        raise NetworkBlocked(f"test tried to resolve {host!r}")

    return guarded


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Role -> directory of each tiny checkpoint (sd, sd-inpaint, sd-instruct, grounding-dino, sam, clip,
    captioner, clipseg)."""
    from refedit.testing.tiny_models import build_all

    return build_all(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_editors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Role -> directory of the tiny instruction-editor pipelines (qwen-edit, kontext)."""
    from refedit.testing.tiny_editors import build_editors

    return build_editors(tmp_path_factory.mktemp("tiny-editors"))


@pytest.fixture(scope="session")
def tiny_env(tiny_models: dict[str, Path], tiny_editors: dict[str, Path]) -> dict[str, str]:
    """Environment variables pointing every model role at a tiny checkpoint (the users' own mechanism)."""
    return {
        "REFEDIT_SD_MODEL": str(tiny_models["sd"]),
        "REFEDIT_INPAINT_MODEL": str(tiny_models["sd-inpaint"]),
        "REFEDIT_INSTRUCT_MODEL": str(tiny_models["sd-instruct"]),
        "REFEDIT_GROUNDING_MODEL": str(tiny_models["grounding-dino"]),
        "REFEDIT_SAM_MODEL": str(tiny_models["sam"]),
        "REFEDIT_CLIP_MODEL": str(tiny_models["clip"]),
        "REFEDIT_CAPTIONER_MODEL": str(tiny_models["captioner"]),
        "REFEDIT_CLIPSEG_MODEL": str(tiny_models["clipseg"]),
        "REFEDIT_SAM3_MODEL": str(tiny_models["sam3"]),
        "REFEDIT_QWEN_EDIT_MODEL": str(tiny_editors["qwen-edit"]),
        "REFEDIT_KONTEXT_MODEL": str(tiny_editors["kontext"]),
    }


@pytest.fixture
def tiny_settings(tiny_env: dict[str, str]):  # type: ignore[no-untyped-def]
    from refedit.config import Settings

    return Settings.resolve(environ=tiny_env, config_file=Path(os.devnull))


#: stage options that make the tiny models fast and always detect something; the tiny random GroundingDINO scores
#: its 20 boxes alike (all within the ambiguity margin), so runs that test plumbing, not the choice, take the
#: highest score on purpose instead of stopping with exit 7
FAST = {"steps": 6, "resolution": 64, "box_threshold": 0.0, "on_ambiguous": "best"}
