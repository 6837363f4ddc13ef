import pytest
import torch

from refedit.config import Settings
from refedit.errors import ModelUnavailable
from refedit.pipeline.models import ModelStore, resolve_device, resolve_dtype


def test_one_instance_per_model_and_shared(tiny_settings):
    store = ModelStore(tiny_settings)
    a = store.get("sd", "unet")
    b = store.get("sd", "unet")
    assert a is b and store.loads == [(tiny_settings.model("sd"), "unet")]
    assert not a.training and next(a.parameters()).dtype == torch.float32


def test_two_roles_with_one_checkpoint_share_the_instance(tiny_settings):
    settings = tiny_settings.with_models(inpaint=tiny_settings.model("sd"))
    store = ModelStore(settings)
    assert store.get("sd", "vae") is store.get("inpaint", "vae")
    assert len(store.loads) == 1


def test_missing_model_is_one_actionable_line(tmp_path):
    store = ModelStore(Settings(models={"sd": str(tmp_path / "nowhere")}, device="cpu"))
    with pytest.raises(ModelUnavailable) as err:
        store.get("sd", "unet")
    msg = str(err.value)
    assert "\n" not in msg and "nowhere" in msg and "REFEDIT_SD_MODEL" in msg and "--sd-model" in msg


def test_hub_id_offline_is_model_unavailable():
    store = ModelStore(Settings(models={"sam": "facebook/sam-vit-huge"}, device="cpu"))
    with pytest.raises(ModelUnavailable, match="facebook/sam-vit-huge"):
        store.get("sam", "sam")


def test_device_and_dtype_selection():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")


def test_no_network_fails_fast_with_one_line(monkeypatch):
    """Without a network the hub is not retried for half a minute: one connection attempt, one line."""
    import time

    from refedit.pipeline.models import hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert hub_reachable(timeout=1.0) is False  # the test harness blocks every non-loopback socket
    store = ModelStore(Settings(models={"grounding": "IDEA-Research/grounding-dino-base"}, device="cpu"))
    start = time.perf_counter()
    with pytest.raises(ModelUnavailable) as err:
        store.get("grounding", "detector")
    assert time.perf_counter() - start < 10 and "\n" not in str(err.value)
    assert "REFEDIT_GROUNDING_MODEL" in str(err.value)
