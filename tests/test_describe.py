"""The BLIP-2 describer on a tiny random-weight Blip2ForConditionalGeneration, loaded through the ModelStore,
and its description reaching the LLM parser's request."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from refedit.config import Settings
from refedit.pipeline.models import ModelStore
from refedit.pipeline.parse.describe import Describer, clean_description
from tests.conftest import EXAMPLES
from tests.test_llm_parser import INSTRUCTION, FakeOpenAI, make_parser, server  # noqa: F401 (fixture)


@pytest.fixture
def store(tiny_models: dict[str, Path]) -> ModelStore:
    return ModelStore(Settings(models={"captioner": str(tiny_models["captioner"])}, device="cpu"))


@pytest.fixture
def cat() -> Image.Image:
    return Image.open(EXAMPLES / "cat.jpg")


def test_describes_one_deterministic_line_loading_once(store: ModelStore, cat: Image.Image) -> None:
    describer = Describer(store, max_new_tokens=8)
    first, second = describer(cat), describer(cat)
    assert isinstance(first, str) and first
    assert "\n" not in first and first == first.strip()
    assert first == second
    assert describer.calls == 2
    model_id = str(store.settings.model("captioner"))
    assert sorted(store.loads) == [(model_id, "captioner"), (model_id, "processor")]


def test_prompt_is_not_part_of_the_description(store: ModelStore, cat: Image.Image) -> None:
    prompt = "Question: what is in the picture? Answer:"
    text = Describer(store, max_new_tokens=8, prompt=prompt)(cat)
    assert isinstance(text, str) and "Question" not in text


def test_clean_description() -> None:
    assert clean_description("  a cat\n on\ta sofa . ..\n") == "a cat on a sofa"
    assert clean_description("\x00\x07") == ""


def test_llm_parser_sends_the_description(
    server: FakeOpenAI, store: ModelStore, cat: Image.Image  # noqa: F811
) -> None:
    describer = Describer(store, max_new_tokens=8)
    expected = describer(cat)
    parser = make_parser(server, describe=describer)
    plan = parser.parse(instruction=INSTRUCTION, image=cat)
    assert plan.parser == "llm"
    assert describer.calls == 2
    assert f"Image description: {expected}" in server.requests[0]["body"]["messages"][-1]["content"]
