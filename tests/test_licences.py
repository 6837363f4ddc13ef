"""Licences: every model role's default checkpoint states one, and ``refedit stages`` shows it beside the model."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from refedit.cli import main
from refedit.config import MODEL_ROLES
from refedit.licences import DEFAULT_LICENCES, licence_of


def test_every_role_states_its_default_checkpoints_licence() -> None:
    assert set(DEFAULT_LICENCES) == set(MODEL_ROLES)
    assert all(lic.name and lic.url.startswith("https://") for lic in DEFAULT_LICENCES.values())


def test_a_checkpoint_other_than_the_default_is_sent_to_its_model_card() -> None:
    default = MODEL_ROLES["sam"][0]
    assert licence_of("sam", default, default) == "Apache-2.0"
    assert licence_of("sam", "facebook/sam2.1-hiera-large", default) == "see its model card"


def test_stages_shows_each_stages_models_and_licences(tmp_path) -> None:
    env = {"REFEDIT_CONFIG": os.devnull, "REFEDIT_SAM_MODEL": "/models/my-sam"}
    r = CliRunner().invoke(main, ["stages", "--json"], env=env)
    assert r.exit_code == 0, r.output
    rows = {(x["kind"], x["name"]): x for x in json.loads(r.output)}
    gsam = {m["role"]: m for m in rows[("segmenter", "grounded-sam")]["models"]}
    assert gsam["grounding"] == {"role": "grounding", "model": MODEL_ROLES["grounding"][0], "licence": "Apache-2.0"}
    assert gsam["sam"] == {"role": "sam", "model": "/models/my-sam", "licence": "see its model card"}
    diffedit = {m["role"]: m["licence"] for m in rows[("editor", "diffedit")]["models"]}
    assert diffedit == {"sd": "CreativeML OpenRAIL-M"}
    assert rows[("parser", "rules")]["models"] == []
    assert rows[("parser", "llm")]["models"] == [{"role": "llm", "model": "gpt-4o-mini",
                                                  "licence": "the endpoint's terms of service"}]  # fmt: skip
    text = CliRunner().invoke(main, ["stages"], env=env).output
    assert "grounding: IDEA-Research/grounding-dino-base (Apache-2.0)" in text
