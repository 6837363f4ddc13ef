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


def test_missing_local_folder_says_the_folder_does_not_exist(tmp_path):
    """A local path that does not exist is not a connection problem and no `hf download` can help it."""
    missing = str(tmp_path / "nowhere" / "sd")
    store = ModelStore(Settings(models={"sd": missing}, device="cpu"))
    for attempt in (lambda: store.get("sd", "unet"), lambda: store.config("sd", "unet/config.json")):
        with pytest.raises(ModelUnavailable) as err:
            attempt()
        msg = str(err.value)
        assert "does not exist" in msg and missing in msg and "REFEDIT_SD_MODEL" in msg
        assert "hf download" not in msg and "connect" not in msg and "\n" not in msg
    assert store.loads == []


def test_relative_folder_beside_an_existing_parent_is_reported_missing(tmp_path, monkeypatch):
    """``models/sd`` has a hub id's shape, but with a ``models/`` folder here it is a mistyped local path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    store = ModelStore(Settings(models={"sd": "models/sd"}, device="cpu"))
    with pytest.raises(ModelUnavailable, match="the folder 'models/sd' does not exist"):
        store.get("sd", "unet")


def test_existing_folder_that_is_no_checkpoint_is_not_sent_to_the_hub(tmp_path):
    (tmp_path / "empty").mkdir()
    store = ModelStore(Settings(models={"sd": str(tmp_path / "empty")}, device="cpu"))
    with pytest.raises(ModelUnavailable) as err:
        store.get("sd", "unet")
    assert "not a complete checkpoint" in str(err.value) and "hf download" not in str(err.value)


@pytest.mark.parametrize(
    "role,component,folder,kind",
    [("sam", "sam", "clip", "SAM"), ("sam", "sam", "grounding-dino", "SAM"), ("clip", "clip", "sam", "CLIP"),
     ("grounding", "detector", "clip", "zero-shot object detection"),
     ("captioner", "captioner", "sam", "image-to-text")],
)  # fmt: skip
def test_role_pointed_at_another_kind_of_checkpoint_is_refused_before_loading(
    role, component, folder, kind, tiny_models
):
    """transformers would load SamModel/CLIPModel from any folder (random weights for what it lacks) or fail
    deep inside; the config's model_type is checked first and no weight loads."""
    store = ModelStore(Settings(models={role: str(tiny_models[folder])}, device="cpu"))
    with pytest.raises(ModelUnavailable) as err:
        store.get(role, component)
    msg = str(err.value)
    assert f"is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} checkpoint" in msg and "\n" not in msg and str(tiny_models[folder]) in msg
    assert store.loads == []


@pytest.mark.parametrize("role,component,folder", [("sam", "sam", "sam"), ("clip", "clip", "clip"),
                                                   ("grounding", "detector", "grounding-dino")])  # fmt: skip
def test_role_with_its_own_kind_of_checkpoint_loads(role, component, folder, tiny_models):
    store = ModelStore(Settings(models={role: str(tiny_models[folder])}, device="cpu"))
    assert store.get(role, component) is not None and store.loads == [(str(tiny_models[folder]), component)]


def test_config_reads_json_without_loading_weights(tiny_settings):
    store = ModelStore(tiny_settings)
    unet = store.config("sd", "unet/config.json")
    assert unet["in_channels"] == 4 and unet["_class_name"] == "UNet2DConditionModel"
    assert store.config("sd", "text_encoder_2/config.json", required=False) is None
    with pytest.raises(ModelUnavailable, match="text_encoder_2/config.json"):
        store.config("sd", "text_encoder_2/config.json")
    assert store.loads == []


@pytest.mark.parametrize("folder,damage,says", [
    ("sam", "truncate", "header runs past the end of the file"),  # transformers' SafetensorError: internal error
    ("grounding-dino", "truncate", "header runs past the end of the file"),
    ("sd", "truncate", "unet/diffusion_pytorch_model.safetensors"),  # found only by the editor, after segmenting
    ("sam", "remove", "has a config.json but no weights"),
    ("sd", "remove", "sd/unet' has a config.json but no weights"),  # diffusers' two-line message, late
])  # fmt: skip
def test_a_damaged_checkpoint_folder_is_exit_5_before_any_stage(folder, damage, says, tiny_models, tiny_env, tmp_path):
    import shutil

    from click.testing import CliRunner

    from refedit.cli import main

    copy = tmp_path / folder
    shutil.copytree(tiny_models[folder], copy)
    weights = next(p for p in sorted(copy.rglob("*.safetensors")) if folder != "sd" or p.parent.name == "unet")
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:64])
    else:
        weights.unlink()
    flag = {"sam": "--sam-model", "grounding-dino": "--grounding-model", "sd": "--sd-model"}[folder]
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", "examples/cat.jpg", "replace the cat with a tiger", flag, str(copy), "-o",
                                  str(out), "--box-threshold", "0"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 5 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert not out.exists()
