
import pytest

from refedit.config import MODEL_ROLES, Settings, env_var
from refedit.errors import BadInput


def test_defaults_are_public_ids(tmp_path):
    s = Settings.resolve(environ={}, config_file=tmp_path / "none.toml")
    assert s.model("sd") == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert s.model("grounding") == "IDEA-Research/grounding-dino-base"
    assert s.model("sam") == "facebook/sam-vit-huge"
    assert set(s.models) == set(MODEL_ROLES) and s.device == "auto"


def test_precedence_flag_env_file_default(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('device = "cpu"\n[models]\nsd = "/file/sd"\nsam = "/file/sam"\nclip = "/file/clip"\n')
    env = {env_var("sd"): "/env/sd", env_var("sam"): "/env/sam"}
    s = Settings.resolve(models={"sd": "/flag/sd"}, environ=env, config_file=cfg)
    assert s.model("sd") == "/flag/sd"
    assert s.model("sam") == "/env/sam"
    assert s.model("clip") == "/file/clip"
    assert s.model("grounding") == MODEL_ROLES["grounding"][0]
    assert s.device == "cpu"


@pytest.mark.parametrize("bad", [{"device": "tpu"}, {"dtype": "int8"}, {"models": {"nope": "x"}}])
def test_invalid_settings(bad, tmp_path):
    with pytest.raises(BadInput):
        Settings.resolve(environ={}, config_file=tmp_path / "none.toml", **bad)


def test_bad_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("device = = 3")
    with pytest.raises(BadInput, match="not valid TOML"):
        Settings.resolve(environ={}, config_file=cfg)
