import pytest

from refedit.errors import BadInput
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.stages import GROUPS, Editor, Parser, Segmenter, StageContext, registry
from refedit.pipeline.models import ModelStore

PROTOCOLS = {"parser": Parser, "segmenter": Segmenter, "editor": Editor}
ALL = [(kind, name) for kind in GROUPS for name in registry.entries(kind)]


def test_builtins_come_from_entry_points():
    for kind, name in (("parser", "rules"), ("segmenter", "grounded-sam"), ("editor", "diffedit")):
        entry = registry.get(kind, name)
        assert entry.source == "refedit" and entry.description and "no description" not in entry.description


def test_unknown_name_lists_choices():
    with pytest.raises(BadInput, match="choose from .*diffedit"):
        registry.get("editor", "nope")


@pytest.mark.parametrize("kind,name", ALL)
def test_contract_every_registered_stage(kind, name, tiny_settings):
    """Every registered stage (plugins included) builds lazily and satisfies its Protocol."""
    store = ModelStore(tiny_settings)
    stage = registry.create(kind, name, StageContext(settings=tiny_settings, store=store))
    assert isinstance(stage, PROTOCOLS[kind])
    assert store.loads == []  # building a stage loads no weight


def test_runtime_registration_is_first_class(tiny_settings):
    class Shout:
        def parse(self, *, instruction, image=None):
            from refedit.pipeline.parse.rules import RulesParser

            return RulesParser().parse(instruction=instruction.lower())

    def shout_parser(context):
        """Lower-cases, then parses with rules."""
        return Shout()

    registry.register("parser", "shout", shout_parser)
    try:
        assert registry.get("parser", "shout").description == "Lower-cases, then parses with rules."
        pipe = Pipeline.build(tiny_settings, parser="shout")
        assert pipe.parser.parse(instruction="REMOVE THE DOG").target.head == "dog"
    finally:
        registry.unregister("parser", "shout")
