"""The rules parser against the labelled set (tests/data/instructions.jsonl)."""

import json
from pathlib import Path

import pytest

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import DIRECTIONS, EditPlan, Relation, Target
from refedit.core.english import singular
from refedit.pipeline.parse.rules import RulesParser

DATA = Path(__file__).parent / "data"
def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


ROWS = load("instructions.jsonl")  # development set (the rules were written against it)
HELD_OUT = load("instructions_heldout.jsonl")  # written independently, never used for tuning
# chat-style phrasings, written independently of the rules code after the "casual" development rows (session 7)
CASUAL_HELD_OUT = load("instructions_casual_heldout.jsonl")
NO_TARGET = [line for line in (DATA / "no_target.txt").read_text().splitlines() if line.strip()]
parser = RulesParser()


def expected_target(row: dict) -> dict:
    """The row's target with the fields it leaves out at their defaults (no relation, pronoun or region)."""
    return Target.from_dict(row["target"]).to_dict()


NEW_FIELDS = ("relation", "pronoun", "region")


def field_accuracy(rows: list[dict]) -> dict[str, float]:
    """Head, action and whole-plan accuracy; "labelled" compares only the fields a row names (the held-out
    rows predate relations, pronouns, regions and placements: "the cup on the table" there says nothing
    about a relation)."""
    hits = {"head": 0, "action": 0, "plan": 0, "labelled": 0}
    for row in rows:
        try:
            plan = parser.parse(instruction=row["instruction"])
        except UnclearInstruction:
            continue
        got, want = plan.target.to_dict(), expected_target(row)
        same = (plan.action, plan.replacement) == (row["action"], row["replacement"])
        hits["head"] += plan.target.head == row["target"]["head"]
        hits["action"] += plan.action == row["action"]
        hits["plan"] += same and got == want and plan.placement == row.get("placement")
        named = [f for f in want if f in row["target"] or f not in NEW_FIELDS]
        hits["labelled"] += (same and all(got[f] == want[f] for f in named)
                             and ("placement" not in row or plan.placement == row["placement"]))  # fmt: skip
    return {k: v / len(rows) for k, v in hits.items()}


CLASSES = ("relation", "nested-relation", "pronoun", "possessive", "placement", "region", "phrasing", "casual", "everyday")


def by_class(name: str) -> list[dict]:
    return [r for r in ROWS if r.get("class", "base") == name]


def test_labelled_set_is_large_and_varied():
    assert len(ROWS) >= 150
    assert {r["action"] for r in ROWS} == {"replace", "modify", "remove", "add", "global"}


def walk(target: dict):
    """The target and every anchor it nests."""
    yield target
    relation = target.get("relation")
    if relation:
        yield from walk(relation["anchor"])
        if relation.get("second"):
            yield from walk(relation["second"])


def test_issue_18_rows_cover_every_case():
    """Issue 18: at least 12 rows per class, every direction, every pronoun, placements in every direction
    an addition can take."""
    assert all(len(by_class(c)) >= 12 for c in CLASSES), {c: len(by_class(c)) for c in CLASSES}
    relational = [t for c in ("relation", "nested-relation", "possessive") for r in by_class(c) for t in walk(r["target"])]
    assert {t["relation"]["direction"] for t in relational if t.get("relation")} == set(DIRECTIONS)
    pronouns = {t.get("pronoun") for c in ("pronoun", "possessive") for r in by_class(c) for t in walk(r["target"])}
    assert {"him", "her", "them", "it"} <= pronouns
    placements = {r.get("placement") for r in by_class("placement")}
    assert placements == set(DIRECTIONS) - {"on", "in", "of", "with"} | {None}
    assert {r["target"].get("region") for r in by_class("region")} >= {"left", "right", "top", "bottom", "center",
                                                                        "background", "foreground"}  # fmt: skip
    assert all(Target.from_dict(r["target"]) for r in ROWS)  # every label is a valid plan target


@pytest.mark.parametrize("rows", [ROWS, HELD_OUT], ids=["development", "held-out"])
def test_accuracy_goals(rows):
    """Goals of issue 3 (head and action >= 95 %, whole plan >= 90 %); the development set is met on the whole
    plan, new fields included, the held-out set on the fields its rows name."""
    acc = field_accuracy(rows)
    plan = acc["plan"] if rows is ROWS else acc["labelled"]
    assert acc["head"] >= 0.95 and acc["action"] >= 0.95 and plan >= 0.90, acc


def test_held_out_set_does_not_drop():
    """Issue 18: on what its rows name, the held-out set stays where it was before relations (plan 93.3 %,
    head 95.6 %, action 96.7 %: 84, 86 and 87 of 90)."""
    acc = field_accuracy(HELD_OUT)
    assert len(HELD_OUT) == 90
    assert acc["labelled"] >= 84 / 90 and acc["head"] >= 86 / 90 and acc["action"] >= 87 / 90, acc


def test_casual_held_out_set():
    """Chat-style instructions never used for tuning: 28.3 % of whole plans before the casual rules (d253cde),
    90.0 % after; the goals of issue 3 (head and action >= 95 %) are not met on it yet."""
    acc = field_accuracy(CASUAL_HELD_OUT)
    assert len(CASUAL_HELD_OUT) == 60 and {r["class"] for r in CASUAL_HELD_OUT} == {"casual"}
    assert acc["plan"] >= 54 / 60, acc


@pytest.mark.parametrize("name", CLASSES)
def test_accuracy_per_class(name):
    """Issue 18 goal per class of the new rows: the whole plan (relation, pronoun, region and placement
    included) right for >= 90 % of each class, head and action for >= 95 % (met: 100 % each)."""
    acc = field_accuracy(by_class(name))
    assert acc["head"] >= 0.95 and acc["action"] >= 0.95 and acc["plan"] >= 0.90, acc


@pytest.mark.parametrize("instruction", NO_TARGET + ["", "   ", "the"])
def test_no_target_is_refused(instruction):
    with pytest.raises(UnclearInstruction):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize(
    "instruction,source,edited",
    [
        ("replace the left cat with a tiger", "a photo of a cat", "a photo of a tiger"),
        ("make the red tie blue", "a photo of a red tie", "a photo of a blue tie"),
        ("make all the vases wooden", "a photo of vases", "a photo of wooden vases"),
        ("add a hat to the man", "a photo of a man", "a photo of a man with a hat"),
        ("remove the cup on the table", "a photo of a cup", "a photo of the table"),
        ("remove the cat on the left", "a photo of a cat", "a photo of the background"),
        ("delete the man in the blue jacket", "a photo of a man", "a photo of the background"),
    ],
)
def test_captions(instruction, source, edited):
    plan = parser.parse(instruction=instruction)
    assert (plan.source_caption, plan.edited_caption) == (source, edited)


@pytest.mark.parametrize("plural,single", [("buses", "bus"), ("vases", "vase"), ("puppies", "puppy"),
                                           ("knives", "knife"), ("glasses", "glass"), ("boxes", "box"),
                                           ("cookies", "cookie"), ("people", "person"), ("sheep", "sheep")])  # fmt: skip
def test_singular(plural, single):
    assert singular(plural) == single


def parse(instruction: str):
    return parser.parse(instruction=instruction)


@pytest.mark.parametrize(
    "instruction,head,replacement",
    [
        ("change the shirt colour to red", "shirt", "red"),
        ("change the color of the car to blue", "car", "blue"),
        ("make the bike's colour green", "bike", "green"),
        ("set the roof color to dark red", "roof", "dark red"),
        ("change the car colour to sky blue", "car", "sky blue"),
        ("change the table texture to marble", "table", "marble"),
    ],
)
def test_attribute_noun_names_a_property_of_the_object(instruction, head, replacement):
    """Issue 10: "the shirt colour" targets the shirt; a change of its colour is a modification."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", head, replacement)
    assert plan.segmentation_prompt == head
    assert plan.edited_caption == f"a photo of a {replacement} {head}"


def test_old_attribute_joins_the_target():
    plan = parse("change the wall colour from white to green")
    assert (plan.action, plan.target.head, plan.target.attributes, plan.replacement) == (
        "modify", "wall", ("white",), "green")  # fmt: skip
    assert (plan.source_caption, plan.edited_caption) == ("a photo of a white wall", "a photo of a green wall")


@pytest.mark.parametrize(
    "instruction,action,head,other",
    [
        ("remove the trash can next to the bench", "remove", "trash can", "bench"),
        ("replace the trash can next to the bench with a plant", "replace", "trash can", "bench"),
        ("turn the dog next to the sofa into a cat", "replace", "dog", "sofa"),
        ("make the building in the back red", "modify", "building", "back"),
        ("replace the cup on the left of the table with a glass", "replace", "cup", "table"),
        ("turn the cup to the left of the plate into a vase", "replace", "cup", "plate"),
        ("replace the man with the hat with a robot", "replace", "man", "hat"),
        ("paint the lamp close to the bed blue", "modify", "lamp", "bed"),
        ("remove the car parked behind the truck", "remove", "car", "truck"),
        ("make the man near the door wear a hat", "add", "man", "door"),
    ],
)
def test_relation_after_the_target_keeps_its_head(instruction, action, head, other):
    """Issue 10: a relation to another object stays in the expression; its noun never becomes the head."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head) == (action, head)
    assert plan.target.expression.startswith(head) and plan.target.expression.endswith(other)
    assert other not in plan.segmentation_prompt and other not in (plan.replacement or "")


def test_intensified_relation_names_no_side():
    """"right next to" is no position on the right of the image."""
    assert parse("delete the mug right next to the laptop").target.spatial is None
    assert parse("delete the mug on the right").target.spatial == "right"


@pytest.mark.parametrize(
    "instruction,action,head,replacement",
    [
        ("recolour the car red", "modify", "car", "red"),
        ("recolor the bus yellow", "modify", "bus", "yellow"),
        ("recolour the door to green", "modify", "door", "green"),
        ("repaint the fence in white", "modify", "fence", "white"),
        ("get rid of the lamp", "remove", "lamp", None),
        ("erase the bird", "remove", "bird", None),
        ("delete the bottle", "remove", "bottle", None),
        ("make the balloon disappear", "remove", "balloon", None),
        ("remove the umbrella from the picture", "remove", "umbrella", None),
        ("swap the cat for a dog", "replace", "cat", "dog"),
        ("swap out the candle for a lamp", "replace", "candle", "lamp"),
        ("change the cat with a dog", "replace", "cat", "dog"),
        ("exchange the apple for an orange", "replace", "apple", "orange"),
        ("substitute a lemon for the orange", "replace", "orange", "lemon"),
    ],
)
def test_verbs_outside_the_first_lexicon(instruction, action, head, replacement):
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize(
    "instruction,head,comparative",
    [
        ("make the tower taller", "tower", "taller"),
        ("make the dog bigger", "dog", "bigger"),
        ("make the car smaller", "car", "smaller"),
        ("make the tree on the right shorter", "tree", "shorter"),
        ("the sofa should be longer", "sofa", "longer"),
    ],
)
def test_comparative_is_a_modification(instruction, head, comparative):
    """Issue 10: "make the tower taller" modifies the tower; the comparative is the change."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", head, comparative)
    assert plan.target.size is None  # the comparative is the change, not which object
    assert (plan.source_caption, plan.edited_caption) == (f"a photo of a {head}", f"a photo of a {comparative} {head}")


@pytest.mark.parametrize(
    "instruction,wearer,thing",
    [
        ("make the boy wear a crown", "boy", "a crown"),
        ("let the woman hold an umbrella", "woman", "an umbrella"),
        ("put a hat on the dog", "dog", "a hat"),
        ("have the man wear sunglasses", "man", "sunglasses"),
        ("get the girl to hold a balloon", "girl", "a balloon"),
        ("dress the man in the corner in a suit", "man", "a suit"),
        ("make the man who is holding a cup wear a scarf", "man", "a scarf"),
    ],
)
def test_wearing_or_holding_is_an_addition_on_the_wearer(instruction, wearer, thing):
    """Issue 10: "make the boy wear a crown" adds a crown; the mask target is the boy."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.segmentation_prompt) == ("add", wearer, wearer)
    assert plan.edited_caption == f"a photo of a {wearer} with {thing}"


def test_attribute_noun_of_a_removal_is_the_object():
    """Only changes read "the pattern" as a property: removing it removes the pattern itself."""
    assert parse("remove the pattern on the shirt").target.head == "pattern"


# --------------------------------------------------------------------------- issue 18: relations, pronouns,
# possessives, placements, regions
def test_the_to_of_a_relation_is_no_split():
    """"Make the pillow to the right of the bed orange": the new look is "orange", the pillow lies right of
    the bed (the old split gave the replacement "right of the bed orange")."""
    plan = parse("Make the pillow to the right of the bed orange")
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", "pillow", "orange")
    assert plan.target.relation == Relation("right-of", Target("bed", "bed"))
    assert plan.target.spatial is None and plan.segmentation_prompt == "pillow"
    assert parse("change the sign to the left of the door to red").replacement == "red"
    assert parse("dress the girl in front of the tent in a gown").replacement == "gown"


def test_a_side_of_another_object_is_a_relation_not_a_position():
    relative = parse("Color the chair on the left of the sofa red").target
    assert (relative.spatial, relative.relation) == (None, Relation("left-of", Target("sofa", "sofa")))
    assert relative.expression == "chair on the left of the sofa"
    absolute = parse("color the chair on the left red").target
    assert (absolute.spatial, absolute.relation) == ("left", None)


@pytest.mark.parametrize(
    "instruction,spatial",
    [
        ("remove the cat on the left side of the image", "left"),
        ("remove the cat at the top-right of the picture", "top-right"),
        ("remove the cat in the top left corner", "top-left"),
        ("remove the dog in the background", "back"),
        ("remove the man in the corner", None),
        ("remove the cat sitting on the left", "left"),
        ("remove the bottle lying on its side", None),
        ("make the house at the end of the street red", None),
    ],
)
def test_positions_in_the_image_are_no_relations(instruction, spatial):
    target = parse(instruction).target
    assert (target.spatial, target.relation) == (spatial, None)


@pytest.mark.parametrize(
    "instruction,direction,anchor",
    [
        ("remove the stool left of the counter", "left-of", "counter"),
        ("remove the stool on the right-hand side of the counter", "right-of", "counter"),
        ("remove the kite over the house", "above", "house"),
        ("remove the clock on top of the fridge", "above", "fridge"),
        ("remove the cat underneath the car", "below", "car"),
        ("remove the mug right next to the laptop", "next-to", "laptop"),
        ("remove the lamp close to the bed", "next-to", "bed"),
        ("remove the dog in front of the tent", "in-front-of", "tent"),
        ("remove the van behind the bus", "behind", "bus"),
        ("remove the cup in the sink", "in", "sink"),
        ("remove the man sitting on the bench", "on", "bench"),
        ("remove the handle of the mug", "of", "mug"),
        ("remove the car between the trucks", "between", "truck"),
        ("remove the man in the red shirt next to the car", "next-to", "car"),  # clothing is no place
    ],
)
def test_relation_directions(instruction, direction, anchor):
    target = parse(instruction).target
    assert (target.relation.direction, target.relation.anchor.head) == (direction, anchor)
    assert anchor not in parse(instruction).segmentation_prompt


@pytest.mark.parametrize("instruction,head,anchor,attributes", [
    ("replace the man holding an umbrella with a robot", "man", "umbrella", ()),
    ("replace the man who is holding an umbrella with a robot", "man", "umbrella", ()),
    ("turn the man who's holding an umbrella into a statue", "man", "umbrella", ()),
    ("remove the girl in the red dress", "girl", "dress", ("red",)),
    ("remove the girl who is in the red dress", "girl", "dress", ("red",)),
    ("replace the girl with the red dress with a statue", "girl", "dress", ("red",)),
    ("make the woman wearing a hat blonde", "woman", "hat", ()),
    ("remove the boy riding a bike", "boy", "bike", ()),
    ("remove the man walking his dog", "man", "dog", ()),
    ("paint the car with the open door red", "car", "door", ("open",)),
    ("remove the woman wearing glasses", "woman", "glasses", ()),  # spectacles, not drinking glasses
    ("remove the guy with glasses", "guy", "glasses", ()),
])  # fmt: skip
def test_what_the_target_holds_wears_or_rides_is_a_with_relation(instruction, head, anchor, attributes):
    """"the man holding an umbrella": the man whose box covers an umbrella; the umbrella is no part of the prompt."""
    plan = parse(instruction)
    rel = plan.target.relation
    assert (plan.target.head, rel.direction, rel.anchor.head, rel.anchor.attributes) == (head, "with", anchor, attributes)
    assert plan.segmentation_prompt == head and anchor not in (plan.replacement or "")


@pytest.mark.parametrize("instruction,direction,anchor,spatial", [
    ("remove the guy in the red beanie sitting on the log by the campfire", "on", "log", None),
    ("remove the tall man with the beard standing next to the red car", "next-to", "car", None),
    ("remove the guest holding a phone up in the aisle", "in", "aisle", None),
    ("pls remove the lady with the stroller on the left", "with", "stroller", "left"),
    ("remove the man in the flat cap, second from the right", "with", "flat cap", "right"),
    ("remove the man holding the left umbrella", "with", "umbrella", None),
    ("erase the woman in the red coat walking her dog on the left", "with", "coat", "left"),
    ("remove the woman pushing a pram on the right", "with", "pram", "right"),
    ("remove the man talking to the woman", "next-to", "woman", None),
    ("remove the dog chasing the ball", "next-to", "ball", None),
    ("remove the man walking with the dog", "next-to", "dog", None),
])  # fmt: skip
def test_a_place_after_what_the_target_wears_tells_it_apart(instruction, direction, anchor, spatial):
    """Where the target is wins over what it wears (one relation per target); a position after the worn thing is
    the target's ("the lady with the stroller on the left"), one before it the worn thing's ("the left umbrella")."""
    target = parse(instruction).target
    assert (target.relation.direction, target.relation.anchor.head, target.spatial) == (direction, anchor, spatial)
    if spatial is not None:  # moved from the worn thing's words, which end at its noun
        assert target.relation.anchor.spatial is None and target.relation.anchor.expression.endswith(anchor)
    assert parse("remove the girl waving at the camera").target.relation is None  # the camera is no object in the photo


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("Edit: make the man in the navy suit (second from the left in the group photo) appear to be smiling. Preserve "
     "identity.", "modify", "man", "smiling"),
    ("Replace the text on the storefront sign with 'OPEN 24 HOURS', matching the existing font.", "modify", "text",
     "OPEN 24 HOURS"),
    ("Task: replace the mug on the desk with a glass of orange juice. Constraints: preserve lighting and perspective.",
     "replace", "mug", "glass of orange juice"),
    ("Replace the dog with a sleeping black cat. Maintain the original scale and shadows.", "replace", "dog",
     "sleeping black cat"),
    ("Modify the window so that it appears lit", "modify", "window", "lit"),
    ("Change the colour of the dress so that it is navy blue, keeping the fabric texture.", "modify", "dress", "navy blue"),
])  # fmt: skip
def test_an_agents_labels_and_constraints_are_not_the_edit(instruction, action, head, replacement):
    """What a script or an LLM agent writes around the edit: a label before it ("Task:"), how to do it after it
    (", matching the existing font", "Preserve identity.", "Constraints: ...")."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,head,direction,anchor,attributes", [
    ("remove the house whose chimney is smoking", "house", "with", "chimney", ("smoking",)),
    ("make the car whose door is open red", "car", "with", "door", ("open",)),
    ("turn the kid who's flying the kite into a scarecrow", "kid", "with", "kite", ()),
    ("remove the man swinging a bat", "man", "with", "bat", ()),
    ("add a speech bubble above the kid pointing at the plane", "kid", "next-to", "plane", ()),
    ("make the horse the cowboy is riding white", "horse", "below", "cowboy", ()),  # what one rides is below them
    ("can you remove the guy wearing his cap backwards?", "guy", "with", "cap", ()),
    ("make the shirt with the polka dots black and white", "shirt", "with", "polka dot", ()),
    ("the woman that is carrying a baby - replace her with a mannequin", "woman", "with", "baby", ()),
    ("remove the bench that the old man sits on", "bench", "below", "man", ("old",)),
])  # fmt: skip
def test_whose_and_more_verbs_of_having(instruction, head, direction, anchor, attributes):
    """"whose chimney is smoking" is the house with the smoking chimney; flying, waving, swinging a thing is having it;
    pointing at a thing is being beside it. Flying over a place is still above it."""
    target = parse(instruction).target
    relation = target.relation
    assert (target.head, relation.direction, relation.anchor.head, relation.anchor.attributes) == (head, direction, anchor, attributes)
    assert parse("remove the bird flying over the lake").target.relation.direction == "above"


@pytest.mark.parametrize("instruction,head,colour", [
    ("remove the woman in white", "woman", "white"),
    ("erase the man dressed all in black", "man", "black"),
    ("make the guy in navy red", "guy", "navy"),
    ("make the girl in pink wear a crown", "girl", "pink"),
])  # fmt: skip
def test_dressed_in_a_colour_is_what_they_wear(instruction, head, colour):
    """"the woman in white" wears white clothes ("a white woman" is something else); a thing "in white" is its look."""
    target = parse(instruction).target
    assert (target.head, target.attributes, target.relation.direction) == (head, (), "with")
    assert (target.relation.anchor.head, target.relation.anchor.attributes) == ("clothes", (colour,))
    plan = parse("repaint the fence in white")
    assert (plan.target.head, plan.target.relation, plan.replacement) == ("fence", None, "white")


@pytest.mark.parametrize("instruction,head,attributes", [
    ("remove the dog that is sleeping", "dog", ("sleeping",)),
    ("remove the man who is smiling", "man", ("smiling",)),
    ("remove the cup which is empty", "cup", ("empty",)),
    ("remove the puppy that's asleep", "puppy", ("asleep",)),  # words the tagger calls nouns before the head
    ("change the kettle that is boiling to red", "kettle", ("boiling",)),
    ("remove the boiling kettle", "kettle", ("boiling",)),
])  # fmt: skip
def test_a_state_in_a_clause_is_an_attribute(instruction, head, attributes):
    """"the dog that is sleeping" is the sleeping dog: the attribute filter tells it from the others."""
    plan = parse(instruction)
    assert (plan.target.head, plan.target.attributes, plan.target.relation) == (head, attributes, None)
    assert plan.segmentation_prompt == " ".join([*attributes, head])


def test_between_two_objects_and_between_a_plural():
    two = parse("replace the vase between the candle and the clock with a bowl").target.relation
    assert (two.anchor.head, two.second.head) == ("candle", "clock")
    plural = parse("make the table between the two sofas wooden").target.relation
    assert plural.second is None and plural.anchor.all and plural.anchor.head == "sofa"


def test_relations_nest_and_round_trip_through_json():
    plan = parse("Make the dress of the girl to the left of the standing girl red")
    girl = plan.target.relation.anchor
    assert (plan.target.head, plan.target.relation.direction, girl.head) == ("dress", "of", "girl")
    assert girl.relation == Relation("left-of", Target("standing girl", "girl", ("standing",)))
    assert plan.segmentation_prompt == "dress"
    assert EditPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    shelf = parse("replace the vase on the bottom of the shelf with a jar").target.relation.anchor
    assert (shelf.head, shelf.region, shelf.relation) == ("region", "bottom", Relation("of", Target("shelf", "shelf")))


@pytest.mark.parametrize(
    "instruction,action,pronoun,replacement",
    [
        ("make them zebras", "replace", "them", "zebras"),
        ("Give her a hat", "add", "her", "hat"),
        ("make him wear red", "add", "him", "red clothes"),
        ("give them party hats", "add", "them", "party hats"),
        ("remove it", "remove", "it", None),
        ("remove all of them", "remove", "them", None),
        ("put sunglasses on her", "add", "her", "sunglasses"),
        ("they should be penguins", "replace", "them", "penguins"),
    ],
)
def test_pronouns_are_targets_the_image_settles(instruction, action, pronoun, replacement):
    """Issue 18: the rules parser must not refuse what the image can settle."""
    plan = parse(instruction)
    assert (plan.action, plan.target.pronoun, plan.replacement) == (action, pronoun, replacement)
    person = pronoun in ("him", "her")
    assert plan.target.head == plan.segmentation_prompt == ("person" if person else "object")
    assert plan.target.all == (pronoun == "them")


def test_it_as_the_image_stays_global():
    assert parse("make it snowy").action == "global"
    assert parse("make it look like winter").action == "global"


@pytest.mark.parametrize(
    "instruction,head,owner,every",
    [
        ("Color her shirt red", "shirt", "her", False),
        ("make her clothes black", "clothes", "her", False),  # one garment word ("clothes" is no plural of a thing)
        ("make his hands blue", "hand", "him", True),  # both hands: the owner keeps everyone else's out
        ("make their shirts green", "shirt", "them", True),  # many owners: every one's
        ("remove the dog's collar", "collar", "dog", False),
        ("make the woman on the right's dress blue", "dress", "woman", False),
        ("make the collar of the dog's owner red", "collar", "owner", False),
    ],
)
def test_possessives_are_parts_of_their_owner(instruction, head, owner, every):
    target = parse(instruction).target
    anchor = target.relation.anchor
    assert (target.head, target.relation.direction, target.all) == (head, "of", every)
    assert (anchor.pronoun or anchor.head) == owner


def test_clothes_stay_clothes():
    assert singular("clothes") == "clothes"
    plan = parse("remove the clothes")
    assert (plan.target.head, plan.target.all, plan.source_caption) == ("clothes", False, "a photo of clothes")


@pytest.mark.parametrize(
    "instruction,head,placement,edited",
    [
        ("Add a coffee cup to the left of the book", "book", "left-of", "a photo of a book and a coffee cup"),
        ("add a helicopter above the tower", "tower", "above", "a photo of a tower and a helicopter"),
        ("put a lamp next to the sofa", "sofa", "next-to", "a photo of a sofa and a lamp"),
        ("add a bench between the two trees", "tree", "between", "a photo of trees and a bench"),
        ("put a hat on the dog", "dog", None, "a photo of a dog with a hat"),  # on the target itself
        ("add a hat to the man on the left of the car", "man", None, "a photo of a man with a hat"),
    ],
)
def test_placements_of_additions(instruction, head, placement, edited):
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.placement, plan.edited_caption) == ("add", head, placement, edited)


@pytest.mark.parametrize("instruction", ["add a lamp between the sofa and the chair",
                                         "add a lamp in between the sofa and the chair please"])  # ("in between":
def test_placement_between_two_objects_targets_the_space_between(instruction):  # the lamp went on the chair)
    plan = parse(instruction)
    assert (plan.action, plan.placement, plan.target.head, plan.replacement) == ("add", None, "region", "lamp")
    relation = plan.target.relation
    assert (relation.direction, relation.anchor.head, relation.second.head) == ("between", "sofa", "chair")
    plan = parse("could you pop a candle in between the plates")
    assert (plan.action, plan.placement, plan.target.head, plan.replacement) == ("add", "between", "plate", "candle")


@pytest.mark.parametrize(
    "instruction,action,region,prompt,replacement",
    [
        ("Add sunset to the bottom", "add", "bottom", "bottom", "sunset"),
        ("Make the right side snowy", "modify", "right", "right side", "snowy"),
        ("blur the background", "modify", "background", "background", "blurred"),
        ("make the top half darker", "modify", "top", "top half", "darker"),
        ("add a dog to the right side of the image", "add", "right", "right side", "dog"),
        ("brighten the bottom left corner of the photo a little", "modify", "bottom-left", "bottom left corner", "brighter"),
        ("add a hot air balloon in the upper right of the picture", "add", "top-right", "upper right", "hot air balloon"),
    ],
)
def test_regions_of_the_image(instruction, action, region, prompt, replacement):
    plan = parse(instruction)
    assert (plan.action, plan.target.region, plan.target.head) == (action, region, "region")
    assert (plan.segmentation_prompt, plan.replacement, plan.source_caption) == (prompt, replacement, "a photo")


@pytest.mark.parametrize("instruction,head,spatial", [
    ("delete the bird in the upper left of the frame", "bird", "top-left"),
    ("replace the building on the far right of the skyline with a lighthouse", "building", "right"),
])  # fmt: skip
def test_a_side_of_the_frame_is_a_position_not_a_relation(instruction, head, spatial):
    """The frame and the skyline are the whole view: "left of the frame" was a left-of relation to a frame object."""
    target = parse(instruction).target
    assert (target.head, target.spatial, target.relation) == (head, spatial, None)
    assert parse("remove the man to the left of the picture frame").target.relation.direction == "left-of"


@pytest.mark.parametrize("instruction,action,head,anchor", [
    ("Is that a wasp on the cake? Please remove it", "remove", "wasp", "cake"),
    ("which of the boats is between the two buoys? make that one yellow", "modify", "boat", "buoy"),
    ("The woman on the right is my aunt. Her dress should be green.", "modify", "dress", "woman"),
    ("Look at the horse behind the fence. Its saddle should be brown.", "modify", "saddle", "horse"),
    ("my cat's the grey one. could you add a bow to her collar", "add", "collar", "cat"),
])  # fmt: skip
def test_an_object_named_in_a_question_or_a_description_is_what_the_command_edits(instruction, action, head, anchor):
    """A question names the object ("is that a wasp on the cake?"), "which of the boats is ..." names one of them,
    and "the woman on the right is my aunt" says where the photo shows her (the anchor is no 'aunt' to detect)."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.target.relation.anchor.head) == (action, head, anchor)
    plan = parse("of all the dogs in the park, remove the one in the middle")
    assert (plan.target.head, plan.target.spatial, plan.target.pronoun) == ("dog", "middle", None)


@pytest.mark.parametrize("instruction,action,head,replacement,all_", [
    ("make the sailboat way off in the distance red", "modify", "sailboat", "red", False),
    ("remove whatever is poking in from the left edge", "remove", "object", None, False),
    ("The two kids on the swing - make them both wear raincoats", "add", "kid", "raincoats", True),
    ("ok and can they all be in black and white", "modify", "object", "black and white", True),
])  # fmt: skip
def test_fillers_around_the_object_and_its_look(instruction, action, head, replacement, all_):
    """"way off in the distance" (no 'off' to detect), "whatever is poking in", "them both", "be in black and white"."""
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement, plan.target.all) == (action, head, replacement, all_)


@pytest.mark.parametrize("instruction,head,spatial,ordinal,replacement", [
    ("make the flower right in the foreground out of focus", "flower", "front", None, "blurred"),
    ("recolour the car in the dead centre of the frame silver", "car", "middle", None, "silver"),
    ("the second car from the camera, make it white", "car", "front", 2, "white"),
])  # fmt: skip
def test_intensified_positions_and_counting_from_the_camera(instruction, head, spatial, ordinal, replacement):
    """"right in the foreground" is no right side, "dead centre" is the centre, "from the camera" counts from the front."""
    plan = parse(instruction)
    assert (plan.target.head, plan.target.spatial, plan.target.ordinal, plan.replacement) == (head, spatial, ordinal, replacement)


@pytest.mark.parametrize("instruction,head,replacement,placement", [
    ("add some fog rolling in under the bridge", "bridge", "fog", "below"),
    ("add a dog sitting at the girl's feet", "girl", "dog", "next-to"),
    ("add a tire swing under the big tree", "tree", "tire swing", "below"),  # a swing is no participle
])  # fmt: skip
def test_what_an_added_thing_does_on_the_way_to_its_place_is_no_part_of_it(instruction, head, replacement, placement):
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement, plan.placement) == ("add", head, replacement, placement)


@pytest.mark.parametrize("instruction", [
    "Apply a Gaussian blur to the background behind the main subject while keeping the subject sharp.",
    "add a blur to the background", "give the background a slight blur"])
def test_a_blur_applied_as_a_noun_blurs(instruction):
    """Photo-editor wording: a blur applied to a thing blurs it (was refused, or an addition of 'blur')."""
    plan = parse(instruction)
    assert (plan.action, plan.target.region, plan.replacement) == ("modify", "background", "blurred")


def test_a_side_before_right_next_to_is_kept():
    """"from the right next to the sink": "right" is the side, not the intensifier of "right next to"."""
    target = parse("swap the third bottle from the right next to the sink for a soap dispenser").target
    assert (target.spatial, target.ordinal, target.relation.direction, target.relation.anchor.head) == ("right", 3, "next-to", "sink")
    target = parse("remove the man right next to the car").target
    assert (target.spatial, target.relation.direction) == (None, "next-to")


def test_a_side_word_before_an_object_is_still_a_position():
    """"the bottom drawer" is a drawer at the bottom, not the bottom region."""
    plan = parse("make the bottom drawer red")
    assert (plan.target.head, plan.target.spatial, plan.target.region, plan.replacement) == ("drawer", "bottom", None, "red")


@pytest.mark.parametrize(
    "instruction,action,head,replacement",
    [
        ("fill the glass with orange juice", "add", "glass", "orange juice"),
        ("shape the cloud into a heart", "replace", "cloud", "heart"),
        ("the table is made of glass", "modify", "table", "glass"),
        ("instead of the dog put a cat", "replace", "dog", "cat"),
        ("put a teapot instead of the kettle", "replace", "kettle", "teapot"),
        ("make the chair out of ice", "modify", "chair", "ice"),
        ("make the girl in red blue", "modify", "girl", "blue"),
        ("what if the statue is made of gold", "modify", "statue", "gold"),
    ],
)
def test_smaller_phrasings(instruction, action, head, replacement):
    plan = parse(instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction", ["replace the cat\x1b[31m with a tiger", "replace the\tcat\nwith a tiger",
                                         "\x1b[1mreplace the cat with a tiger\x1b[0m"])  # fmt: skip
def test_escape_sequences_and_control_characters_are_no_words(instruction):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("replace", "cat", "tiger")


@pytest.mark.parametrize("instruction,spatial", [("delete the dog closest to the camera", "front"),
                                                 ("remove the car furthest from the camera", "back"),
                                                 ("remove the cup nearest to the viewer", "front"),
                                                 ("remove the car nearest the camera", "front")])  # fmt: skip
def test_the_camera_is_a_depth_not_an_object_to_stand_next_to(instruction, spatial):
    target = parser.parse(instruction=instruction).target
    assert target.spatial == spatial and target.relation is None


@pytest.mark.parametrize("instruction,anchor", [("remove the man closest to the door", "door"),
                                                ("remove the chair nearest the fireplace", "fireplace"),
                                                ("paint the cup closest the laptop blue", "laptop")])  # fmt: skip
def test_closest_to_an_object_is_a_relation(instruction, anchor):
    target = parser.parse(instruction=instruction).target
    assert target.relation is not None and target.relation.direction == "next-to" and target.spatial is None
    assert target.relation.anchor.head == anchor


@pytest.mark.parametrize("instruction,ordinal,head", [("remove the second last bottle", -2, "bottle"),
                                                      ("remove the 2nd to last car", -2, "car"),
                                                      ("delete person #2 from the left", 2, "person"),
                                                      ("make the cup number 3 red", 3, "cup"),
                                                      ("make the 11th seat red", 11, "seat"),
                                                      # the ordinal read as a noun took "bottle blue" for a colour
                                                      ("make the second last bottle blue", -2, "bottle"),
                                                      ("the second-to-last bottle should be green", -2, "bottle"),
                                                      ("make the third last bottle green", -3, "bottle"),  # was 3
                                                      ("remove the 4th from last car", -4, "car")])  # fmt: skip
def test_ordinals_counted_from_the_end_and_numbered(instruction, ordinal, head):
    target = parser.parse(instruction=instruction).target
    assert (target.ordinal, target.head, target.attributes) == (ordinal, head, ())


@pytest.mark.parametrize("name", ["statements", "app-words", "terse-and-learner"])
def test_the_probe_rounds_rows_parse_exactly(name):
    """The phrasings that helpers wrote without reading the parser (sessions 8's probe rounds 3 and 4: statements
    of the wanted picture, app and shop words, terse notes, learner English, chat corrections), each row's whole
    plan as labelled: a regression here is a phrasing users type that stopped working."""
    rows = by_class(name)
    assert len(rows) >= 12
    assert field_accuracy(rows)["plan"] == 1.0, [r["instruction"] for r in rows]


@pytest.mark.parametrize("instruction,head,wording", [("change the text on the sign to OPEN", "text", "OPEN"),
                                                      ("make the sign say CLOSED", "text", "CLOSED"),
                                                      ("replace the word SALE with SOLD", "word sale", "SOLD"),
                                                      ("change the shop name on the awning to Luigi's", "shop name", "Luigi's"),
                                                      ("change the number on the jersey to 10", "number", "10")])  # fmt: skip
def test_new_wording_for_text_in_the_picture_is_kept_as_typed(instruction, head, wording):
    """Text in the picture gets new wording on the same object (modify), with its capitals, and the edited
    caption quotes it; a new look of text stays a look."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", head, wording)
    assert plan.edited_caption.endswith(f'reading "{wording}"')
    look = parser.parse(instruction="make the text on the mug red")
    assert look.replacement == "red" and look.edited_caption == "a photo of a red text"
    assert parser.parse(instruction="replace the sign with a billboard").action == "replace"  # an object, not text


@pytest.mark.parametrize("instruction,action,replacement", [("make it blue", "modify", "blue"),
                                                             ("paint it red", "modify", "red"),
                                                             ("make it wooden", "modify", "wooden"),
                                                             ("make it night", "global", "night"),
                                                             ("make it brighter", "global", "brighter"),
                                                             ("make it black and white", "global", "black and white")])  # fmt: skip
def test_it_in_a_colour_is_an_object_and_in_a_light_or_time_the_picture(instruction, action, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.replacement) == (action, replacement)
    assert plan.target.pronoun == ("it" if action == "modify" else None)


@pytest.mark.parametrize("instruction,action,expression", [("clean up the litter on the floor", "remove", "litter on the floor"),
                                                            ("clean up the scribbles on the whiteboard", "remove", "scribbles on the whiteboard"),
                                                            ("tidy up the desk", "modify", "desk"),
                                                            ("clean up the photo", "global", "image")])  # fmt: skip
def test_clean_up_removes_a_mess_and_tidies_anything_else(instruction, action, expression):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.expression) == (action, expression)


@pytest.mark.parametrize("instruction,expression,pronoun", [
    ("wipe the smudge off", "smudge", None), ("scrub the graffiti away", "graffiti", None),
    ("clone the tourist out", "tourist", None), ("wipe it off", "it", "it"),
    ("remove the sign that says keep out", "sign that says keep out", None),  # the words are the sign's
    ("wipe the smudge off his face", "smudge on his face", None), ("brush the crumbs off", "crumbs", None),
    ("peel the sticker off", "sticker", None), ("sweep the leaves away", "leaves", None),
    ("hose the mud off the car", "mud on the car", None),
])  # fmt: skip
def test_a_removal_verbs_particle_after_the_object_is_not_part_of_it(instruction, expression, pronoun):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.expression, plan.target.pronoun) == ("remove", expression, pronoun)


@pytest.mark.parametrize("instruction", ["wipe that off", "wipe that off the table", "remove this on the shelf"])
def test_a_demonstrative_with_only_a_place_is_refused(instruction):
    """Not the removal of "off" or of "on the table": nothing names the object."""
    with pytest.raises(UnclearInstruction, match="cannot tell which object"):
        parser.parse(instruction=instruction)


def test_blowing_candles_out_is_not_removing_them():
    """"blow X out" puts a flame out; a refusal is better than removing the candles."""
    with pytest.raises(UnclearInstruction):
        parser.parse(instruction="blow the candles out")


@pytest.mark.parametrize("instruction,action,expression,replacement", [
    ("cat -> dog", "replace", "cat", "dog"), ("no hat", "remove", "hat", None), ("bg blue", "modify", "background", "blue"),
    ("lamp gone", "remove", "lamp", None), ("bigger moon", "modify", "moon", "bigger"),
    ("note: remove the cat", "remove", "cat", None),  # a label before a command is not a terse "X: Y"
    ("remove the cat on the left, not the right", "remove", "cat on the left", None),
])  # fmt: skip
def test_terse_notes_as_commands(instruction, action, expression, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.expression, plan.replacement) == (action, expression, replacement)
    with pytest.raises(UnclearInstruction):
        parser.parse(instruction="zoom out")  # "X out" is no removal of an X


@pytest.mark.parametrize("instruction,direction,anchor", [("remove cup on table", "on", "table"),
                                                          ("delete all bird in sky", "in", "sky"),
                                                          ("remove man next to car", "next-to", "car"),
                                                          ("remove the car in red", None, None),
                                                          ("remove the car in front", None, None),
                                                          ("remove the house on fire", None, None)])  # fmt: skip
def test_a_bare_noun_is_an_anchor_a_look_position_or_idiom_is_not(instruction, direction, anchor):
    relation = parser.parse(instruction=instruction).target.relation
    assert (relation and relation.direction, relation and relation.anchor.head) == (direction, anchor)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("I'd love the wall behind the bed painted sage green", "modify", "wall", "sage green"),
    ("the sign should say WELCOME", "modify", "text", "WELCOME"),
    ("the sign needs to read OPEN", "modify", "text", "OPEN"),
    ("no more people in the background", "remove", "person", None),
])  # fmt: skip
def test_phrasings_a_new_user_tried_in_the_review(instruction, action, head, replacement):
    """Session 8's closing try as a new user, in its own words: each had surprised (unclear, or 'more' taken
    for an attribute of the people)."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)
    assert "more" not in plan.target.attributes


def test_the_probe_rounds_do_not_get_worse(monkeypatch):
    """benchmarks/probes.py's counts (rows of the helper-written probe rounds the parser gets wrong) at most what
    the last session left: a fix for one phrasing must not break others users type."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import probes

    left = {"round1": 2, "round2": 3, "round3": 4, "round4": 9, "round5": 6, "round6": 8, "round7": 4, "round8": 8, "round9": 8,
            "round10": 20, "round11": 7, "round12": 2, "round13": 1, "round14": 35, "round15": 25,
            "round16": 40,  # round 16: blind when written (73 wrong), worked on in sessions 13 and 16
            "round17": 47,  # round 17: written blind in session 13 (80 wrong at that session's start)
            "round18": 54,  # round 18: written blind in session 13 (79 wrong at that session's start)
            "round19": 49,  # round 19: written blind at the end of session 13 (65 at session 14's start)
            "round20": 37,  # round 20: written blind in session 16 (55 wrong at its start; its held-out half 27 -> 27 blind)
            "round21": 11,  # round 21: written blind in session 20 for 'with' relations and states (35 wrong blind)
            "round22": 18}  # round 22: written blind in session 21: between/among, frame positions, ordinals with
    # relations, placements, pronouns across sentences, agent-written instructions (43 wrong blind)
    folder = Path(__file__).resolve().parent / "data" / "probes"
    for name, most in left.items():
        cases = [c for c in json.loads((folder / f"{name}.json").read_text())
                 if not str(c.get("group", "")).startswith("followup")]  # fmt: skip
        wrong = [c["instruction"] for c in cases if probes.diffs(parser, c)]
        assert len(wrong) <= most, (name, wrong)


@pytest.mark.parametrize("instruction,head,attributes", [
    ("remove the large dark brown horse", "horse", ("dark brown",)),
    ("make the light blue car red", "car", ("light blue",)),
    ("give the little black-and-white puppy a red collar", "puppy", ("black-and-white",)),
    ("make the polka-dot dress plain", "dress", ("polka-dot",)),
    ("make the checked shirt plain white", "shirt", ("checked",)),
    ("replace the old broken wooden gate with an iron one", "gate", ("old", "broken", "wooden")),
    ("make the long blue striped scarf yellow", "scarf", ("long", "blue", "striped")),
    ("remove the very big dog", "dog", ()),
    ("make the red t-shirt blue", "t-shirt", ("red",)),
    ("remove the left-most cup", "cup", ()),
])  # fmt: skip
def test_attributes_are_whole_words_and_two_word_colours(instruction, head, attributes):
    """A hyphenated word is one attribute, a shade with its colour one, a participle or an adjective the tagger
    took for a verb or an adverb is one too; grading adverbs and positions are none."""
    target = parser.parse(instruction=instruction).target
    assert (target.head, target.attributes) == (head, attributes)


@pytest.mark.parametrize("instruction,head,owner", [("remove the balloon that the girl is holding", "balloon", "girl"),
                                                    ("remove the thing the man is holding", "object", "man"),
                                                    ("make the bag the woman carries red", "bag", "woman"),
                                                    ("remove the hat which the boy on the left is wearing", "hat", "boy")])  # fmt: skip
def test_what_an_owner_holds_or_wears_is_the_owners(instruction, head, owner):
    target = parser.parse(instruction=instruction).target
    assert (target.head, target.relation.direction, target.relation.anchor.head) == (head, "of", owner)


@pytest.mark.parametrize("instruction,action,head,spatial,replacement", [
    ("See the lamp by the window? Make it blue.", "modify", "lamp", None, "blue"),
    ("There are two cats on the sofa. Remove the one on the left.", "remove", "cat", "left", None),
    ("sorry, I meant the red car, remove that", "remove", "car", None, None),
    ("not that dog, the one on the right, make it brown", "modify", "dog", "right", "brown"),
    ("what's that white thing on the left? remove it", "remove", "object", "left", None),
    ("wrong one - I wanted the smaller vase removed", "remove", "vase", None, None),
])  # fmt: skip
def test_an_object_named_in_one_clause_and_edited_in_the_next(instruction, action, head, spatial, replacement):
    """A message that names the object first and then edits "it", "that" or "the one on the left" edits what it
    named; a clause that only says the last pick was wrong is dropped."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.spatial, plan.replacement) == (action, head, spatial, replacement)
    assert plan.target.pronoun is None


def test_another_of_a_kind_placed_by_the_one_there():
    plan = parser.parse(instruction="add another chair next to the one on the left")
    assert (plan.target.head, plan.target.spatial, plan.target.pronoun, plan.replacement, plan.placement) == (
        "chair", "left", None, "chair", "next-to")
    assert parser.parse(instruction="add a hat to the one on the left").target.pronoun == "it"  # not a hat on a hat


@pytest.mark.parametrize("word", ["lens", "canvas", "gas"])
def test_singular_nouns_ending_in_s(word):
    assert singular(word) == word
    target = parser.parse(instruction=f"remove the smudge on the {word}").target
    assert (target.relation.anchor.head, target.relation.anchor.all) == (word, False)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("can someone pls remove the guy in the background? it's my engagement photo and he ruins it", "remove", "guy", None),
    ("Hi all, could somebody make the sky in this photo of our wedding less grey? Will tip $5", "modify", "sky", "less grey"),
    ("[Request] Please remove the sunglasses from my dad's face so we can see his eyes", "remove", "sunglasses", None),
    ("Looking for someone to change the color of our front door to sage green", "modify", "front door", "sage green"),
    ("anyone able to take the reflection off my glasses? will venmo", "remove", "reflection", None),
    ("can u photoshop a hat onto my dog lol", "add", "dog", "hat"),
    ("It's a photo of a street at night. Make the street lamps brighter.", "modify", "street lamp", "brighter"),
    ("This is a picture of my living room. The rug is too bright, please make it darker.", "modify", "rug", "darker"),
    ("The photo shows three kids on a bench. Give the one in the middle a red cap.", "add", "kid", "red cap"),
    ("Two dogs are playing in the yard. The bigger one should be a wolf.", "replace", "dog", "wolf"),
    ("In the background there's a white van. Can you remove it?", "remove", "van", None),
])  # fmt: skip
def test_a_forum_post_or_a_message_of_several_sentences(instruction, action, head, replacement):
    """The sentence that asks for the edit is the instruction; greetings, thanks, backstory and tips around it are
    not, and an object a sentence before names is what "it" or "the one" then means."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,spatial,size", [("make the closer car white", "front", None),
                                                      ("remove the car that's further away", "back", None),
                                                      ("turn the higher balloon into a kite", "top", None),
                                                      ("make the more distant hill purple", "back", None),
                                                      ("give the shorter girl a baseball cap", None, "smallest"),
                                                      ("replace the thinner tree with a flagpole", None, "smallest"),
                                                      ("erase the closer of the two joggers", "front", None)])  # fmt: skip
def test_comparatives_pick_one_of_the_kind(instruction, spatial, size):
    target = parser.parse(instruction=instruction).target
    assert (target.spatial, target.size, target.attributes, target.all) == (spatial, size, (), False)


def test_a_comparative_as_the_change_is_still_a_change():
    assert parser.parse(instruction="make the kite higher").replacement == "higher"
    assert parser.parse(instruction="make the brighter lamp a bit dimmer").replacement == "dimmer"


@pytest.mark.parametrize("instruction,head,every", [("remove the pair of shoes by the door", "shoe", True),
                                                    ("get rid of the group of people on the left", "person", True),
                                                    ("make the flock of sheep on the hill white", "sheep", True),
                                                    ("put a party hat on every one of the guests", "guest", True),
                                                    ("erase one of the two lamps", "lamp", False),
                                                    ("remove the fishermen on the bridge", "fisherman", True)])  # fmt: skip
def test_groups_and_one_of_many(instruction, head, every):
    target = parser.parse(instruction=instruction).target
    assert (target.head, target.all, target.pronoun) == (head, every, None)


@pytest.mark.parametrize("instruction,direction,anchor", [("remove the bike chained to the railing", "next-to", "railing"),
                                                          ("make the car parked outside the garage red", "next-to", "garage"),
                                                          ("remove the toys scattered across the floor", "on", "floor"),
                                                          ("make the photo pinned to the fridge black and white", "on", "fridge"),
                                                          ("remove the woman seated at the table", "next-to", "table"),
                                                          ("delete the towel draped over the chair", "on", "chair"),
                                                          ("make the bird perched on the man's shoulder green", "on", "shoulder")])  # fmt: skip
def test_participles_place_the_target(instruction, direction, anchor):
    target = parser.parse(instruction=instruction).target
    assert (target.relation.direction, target.relation.anchor.head) == (direction, anchor)
    assert parser.parse(instruction="remove the car covered in snow").target.relation is None  # a look, not a place


@pytest.mark.parametrize("instruction,head,state", [("roll up his sleeves", "sleeve", "rolled up"),
                                                    ("tuck in the boy's shirt", "shirt", "tucked in"),
                                                    ("open her eyes", "eye", "open"),
                                                    ("turn on the lamp", "lamp", "switched on")])  # fmt: skip
def test_a_verb_that_changes_a_things_state(instruction, head, state):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", head, state)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("select the red car and paint it blue", "modify", "car", "blue"),
    ("remove the cat and put a dog there instead", "replace", "cat", "dog"),
    ("don't touch the dog, just remove the cat", "remove", "cat", None),
    ("leave the sky, but remove the birds", "remove", "bird", None),
    ("change nothing except the lamp colour, make it gold", "modify", "lamp", "gold"),
    ("swap the dog 4 a cat", "replace", "dog", "cat"),
    ("get rid off the bin", "remove", "bin", None),
])  # fmt: skip
def test_one_edit_said_with_a_second_verb(instruction, action, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,head", [
    ("remove the salt and pepper shakers", "pepper shaker"),  # one thing named with "and": still one object
    ("make the black and white cat orange", "cat"),
    ("delete the man on the left but keep the dog", "man"),  # keeping something else is what refedit does anyway
    ("turn the cat into a lion but keep the pose", "cat"),
    ("select the red car, then paint it blue", "car"),  # the second clause edits what the first named
])  # fmt: skip
def test_one_edit_with_and_or_but_is_still_one_edit(instruction, head):
    assert parser.parse(instruction=instruction).target.head == head


@pytest.mark.parametrize("instruction,says", [("remove the dog and make the sky blue", "two edits"),
                                              ("remove all the cars except the red one", "leave out"),
                                              ("paint every chair except the one on the left white", "leave out"),
                                              ("remove every other fence post", "every other")])  # fmt: skip
def test_two_edits_or_an_exception_are_refused_with_what_to_do(instruction, says):
    """refedit edits one referred object per instruction: two edits, "except" and "every other" are refused with a
    message that says so, not half done."""
    with pytest.raises(UnclearInstruction, match=says):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize("instruction,says", [
    ("remove the cat and the dog", r"names two objects \(the cat; the dog\).*'remove the cat', then 'remove the dog'"),
    ("make the left cup and the right cup red", r"'make the left cup red', then 'make the right cup red'"),
    ("remove the left cup and right cup", "names two objects"),
    ("remove both the cup and the plate", "names two objects"),
    ("get rid of the bins and the builder's van out front", "names two objects"),
    ("replace the cat with a dog and the dog with a cat", r"two edits.*'replace the cat with a dog', then 'replace the dog with a cat'"),
    ("change the car to red, and the bike to blue", "two edits"),
    ("swap the cat and the dog", "swaps two objects"),
    ("Remove the cup. Then make the plate blue.", r"two edits.*'remove the cup', then 'make the plate blue'"),
    ("get rid of the sepia and make it proper black and white", "two edits"),
    ("remove the umbrellas and brighten everyone's faces", "two edits"),
    ("please remove the groomsman's sunglasses and fix his wonky tie", "two edits"),
    ("pls crop out the parked cars and straighten the pic", "two edits"),
    ("Dear Sir, would you kindly remove the ice cream van and also lighten my husband's face?", "two edits"),
    ("just make the dessert look more appetising somehow", "how it should look"),
    ("make my character's voice deeper in this clip", "sound"),  # refused as a sound, not read from its phrases
    ("I wish the lighthouse on the headland had its lamp lit", "cannot tell"),  # a state, not an addition
    ("remove the cup! make the saucer white too", "two edits"),
    # an exploratory try (session 19): each dropped half the request and exited 0
    ("remove the lamp, then make the wall green", r"two edits.*'remove the lamp', then 'make the wall green'"),
    ("make the sofa red, the chair blue", r"two edits.*'make the sofa red', then 'make the chair blue'"),
    ("remove the cup + the plate", r"names two objects \(the cup; the plate\)"),
    ("remove the cup & the plate", "names two objects"),
    ("make the man and woman wear hats", r"'make the man wear hats', then 'make the woman wear hats'"),
    ("remove the cat and dog", "names two objects"),
    ("blur everything but the bride", "leave out"),
    ("make the dog red but leave its collar", "leave out"),
])  # fmt: skip
def test_two_objects_or_a_second_edit_are_refused_not_half_done(instruction, says):
    """A target that names two objects, a second object's replacement after "and", and a second command in a later
    sentence were each parsed as one edit of one object (the other one silently dropped): refused, with the two
    edits to give one at a time."""
    with pytest.raises(UnclearInstruction, match=says):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize("instruction,head", [
    ("remove the black and white cat", "cat"),  # two looks of one object
    ("remove the vase between the car and the table", "vase"),  # the "and" joins a relation's objects
    ("remove the man with the hat and the scarf", "man"),
    ("remove the cup. make it blue", "cup"),  # a later sentence on the same object
    ("remove the cup. make sure the table looks natural", "cup"),
    ("there are three cups. remove the left one", "cup"),
    ("Remove the dog. Thanks!", "dog"),
])  # fmt: skip
def test_one_object_with_and_or_later_sentences_still_parses(instruction, head):
    assert parser.parse(instruction=instruction).target.head == head


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("make the harness dusty sage", "modify", "harness", "dusty sage"),  # 'harness' tagged as an adjective
    ("make the harness sage green", "modify", "harness", "sage green"),
    ("paint the front door taupe", "modify", "front door", "taupe"),
    ("Would you be able to remove the lipstick mark on the wine glass?", "remove", "lipstick mark", None),
    ("could you possibly make the door red", "modify", "door", "red"),
    ("Please redact the account number on the bank statement.", "remove", "account number", None),
    ("pull up the thistles by the fence", "remove", "thistle", None),
    ("the poster, could it say CANCELLED", "modify", "text", "CANCELLED"),
    ("the settee, could it go back to green?", "modify", "settee", "green"),
    ("the snot on his nose, pls remove", "remove", "snot", None),
    ("omg the snot on his nose 😂 pls remove before i send to grandma", "remove", "snot", None),
    ("make the maple on the right bright red like it's October", "modify", "maple", "bright red"),
    ("Picture day! The boy second from the right is crying, could he be smiling?", "modify", "boy", "smiling"),
    ("sauce more glossy pls", "modify", "sauce", "more glossy"),
    ("wish the sky over the fjord had the northern lights in it", "add", "sky", "northern lights"),
    ("It rained the whole time. I wish it looked like cherry blossom season", "global", "image", "cherry blossom season"),
    ("Could you do a version where the chest of drawers is duck-egg blue?", "modify", "chest of drawers", "duck-egg blue"),
    ("Can you show me the walls in a soft terracotta?", "modify", "wall", "soft terracotta"),
    ("product photo needs a plain white background so it looks professional", "replace", "region", "plain white background"),
    ("Would it be possible to bring this old photo of Mum and Dad back into colour?", "global", "image", "in full colour"),
    ("replace the cup of tea with a glass of wine", "replace", "cup of tea", "glass of wine"),
    ("ugh the velvet armchair is covered in dog hair 🙈 pls erase it", "remove", "dog hair", None),  # not the armchair
    ("my toddler drew on his face with marker 🙈 can you clean it off", "remove", "marker", None),  # not the toddler
    ("the girl on the swings has chocolate all round her mouth, please wipe it off", "remove", "chocolate", None),
    ("the velvet armchair is covered in dog hair, make it blue", "modify", "armchair", "blue"),
    ("the sticker on the laptop, peel it off", "remove", "sticker", None),
    ("It poured the whole ceremony. Please make it look like a sunny afternoon", "global", "image", "sunny afternoon"),
    ("that ceiling fan is so dated, could it be a rattan pendant light instead?", "replace", "ceiling fan", "rattan pendant light"),
    ("remov the chewed-up tennis ball by the water bowl", "remove", "tennis ball", None),
    ("give everyone in the front row a party hat", "add", "person", "party hat"),
    ("swap my avocado toast for a stack of pancakes in this one, it's for my brunch page lol", "replace", "avocado toast",
     "stack of pancakes"),
    ("bike chain is rusty af, make it look brand new", "modify", "bike chain", "brand new"),
    ("The kitchen is dim. Can you make the picture warmer and more appetising?", "global", "image", "warmer and more appetising"),
    ("Good afternoon, I hope this finds you well. I was wondering whether it might be possible to remove the ladder in the "
     "attached photograph. Many thanks in advance, Peter", "remove", "ladder", None),
    ("To whom it may concern, I would be most grateful if the lamppost behind my daughter could be removed.", "remove", "lamppost",
     None),
    ("hey remove the dog lead by the front door period", "remove", "dog lead", None),
    ("menu shot: the burger bun looks pale, make it golden and toasted", "modify", "burger bun", "golden and toasted"),
    ("rm bollard L", "remove", "bollard", None),
    ("2nd bottle from R -> amber glass", "modify", "bottle", "amber glass"),
    ("add: paraglider, above ridge", "add", "ridge", "paraglider"),
    ("bg -> pure white #FFFFFF", "modify", "region", "pure white #ffffff"),
    ("largest rock: moss-covered", "modify", "rock", "moss-covered"),
    ("global: teal/orange grade", "global", "image", "teal/orange grade"),
    ("the banner behind the team says CHAMPIONS 2023, change it to CHAMPIONS 2024", "modify", "banner", "CHAMPIONS 2024"),
    ("the kid second from the left has his hood up. can it be down?", "modify", "hood", "down"),
    ("the satin skirt is full of creases, can you steam them out", "remove", "crease", None),
    ("the con badge hanging round my neck ruins the vibe, yeet it", "remove", "con badge", None),
    ("make the scan less yellow and a bit more contrasty", "global", "image", "less yellow and more contrasty"),
    # no template: the command's phrases (a look verb, the object's noun phrase, the look; an attaching verb, a thing, its place)
    ("make the night sky full of stars", "modify", "night sky", "full of stars"),
    ("make the rocking horse white with grey spots", "modify", "rocking horse", "white with grey spots"),
    ("recolour the sofa to Pantone 18-1438 Marsala", "modify", "sofa", "Pantone 18-1438 Marsala"),
    ("clip a leash onto the puppy's collar", "add", "collar", "leash"),
    ("add steam rising from the coffee", "add", "coffee", "steam"),
    ("our head teacher asked if the ink stain on her blouse could be taken out", "remove", "ink stain", None),
    ("Chef wants the garlic bread on the third plate swapped for a green salad", "replace", "bread", "green salad"),
    ("give my wig a more vibrant pink, it photographed kinda washed out", "modify", "wig", "more vibrant pink"),
    ("brighten the whole interior", "global", "image", "brighter"),  # the scene's light, not an object
    ("make the light in the photo warmer like a sunset glow", "global", "image", "warmer"),
    ("the light was so flat that day, can you make it look like late afternoon sun", "global", "image", "late afternoon sun"),
    ("make the light above the table red", "modify", "light", "red"),  # a lamp
    ("make the white balance warmer", "global", "image", "warmer"),
    ("replace the 🐶 with a 🐱", "replace", "dog", "cat"),  # emoji where nouns stand
    ("make the 🚗 red", "modify", "car", "red"),
    ("add a 🎈 next to the kid", "add", "kid", "balloon"),
    ("change the dress to navy with white polka dots", "modify", "dress", "navy with white polka dots"),  # a look and its detail
    ("my uncle has frosting all over his chin 😂 pls clean it up", "remove", "frosting", None),
    ("my dad's hands are covered in grease, can you clean them up a bit", "remove", "grease", None),
    ("she's got sunscreen streaks on her nose lol, can you blend them in", "remove", "sunscreen streak", None),
    ("the mug has a coffee ring on it, wipe it off", "remove", "coffee ring", None),  # not the mug (session 14)
    ("the window has fingerprints all over it, can you clean them off", "remove", "fingerprint", None),
    ("the mug has a coffee ring on it, make it blue", "modify", "mug", "blue"),  # only a removal takes the soiling
    ("Quick question — is it possible to swap the mug on my desk for a plant?", "replace", "mug", "plant"),
    ("Good afternoon. I was hoping you could add some snow to the rooftops. Kind regards, Tom", "add", "rooftop", "snow"),
    ("the soup needs a bit of steam rising off it", "add", "soup", "steam"),
    ("need a colourway of this dress in emerald for the site", "modify", "dress", "emerald"),
    ("declutter the kitchen worktops", "remove", "clutter", None),
    ("the model in the second photo is wearing sunglasses, could they be removed please?", "remove", "sunglasses", None),
    ("the boy is wearing a hat, make it red", "modify", "hat", "red"),  # "it" is the hat, not the boy
    ("the lady in the navy blazer. tidy up her hair, it's all flyaways", "modify", "hair", "tidier"),  # not removed
    ("clean up the hair on the sofa", "remove", "hair", None),
    ("make the colours more muted", "global", "image", "more muted"),
    ("paint the grey fence off white", "modify", "fence", "off white"),
    ("make the crowns brighter colours", "modify", "crown", "brighter colours"),
    ("turn the car into a red car with stripes", "replace", "car", "red car with stripes"),
    ("why does my skin look so orange in this 😩 make it less orange pls", "modify", "skin", "less orange"),  # a mood
    ("Could the faded ink of the signature be made darker so that it is legible?", "modify", "ink", "darker"),
])  # fmt: skip
def test_phrasings_found_in_session_13(instruction, action, head, replacement):
    """Phrasings the parser refused or misread (round 16, and trying it as a user): paint-chart colour names, polite
    openers, removal verbs, a clause naming the object and a short question or bare verb after it, and a message
    whose first sentence is only context."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,action,head,spatial,replacement", [
    ("Long story short, we broke up. He's the guy on the far left. Erase him please, thank you!", "remove", "guy", "left", None),
    ("I'm making a birthday card for my niece. She's the girl in the purple dress. Put a unicorn next to her!", "add", "girl",
     None, "unicorn"),
    ("The cake looks a bit plain. Put some sprinkles on it, please! It's for my son's 5th birthday.", "add", "cake", None,
     "sprinkles"),
    ("We're selling our flat next month. Please remove the rack from the balcony so the photo looks tidier.",
     "remove", "rack", None, None),
    ("lol perfect, now give her sunglasses", "add", "person", None, "sunglasses"),
    ("Instead of the vase, place a lamp", "replace", "vase", None, "lamp"),
])  # fmt: skip
def test_backstory_is_dropped_and_a_pronoun_is_what_the_message_named(instruction, action, head, spatial, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.spatial, plan.replacement) == (action, head, spatial, replacement)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("take the toy out of the baby's hand", "remove", "toy", None),
    ("unclip the leash from the dog's collar", "remove", "leash", None),
    ("wipe the crumbs off the toddler's high chair", "remove", "crumb", None),
    ("knock out the streetlight in the corner", "remove", "streetlight", None),
    ("chuck the empty pizza boxes", "remove", "pizza box", None),
    ("mind removing the stroller?", "remove", "stroller", None),
    ("the ladder leaning on the house is to be removed", "remove", "ladder", None),
    ("give me a version without the scaffolding", "remove", "scaffolding", None),
    ("swap in a red vintage bicycle for the scooter", "replace", "scooter", "red vintage bicycle"),
    ("bring in a golden retriever next to the sofa", "add", "sofa", "golden retriever"),
    ("pop a party hat on the birthday boy", "add", "birthday boy", "party hat"),
    ("let there be a rainbow over the hills", "add", "hill", "rainbow"),
    ("I'd like a snowman in the front yard", "add", "front yard", "snowman"),
    ("cut her hair to shoulder length", "modify", "hair", "shoulder-length"),
    ("make the truck's headlights glow", "modify", "headlight", "glowing"),
    ("change her lipstick to a deep berry shade", "modify", "lipstick", "deep berry"),
    ("paint the accent wall behind the bed a deep navy", "modify", "accent wall", "deep navy"),
    ("turn it back into a cat", "replace", "object", "cat"),
    ("can you make it less orange", "modify", "object", "less orange"),
    ("remove it completely", "remove", "object", None),
    ("My mum hates the tattoo on my arm. Remove it before I send her this photo lol", "remove", "tattoo", None),
])  # fmt: skip
def test_everyday_verbs_and_follow_ups(instruction, action, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction", ["now move it a bit to the left", "rotate the car", "flip the sign"])
def test_moving_or_turning_is_refused_not_misread(instruction):
    """'move' is no slip of 'remove': refedit edits objects where they are, and says so."""
    with pytest.raises(UnclearInstruction, match="where it is"):
        parser.parse(instruction=instruction)
    assert parser.parse(instruction="crop out the man on the right").action == "remove"
    assert parser.parse(instruction="make it look like a painting by van gogh").action == "global"


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("sooo the dog photobombed our family pic 😂 can you turn him into a cat?", "replace", "dog", "cat"),
    ("yo can u make my truck matte black 🔥🔥", "modify", "truck", "matte black"),
    ("Hiii 😊 could you please make my dress red? It's for a party tonight!", "modify", "dress", "red"),
    ("remove the 🐶 dog", "remove", "dog", None),
    ("Hello! I hope you're well. I was wondering whether you could remove the scaffolding from the church tower in my "
     "photo. Many thanks, Margaret", "remove", "scaffolding", None),
    ("Posting for my mum: she'd like the washing line in the back garden taken out. She'll be chuffed!", "remove",
     "washing line", None),
    ("Not sure if this is possible but could you add a little bunny next to my daughter? She loves bunnies 🐰", "add",
     "daughter", "little bunny"),
    ("i love this pic but the flagpole is sticking out of my head haha. can u remove it?", "remove", "flagpole", None),
    ("LOL my brother is making a weird face, can u make him smile?", "modify", "brother", "smiling"),
    ("take the dog that's chewing on the slipper and make him a golden retriever", "replace", "dog", "golden retriever"),
    ("the second window from the left on the top floor should be lit up", "modify", "window", "lit up"),
    ("could the taller of the two lamps on the dresser be brass instead of silver?", "modify", "lamp", "brass"),
    ("take the painting off the wall above the fireplace and put a mirror there instead", "replace", "painting", "mirror"),
    ("don't touch the kids, just get rid of the ball next to them", "remove", "ball", None),
    ("give the sofa a velvet finish", "modify", "sofa", "velvet finish"),
    ("make her dress floor length", "modify", "dress", "floor-length"),
    ("make the whole picture sepia", "global", "image", "sepia"),
    ("cool down the colours a bit", "global", "image", "cooler"),
])  # fmt: skip
def test_chat_messages_with_emoji_fillers_and_sign_offs(instruction, action, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,says", [("Can you remove the dog and also brighten the photo a bit? thx", "two edits"),
                                              ("straighten the horizon", "where it is")])  # fmt: skip
def test_more_that_is_not_one_edit_in_place(instruction, says):
    with pytest.raises(UnclearInstruction, match=says):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize("instruction,head,replacement", [
    ("make the second wooden chair from the left at the long dining table a dark walnut colour", "chair", "dark walnut"),
    ("make the tablecloth gingham", "tablecloth", "gingham"),
    ("make her dress red", "dress", "red"),
    ("paint them gold", "object", "gold"),
])  # fmt: skip
def test_a_look_named_as_a_colour_and_objects_the_tagger_misreads(instruction, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", head, replacement)


def test_what_i_want_is_for():
    plan = parser.parse(instruction="what I want is for the truck in the background to become a fire engine")
    assert (plan.action, plan.target.head, plan.target.spatial, plan.replacement) == ("replace", "truck", "back", "fire engine")


@pytest.mark.parametrize("kind", ["plain", "attribute", "spatial", "ordinal", "size", "all", "spatial-attribute",
                                  "all-attribute"])  # fmt: skip
def test_every_synthetic_eval_expression_parses(kind):
    """`refedit eval`'s synthetic sets ask "make <expression> blue" of shapes: "the smallest square", a shape word
    that is also an adjective, was refused (the target lost its noun), so those edits never ran."""
    import numpy as np

    from refedit.eval import synth

    rng = np.random.default_rng(0)
    for _ in range(12):
        scene = synth.make_scene(rng, 128, kind)
        cls = scene.shapes[scene.targets[0]].cls
        plan = parser.parse(instruction=f"make {scene.expression} blue")
        assert (plan.action, plan.target.head, plan.replacement) == ("modify", cls, "blue"), scene.expression
        assert plan.target.all == kind.startswith("all"), scene.expression


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("Would you be so kind as to remove the gentleman in the blue cardigan standing behind my wife?", "remove", "gentleman",
     None),
    ("I should like the sky in this photograph to look rather more blue, if that is possible.", "modify", "sky", "more blue"),
    ("I'd be ever so grateful if you could take the pigeons off the statue in the square.", "remove", "pigeon", None),
    ("Could you kindly make the hedge look a little neater?", "modify", "hedge", "neater"),
    ("sky needs to be more purple ngl", "modify", "sky", "more purple"),
    ("make the pic look vintage af ✨", "global", "image", "vintage"),
    ("blur my friend's face pls she didnt want to be posted", "modify", "face", "blurred"),
    ("show the sneakers in red instead of white", "modify", "sneaker", "red"),
    ("make the gold necklace rose gold for the variant photo", "modify", "necklace", "rose gold"),
    ("give the puppy a little bow tie for his birthday photo", "add", "puppy", "little bow tie"),
    ("make the flower girl's dress ivory to match the bride", "modify", "dress", "ivory"),
    ("reupholster the armchair in emerald velvet", "modify", "armchair", "emerald velvet"),
    ("recolour the logo on the tote bag to #FF5733", "modify", "logo", "#FF5733"),
    ("shift the hue of the rug to a dusty rose", "modify", "rug", "dusty rose"),
    ("desaturate the background by about 30%", "modify", "region", "desaturated"),
    ("please make brighter this photo, is very dark", "global", "image", "brighter"),
    ("i want that the car is red colour", "modify", "car", "red"),
    ("can you to change the bicycle with a motorbike", "replace", "bicycle", "motorbike"),
    ("add in the sky some birds", "add", "sky", "birds"),
    ("the second car from right, please paint to yellow", "modify", "car", "yellow"),
    ("this boy please give him a ball", "add", "boy", "ball"),
    ("remove that bottle on the table who is green", "remove", "bottle", None),
    ("put the dog in a superhero cape", "add", "dog", "superhero cape"),
    ("remove the second-to-last book on the shelf", "remove", "book", None),
    ("change the tablecloths from white to blush pink", "modify", "tablecloth", "blush pink"),
    ("make the coffee table travertine instead of oak", "modify", "coffee table", "travertine"),
])  # fmt: skip
def test_ten_kinds_of_user(instruction, action, head, replacement):
    """Phrasings of probe round 8 (a teen on a phone, a retiree, a seller, a designer, a learner of English ...)."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("warm up the whole shot a little, the hotel lighting made everything look blue", "global", "image", "warmer"),
    ("remove the referee, he's blocking the tackle", "remove", "referee", None),
    ("brighten the photo, the office looks gloomy", "global", "image", "brighter"),
    ("the pink scooter by the door, can it be blue?", "modify", "scooter", "blue"),
    ("My daughter is the one on the swing. Could you give her pigtails? She's begging me lol", "add", "daughter", "pigtails"),
    ("My grandson is the boy on the right. Would it be possible to give him a sun hat?", "add", "boy", "sun hat"),
    ("darken the background so the owl stands out more", "modify", "region", "darker"),
    ("add confetti falling over the crowd", "add", "crowd", "confetti"),
    ("park a red convertible next to the blue van", "add", "van", "red convertible"),
    ("switch the headlights on", "modify", "headlight", "switched on"),
    ("make the number on his back 23", "modify", "number", "23"),
    ("change the date on the event poster to March 14", "modify", "date", "March 14"),
    ("Could you please change the title on the book cover to 'The Long Way Home'? It's for my self-published novel.",
     "modify", "title", "The Long Way Home"),
    ("remove the empty glasses on the bar", "remove", "glass", None),
    ("make the roses on the trellis yellow", "modify", "rose", "yellow"),
    ("peel the sticker off the rear window", "remove", "sticker", None),
])  # fmt: skip
def test_reasons_after_the_command_and_figures_as_wording(instruction, action, head, replacement):
    """Phrasings of probe round 9: a reason after a comma is not the edit, numbers and dates are new wording kept as
    typed, a pronoun is what the sentence before said the person is."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,attributes,spatial", [("remove the cup, the one that is red", ("red",), None),
                                                            ("remove the cat, which is on the left", (), "left"),
                                                            ("remove the cat, it is on the left", (), "left"),
                                                            ("remove the car, the one on the left", (), "left"),
                                                            ("remove the car, the blue one", ("blue",), None)])  # fmt: skip
def test_a_clause_after_the_command_that_says_which_one_is_kept(instruction, attributes, spatial):
    """A reason after a comma is dropped, but a clause that picks the object out is part of the target."""
    target = parser.parse(instruction=instruction).target
    assert (target.attributes, target.spatial, target.pronoun) == (attributes, spatial, None)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("!edit remove the traffic cone", "remove", "traffic cone", None),
    ("/edit replace sky with aurora", "replace", "sky", "aurora"),
    ("!edit swap pizza w/ sushi", "replace", "pizza", "sushi"),
    ("add um a couple of seagulls over the water", "add", "water", "couple of seagulls"),
    ("okay so change the color of the couch to like a dark green", "modify", "couch", "dark green"),
    ("Turn my cat into a lion (serious request, will tip)", "replace", "cat", "lion"),
    ("delete the sign (top left)", "remove", "sign", None),
    ("Need the power lines gone from our sunset shot", "remove", "power line", None),
    ("beach day!! just need the sky bluer and we're good", "modify", "sky", "bluer"),
    ("sunset at the pier 🌅 but the seagull on the railing has to go", "remove", "seagull", None),
    ("ok but why is there a traffic cone behind me 😭 remove it pls", "remove", "traffic cone", None),
    ("why does my skin look so orange in this 😩 make it less orange pls", "modify", "skin", "less orange"),
    ("gym mirror selfie but the mirror's filthy, can u clean off the smudges", "remove", "smudge", None),
    ("I'm making a birthday card for my mom. Could someone give her a party hat? She's the woman on the left in the blue "
     "top.", "add", "woman", "party hat"),
    ("give the statue of Lincoln a graduation cap", "add", "statue", "graduation cap"),
    ("add a T. rex next to the school bus", "add", "school bus", "T. rex"),
    ("put a creeper right behind the guy on the couch", "add", "guy", "creeper"),
    ("add my late father standing next to my mom", "add", "mom", "late father"),
    ("the frog on the left should be holding a knife", "add", "frog", "knife"),
    ("make the whole screenshot look like a ps1 game", "global", "image", "ps1 game"),
    ("leave the sky, but remove the birds", "remove", "bird", None),
])  # fmt: skip
def test_bot_commands_voice_and_captions(instruction, action, head, replacement):
    """Phrasings of probe round 10: chat-bot prefixes, transcribed speech, social captions, forum titles."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("/edit make everyone wear santa hats", "add", "person", "santa hats"),
    ("colorize this old photo of my parents' wedding", "global", "image", "in full colour"),
    ("replace the modern car with a horse and carriage for our history project", "replace", "car", "horse and carriage"),
    ("make the cloudy sky in the exterior shot sunny and blue", "modify", "sky", "sunny and blue"),
])  # fmt: skip
def test_everyone_colorize_and_the_photo_as_no_anchor(instruction, action, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)
    assert plan.target.relation is None


def test_two_things_each_with_its_look_is_two_edits():
    with pytest.raises(UnclearInstruction, match="two edits"):
        parser.parse(instruction="make the grass greener and uh the sky a bit bluer")
    assert parser.parse(instruction="make the car red and white").replacement == "red and white"  # one look, two colours


@pytest.mark.parametrize("instruction,head,relation", [
    ("honestly the lamp looks awful. could you swap it for a plant", "lamp", None),
    ("the bike leaning on the wall — paint it orange", "bike", ("on", "wall")),
])  # fmt: skip
def test_tried_as_a_new_user_at_the_end_of_session_9(instruction, head, relation):
    """'honestly' leads into the sentence that names the lamp; a posture before a place keeps the place."""
    target = parser.parse(instruction=instruction).target
    got = None if target.relation is None else (target.relation.direction, target.relation.anchor.head)
    assert (target.head, target.pronoun, got) == (head, None, relation)


@pytest.mark.parametrize("instruction,head,spatial", [
    ("Making a poster for our band's first gig. Can someone turn the drummer into a skeleton? He's the one at the back.",
     "drummer", "back"),
    ("turn the drummer into a skeleton, the one at the back", "drummer", "back"),
    ("give her a party hat. She's the one on the left.", "person", "left"),
])  # fmt: skip
def test_who_is_meant_said_after_the_command_qualifies_its_object(instruction, head, spatial):
    """'he's the one at the back' picks the object out; it is not part of the new object ('skeleton at the back')."""
    plan = parser.parse(instruction=instruction)
    assert (plan.target.head, plan.target.spatial) == (head, spatial)
    assert "back" not in (plan.replacement or "") and "left" not in (plan.replacement or "")


def test_a_top_after_its_colour_is_the_garment_not_a_side():
    plan = parser.parse(instruction="make the girl's striped top red")
    assert (plan.target.head, plan.target.attributes, plan.target.spatial) == ("top", ("striped",), None)
    assert parser.parse(instruction="remove the woman in the blue top").target.spatial is None
    assert parser.parse(instruction="remove the red car at the top").target.spatial == "top"  # still a side


@pytest.mark.parametrize("instruction", ["remove the other cat", "My cat is the orange one. Please remove the other cat.",
                                         "make the other one blue"])  # fmt: skip
def test_the_other_one_is_asked_back(instruction):
    with pytest.raises(UnclearInstruction, match="say which"):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize("instruction,head,pronoun,replacement", [
    ("hand him a balloon", "person", "him", "balloon"),
    ("get her a hat", "person", "her", "hat"),
    ("buy the kids some ice cream", "kid", None, "ice cream"),
    ("get the girl to hold a balloon", "girl", None, "balloon"),  # not "the girl to hold"
])  # fmt: skip
def test_giving_verbs_add_to_the_receiver(instruction, head, pronoun, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.pronoun, plan.replacement) == ("add", head, pronoun, replacement)


@pytest.mark.parametrize("instruction,replacement", [
    ("make the planet in the middle look like Mars", "Mars"),
    ("replace the dog with a Shiba Inu", "Shiba Inu"),
    ("add a T. rex next to the school bus", "T. rex"),
    ("make the car RED", "red"),  # emphasis
    ("Make The Lamp Gold", "gold"),  # every word capitalised
    ("REPLACE THE CAT WITH A TIGER", "tiger"),  # shouted
])  # fmt: skip
def test_names_in_the_new_object_keep_their_capitals(instruction, replacement):
    assert parser.parse(instruction=instruction).replacement == replacement


@pytest.mark.parametrize("instruction,head,relation", [
    ("scrub the graffiti off the underpass wall", "graffiti", ("on", "underpass wall")),
    ("scoop the dead leaves out of the pool", "leaf", ("in", "pool")),
    ("hide the wifi router on the bookshelf", "wifi router", ("on", "bookshelf")),
    ("take down the lantern in the middle", "lantern", None),
    ("get the wrinkles out of the linen shirt", "wrinkle", ("in", "shirt")),
    ("get rid of the creases in the groom's trousers", "crease", ("in", "trousers")),
    ("remove the man in the blue jacket", "man", ("with", "jacket")),  # wearing it: no place, what he has on
])  # fmt: skip
def test_removal_verbs_and_what_is_in_a_garment(instruction, head, relation):
    plan = parser.parse(instruction=instruction)
    got = None if plan.target.relation is None else (plan.target.relation.direction, plan.target.relation.anchor.head)
    assert (plan.action, plan.target.head, got) == ("remove", head, relation)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("I'd really appreciate it if you could get rid of the crane on the skyline.", "remove", "crane", None),
    ("May I ask you to remove the woman jogging in the background?", "remove", "woman", None),
    ("Is there any chance you could make the lake look less murky? We're using it for our rental ad.", "modify", "lake",
     "less murky"),
    ("Thanks so much for the last edit! One more thing: could you put a little lantern on the picnic table?", "add",
     "picnic table", "little lantern"),
    ("okay last one I promise 😅 the bin next to the bench, can it go?", "remove", "bin", None),
    ("could you make the roses a deeper red for her?", "modify", "rose", "deeper red"),
    ("ugh our waiter walked right into the frame 🙄 can you get rid of him?", "remove", "waiter", None),
    ("Honestly the photo is fine except for the kid in the green hoodie picking his nose lol. Remove him pls", "remove",
     "kid", None),
    ("I've got two dogs in this pic. Put a bandana on the smaller one.", "add", "dog", "bandana"),
    ("Remember the blue bike by the gate? Swap it for a red scooter.", "replace", "bike", "red scooter"),
    ("There are three paper lanterns hanging from the porch roof. Take down the one in the middle.", "remove", "paper lantern",
     None),
    ("see the woman by the door? make her blonde", "modify", "woman", "blonde"),
])  # fmt: skip
def test_messages_of_round_12_and_13_kinds(instruction, action, head, replacement):
    """Polite openers, 'can it go?', and the object an earlier sentence names ('our waiter walked into the frame',
    'fine except for the kid', 'I've got two dogs', 'remember the blue bike') for the pronoun or 'the smaller one'."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)
    assert plan.target.pronoun is None


@pytest.mark.parametrize("instruction,owned,owner", [
    ("girl in the pink dress, make her hair curly pls", "hair", "girl"),
    ("see the woman by the door? remove her hat", "hat", "woman"),
    ("see the bride? make her party dress red", "party dress", "bride"),
])  # fmt: skip
def test_her_after_a_named_person_owns_what_follows(instruction, owned, owner):
    target = parser.parse(instruction=instruction).target
    assert (target.head, target.relation.direction, target.relation.anchor.head) == (owned, "of", owner)


@pytest.mark.parametrize("slip,word", [("tabel", "table"), ("curtians", "curtains"), ("umbrela", "umbrella"), ("cofee", "coffee"),
                                       ("bakground", "background"), ("rigth", "right"), ("rght", "right"),
                                       ("sunglases", "sunglasses"), ("neckalce", "necklace"),
                                       ("giraff", "giraffe"),
                                       ("dgo", "dog"), ("bxo", "box")])  # fmt: skip (three letters: a swap)
def test_slips_of_the_keyboard_are_put_right(slip, word):
    from refedit.pipeline.parse.spelling import correction

    assert correction(slip) == word


@pytest.mark.parametrize("word", ["airbrush", "juicier", "photobombed", "sunburnt", "lounger", "dapple", "beaker", "sprig",
                                  "gild", "pics", "vibes", "monstera", "café", "bandana", "thermos", "hamster", "zellige", "greige", "kitten", "table",
                                  "streaks", "mono"])  # fmt: skip ("streaks" was read as "steaks": its singular is a word)
def test_words_one_letter_from_an_object_stay_as_typed(word):
    """Rare words the spaCy vocabulary lacks are no slips: a missed first letter ('airbrush': hairbrush), an inflection
    ('juicier': juicer), a stray letter in a short word ('dapple': apple, 'beaker': baker), a short word one letter
    from another ('sprig': spring, 'gild': gold, 'pics': picks)."""
    from refedit.pipeline.parse.spelling import correction

    assert correction(word) is None


def test_the_known_words_do_not_grow_with_what_is_parsed():
    from refedit.pipeline.nlp import known_words

    parser.parse(instruction="make the zorbles on the tabel blue")
    assert "zorbles" not in known_words() and "tabel" not in known_words()


@pytest.mark.parametrize("instruction,head,spatial,ordinal,replacement", [
    ("remoev the umbrela", "umbrella", None, None, None),
    ("replace teh cofee cup with a teapot", "coffee cup", None, None, "teapot"),
    ("i want the curtians white", "curtain", None, None, "white"),
    ("the vase on the rigth shud be gold", "vase", "right", None, "gold"),
    ("remove the 2nd stool frm the left pls", "stool", "left", 2, None),
    ("pls make the sea abit less green", "sea", None, None, "less green"),
    ("get rid of the guy in the bakground", "guy", "back", None, None),
    ("replcae the bread w a croissant", "bread", None, None, "croissant"),
    ("can u make the 2nd bike from rigth blue", "bike", "right", 2, "blue"),
    ("change the sign to say 'Tabel 5'", "text", None, None, "Tabel 5"),  # new wording stays as typed
])  # fmt: skip
def test_phone_typing(instruction, head, spatial, ordinal, replacement):
    target = (plan := parser.parse(instruction=instruction)).target
    assert (target.head, target.spatial, target.ordinal, plan.replacement) == (head, spatial, ordinal, replacement)


@pytest.mark.parametrize("instruction,head,replacement", [
    ("make the 2nd mailbox from the left fire-engine red", "mailbox", "fire-engine red"),
    ("make the pony closest to the camera dapple grey", "pony", "dapple grey"),
    ("colour the third beach umbrella from the right tangerine", "beach umbrella", "tangerine"),
    ("make the backpack tie-dye", "backpack", "tie-dye"),
    ("make his tie polka dot", "tie", "polka dot"),
    ("make the pavement cobblestone", "pavement", "cobblestone"),
    ("make the thermos next to the sewing machine yellow", "thermos", "yellow"),
    ("make the watering can cobalt blue", "watering can", "cobalt blue"),
    ("make the red t-shirt blue", "t-shirt", "blue"),
])  # fmt: skip
def test_shades_patterns_and_compound_names(instruction, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", head, replacement)


@pytest.mark.parametrize("instruction,head,relation,spatial", [
    ("remove the cyclist riding on the sidewalk", "cyclist", ("on", "sidewalk"), None),
    ("remove the oil painting on the wall", "oil painting", ("on", "wall"), None),  # a noun in -ing
    ("remove the tall man in the back row", "man", None, "back"),
    ("There's a pink pool float in the shot that I can't stand. Could you make it plain blue instead?", "pool float", None,
     None),
])  # fmt: skip
def test_participles_rows_and_a_compound_the_tagger_calls_a_verb(instruction, head, relation, spatial):
    target = parser.parse(instruction=instruction).target
    got = None if target.relation is None else (target.relation.direction, target.relation.anchor.head)
    assert (target.head, got, target.spatial) == (head, relation, spatial)


@pytest.mark.parametrize("instruction,action,head,pronoun,replacement", [
    ("hmm make it a little smaller", "modify", "object", "it", "smaller"),  # the object's size, not the picture's
    ("make it brighter", "global", "image", None, "brighter"),
    ("make it look like a thunderstorm is rolling in", "global", "image", None, "thunderstorm is rolling in"),
    ("make it look like a cat", "replace", "object", "it", "cat"),
    ("add snow everywhere", "global", "image", None, "snow"),
    ("add some fog", "global", "image", None, "fog"),
    ("add snow to the roof", "add", "roof", None, "snow"),
    ("convert to sepia", "global", "image", None, "sepia"),
    ("switch this to blue hour", "global", "image", None, "blue hour"),
    ("make them all wear sombreros", "add", "object", "them", "sombreros"),
    ("give them all matching scarves", "add", "object", "them", "matching scarves"),
])  # fmt: skip
def test_it_them_all_and_whole_picture_effects(instruction, action, head, pronoun, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.pronoun, plan.replacement) == (action, head, pronoun, replacement)


@pytest.mark.parametrize("instruction,says", [
    ("can you make the waterfall move like a gif?", "motion"),
    ("animate the flag", "motion"),
    ("make half of the balloons green", "half of them"),
    ("remove some of the leaves", "some of them"),
    ("swap the cat for a rabbit and put a carrot next to it", "two edits"),
    ("make it look like the photo was taken from above", "viewpoint"),
])  # fmt: skip
def test_motion_shares_of_a_group_a_second_addition_and_viewpoints_are_refused(instruction, says):
    with pytest.raises(UnclearInstruction, match=says):
        parser.parse(instruction=instruction)
    assert parser.parse(instruction="replace the plain white box with a kraft paper gift box").action == "replace"  # not a gif
    assert parser.parse(instruction="remove the cat and put a dog there").action == "replace"  # one edit


@pytest.mark.parametrize("instruction,head,owner", [
    ("make the car's wheels black", "wheel", "car"),
    ("make his shoes bright orange", "shoe", "person"),
    ("turn the leaves of the tree orange", "leaf", "tree"),
])  # fmt: skip
def test_a_plural_part_of_one_owner_is_all_of_its_parts(instruction, head, owner):
    """'all' true: the resolver keeps the parts its relation to the owner allows and, with 'all' false, would edit
    only the nearest one (one wheel of the car)."""
    target = parser.parse(instruction=instruction).target
    assert (target.head, target.all, target.relation.direction, target.relation.anchor.head) == (head, True, "of", owner)


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("could the giraffe on the left be wearing a scarf?", "add", "giraffe", "scarf"),
    ("Could the sky be blue instead of grey? It rained the whole week we were there", "modify", "sky", "blue"),
    ("clone out the fire alarm above the head table", "remove", "fire alarm", None),
    ("spawn a treasure chest in front of the fireplace lol", "add", "fireplace", "treasure chest"),
    ("give the sky over the vineyard a soft peach glow", "modify", "sky", "soft peach glow"),
    ("make the hamster absolutely massive", "modify", "hamster", "massive"),
    ("make the bald guy's head shiny like a bowling ball", "modify", "head", "shiny"),
    ("delete the bicycle which is in front the shop", "remove", "bicycle", None),
    ("swap the thrid penguin from the left for a puffin", "replace", "penguin", "puffin"),
    ("my shoes r so dirty make them white again", "modify", "shoe", "white"),
    ("Might the faded photograph be given a little more colour? It has gone rather yellow.", "global", "image", "more colour"),
    ("can u make the kitchen pic black and white", "global", "image", "black and white"),
    ("the couple's first kiss shot, can you make it black and white", "global", "image", "black and white"),
    ("The sky is a little dull. Would you be so good as to make it a clearer blue?", "modify", "sky", "clearer blue"),
    ("I should be obliged if the dustbins at the end of the garden could be removed.", "remove", "dustbin", None),
    ("the dated pine cabinets need to look like modern sage shaker units", "replace", "cabinet", "modern sage shaker units"),
    ("The duck in the middle should look like a swan", "replace", "duck", "swan"),
    ("the lion looks so sleepy lol, make him roar", "modify", "lion", "roaring"),
])  # fmt: skip
def test_formal_learner_and_run_on_messages(instruction, action, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction,says", [
    ("make the house look more expensive", "how it should look"),
    ("can u make this pic go viral lol", "how it should look"),
    ("can you widen the shot so the whole garden fits in", "reframes"),
])  # fmt: skip
def test_vague_qualities_and_reframing_are_refused(instruction, says):
    with pytest.raises(UnclearInstruction, match=says):
        parser.parse(instruction=instruction)
    assert parser.parse(instruction="make the dog fluffier").replacement == "fluffier"


@pytest.mark.parametrize("instruction,action,head,replacement", [
    ("fog pls", "global", "image", "fog"),
    ("clouds out", "remove", "cloud", None),
    ("logo off the van", "remove", "logo", None),
    ("clear the cups off the table", "remove", "cup", None),
    ("set the second cushion from the right to #2E4A62", "modify", "cushion", "#2e4a62"),
    ("delete the 3rd person from the left shes not even in our friend group", "remove", "person", None),
    ("put cat ears on all of us 🐱", "add", "person", "cat ears"),
    ("make it night time with like neon vibes", "global", "image", "night time with neon vibes"),
    ("Would you please make the photograph look as though it were taken on a frosty winter's morning?", "global", "image",
     "frosty winter's morning"),
    ("virtually stage the bare lounge with a cream corner sofa", "add", "bare lounge", "cream corner sofa"),
    ("replace the controller he's holding with a lightsaber", "replace", "controller", "lightsaber"),
    ("remove the braces from my teeth lol got them off last week", "remove", "braces", None),
    ("he's pulling a silly face in this one, can you make him smile properly", "modify", "person", "smiling"),
    ("take the sunglasses off the third groomsman from the left", "remove", "sunglasses", None),
    ("twilight version of the front elevation please", "global", "image", "twilight"),
    ("there's flour on my cheek from baking, can you clean it off?", "remove", "flour", None),
    ("the third painting from the left, could you replace it with Van Gogh's sunflowers?", "replace", "painting",
     "Van Gogh's sunflowers"),
    ("make the pasta taste less salty lol", None, None, None),
])  # fmt: skip
def test_terse_notes_run_ons_and_trade_words(instruction, action, head, replacement):
    if action is None:
        with pytest.raises(UnclearInstruction, match="taste"):
            parser.parse(instruction=instruction)
        return
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement) == (action, head, replacement)


@pytest.mark.parametrize("instruction", ["hello", "thanks!", "please"])
def test_a_greeting_alone_names_nothing_to_edit(instruction):
    """Not "the instruction is empty": the user typed something, it asks for no edit."""
    with pytest.raises(UnclearInstruction, match="names nothing to edit"):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize("instruction", ["hey, could you swap the teddy on the bed for a stuffed fox? the brown one",
                                         "swap the teddy on the bed for a stuffed fox, the brown one"])  # fmt: skip
def test_how_the_object_looks_said_after_the_command(instruction):
    """A later 'the brown one' describes the object of the command (found trying the parser as a new user: the
    colour was dropped)."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.attributes, plan.replacement) == ("replace", "teddy", ("brown",),
                                                                                           "stuffed fox")  # fmt: skip
    assert plan.target.relation.anchor.head == "bed"


def test_segment_reads_an_expression_but_not_a_refused_edit():
    """``refedit segment`` falls back to a bare referring expression when the parser finds no edit ("the left cat");
    an edit the parser refused ("remove the cat and the dog") stays refused there too, instead of being read as an
    expression whose head is its last noun, and so does an expression that names two objects."""
    from refedit.pipeline.parse.segmenting import segmentation_plan

    plan = segmentation_plan(parser, "the second cat from the left")
    assert (plan.target.head, plan.target.spatial, plan.target.ordinal) == ("cat", "left", 2)
    with pytest.raises(UnclearInstruction, match="names two objects"):
        segmentation_plan(parser, "remove the cat and the dog")
    with pytest.raises(UnclearInstruction, match="segment one at a time"):
        segmentation_plan(parser, "the cat and the dog")
    assert segmentation_plan(parser, "the black and white cat").target.head == "cat"
    with pytest.raises(UnclearInstruction, match="empty; name what to find"):
        segmentation_plan(parser, "  ")
    assert segmentation_plan(parser, "", hinted=True).action == "global"  # the hints alone choose


def test_an_instruction_longer_than_one_edit_is_refused_before_parsing():
    """A pasted document or a runaway script ("remove the cat " 400 times) is refused at once (exit 3) instead of
    parsed for seconds into a target of thousands of words."""
    from refedit.pipeline.parse.rules import MAX_INSTRUCTION

    with pytest.raises(UnclearInstruction, match="6,000 characters long; give one edit in at most 1,000"):
        parser.parse(instruction="remove the cat " * 400)
    assert parser.parse(instruction="please " * ((MAX_INSTRUCTION - 20) // 7) + "remove the cat").target.head == "cat"


def test_recombined_instructions_are_parsed_or_refused_never_crash():
    """Cut, shuffled, joined and misspelt versions of the probe rounds' instructions (a fixed seed, 400 of them)
    give a plan or :class:`UnclearInstruction`, never another exception, through the parser and ``refedit segment``'s
    plan alike."""
    import random
    import re

    from refedit.pipeline.parse.segmenting import segmentation_plan

    texts = [row["instruction"] for f in sorted((Path(__file__).parent / "data" / "probes").glob("round*.json"))
             for row in json.loads(f.read_text())]  # fmt: skip
    rng = random.Random(13)
    outcomes = []
    for k in range(400):
        a, b = rng.choice(texts).split(), rng.choice(texts).split()
        text = [" ".join(a[: rng.randrange(1, len(a) + 1)]), " ".join(a[rng.randrange(len(a)):]), " ".join(a + b),
                " ".join(rng.sample(a, len(a))), re.sub(r"[aeiou]", lambda m: rng.choice("aeiou,.!?'-"), " ".join(a), count=3),
                " ".join(a[: len(a) // 2] + b[len(b) // 2 :])][k % 6]  # fmt: skip
        try:
            plan = segmentation_plan(parser, text) if k % 2 else parser.parse(instruction=text)
            outcomes.append(plan.action)
        except UnclearInstruction:
            outcomes.append("unclear")
    assert len(outcomes) == 400 and {"unclear", "remove"} <= set(outcomes)


@pytest.mark.parametrize("instruction,says", [
    ("remove the cat that is not on the sofa", "by what it is not"),  # removed the cat ON the sofa
    ("remove the cat not on the sofa", "by what it is not"),
    ("make the car that isn't red blue", "by what it is not"),
    ("remove the man who isn't smiling", "by what it is not"),
    ("make the dog not brown", "should not be"),  # made the dog brown
    ("make the sky no longer grey", "should not be"),
])  # fmt: skip
def test_a_negation_is_refused_not_dropped(instruction, says):
    """A "not" the plan would drop turns the edit into its opposite: refused, with what to say instead."""
    with pytest.raises(UnclearInstruction, match=says):
        parser.parse(instruction=instruction)


@pytest.mark.parametrize("instruction,head,replacement", [
    ("There's a pink pool float in the shot that I can't stand. Could you make it plain blue instead?", "pool float",
     "plain blue"),  # the clause says nothing of the float
    ("remove the brown dog, not the white one", "dog", None),
    ("make shirt grey not white", "shirt", "grey"),
])  # fmt: skip
def test_a_negation_beside_the_target_is_no_refusal(instruction, head, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.target.head, plan.replacement) == (head, replacement)


def test_replacing_with_nothing_removes():
    plan = parser.parse(instruction="replace the dog with nothing")
    assert (plan.action, plan.target.head, plan.replacement) == ("remove", "dog", None)


@pytest.mark.parametrize("instruction", ["the bottle behind the glass should be transparent",
                                         "make the bottle behind the glass transparent"])
def test_an_anchor_after_its_article_is_no_part_of_the_look(instruction):
    """'glass' (a material too) was cut off its article into the look: 'glass transparent' on 'the bottle behind the'."""
    plan = parser.parse(instruction=instruction)
    relation = plan.target.relation
    assert (plan.target.head, relation.direction, relation.anchor.head, plan.replacement) == (
        "bottle", "behind", "glass", "transparent")


@pytest.mark.parametrize("instruction,owned,owner,spatial", [
    ("the deer at the back, make its antlers bigger", "antler", "deer", "back"),
    ("the twin on the right, make his onesie blue", "onesie", "twin", "right"),
    ("the kids by the pool, make their hats yellow", "hat", "kid", None),
    ("the girl in the pink dress, make her hair curly", "hair", "girl", None),
])  # fmt: skip
def test_his_its_their_after_a_named_object_own_what_follows(instruction, owned, owner, spatial):
    """'the deer at the back, make its antlers bigger' edited the antlers of any 'object': the owner named in the
    first clause now owns them, as 'her' already did."""
    target = parser.parse(instruction=instruction).target
    anchor = target.relation.anchor
    assert (target.head, target.relation.direction, anchor.head, anchor.spatial, anchor.pronoun) == (
        owned, "of", owner, spatial, None)


@pytest.mark.parametrize("instruction,action,attributes,spatial", [
    ("remove the red rose", "remove", ("red",), None),  # the tagger reads "the red rose" as "the red rose up"
    ("make the wilted rose red", "modify", ("wilted",), None),
    ("the wilted rose on the left, remove it", "remove", ("wilted",), "left"),
    ("the wilted rose on the far left, swap it for a fresh white one", "modify", ("wilted",), "left"),
])  # fmt: skip
def test_an_object_noun_the_tagger_reads_as_a_past_tense_is_the_object(instruction, action, attributes, spatial):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.attributes, plan.target.spatial) == (action, "rose", attributes,
                                                                                             spatial)


@pytest.mark.parametrize("instruction,replacement,edited", [
    ("replace the broken chair with a new one", "new chair", "a photo of a new chair"),  # was "a photo of a new one"
    ("replace the plastic chairs with new ones", "new chairs", "a photo of new chairs"),
    ("replace the dog with another one", "different dog", "a photo of a different dog"),  # was "a photo of an one"
])  # fmt: skip
def test_a_new_one_is_another_of_the_target_kind(instruction, replacement, edited):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.replacement, plan.edited_caption) == ("replace", replacement, edited)


def test_plural_of_a_noun():
    from refedit.core.english import plural

    assert [plural(w) for w in ("cat", "bus", "baby", "toy", "wine glass", "man", "sheep", "knife", "child")] == [
        "cats", "buses", "babies", "toys", "wine glasses", "men", "sheep", "knives", "children"]


def _owner(plan) -> str | None:  # type: ignore[no-untyped-def]
    """The head and where of whoever owns the target (the last ``of`` relation down the chain), e.g. "gentleman right"."""
    t, owner = plan.target, None
    while t.relation is not None:
        if t.relation.direction == "of":
            a = t.relation.anchor
            owner = " ".join(str(x) for x in (a.head, a.spatial, a.ordinal, a.pronoun) if x)
        t = t.relation.anchor
    return owner


@pytest.mark.parametrize("instruction,action,head,replacement,owner", [
    # a passive question, a purpose at the end
    ("could the cat be removed", "remove", "cat", None, None),
    ("could the nurse in the background be removed, for her privacy", "remove", "nurse", None, None),
    ("can you make my boots look clean for the blog?", "modify", "boot", "clean", None),
    # a colour with an article and a word before it, "instead of" an old look with its determiner
    ("could the walls in the lounge look a warmer cream", "modify", "wall", "warmer cream", None),
    ("make the sky a proper blue", "modify", "sky", "proper blue", None),
    ("Please make the background a neutral mid-grey", "modify", "region", "neutral mid-grey", None),
    ("make the stage lights magenta instead of that ugly green", "modify", "stage light", "magenta", None),
    ("can his lapel pin be our brand teal instead of gold?", "modify", "lapel pin", "brand teal", "person him"),
    ("could the sky be clear blue instead of full of rain clouds", "modify", "sky", "clear blue", None),
    ("can the sail be red like the old Thames barges", "modify", "sail", "red like the old Thames barges", None),
    # a use before a thing names it, a state or a person's doing describes it
    ("remove the walking frame", "remove", "walking frame", None, None),
    ("get rid of the crisp packets lying around the fire pit", "remove", "crisp packet", None, None),
    ("make all the tan styling chairs black", "modify", "styling chair", "black", None),
    ("remove the sleeping dog", "remove", "dog", None, None),
    ("remove the burning candle", "remove", "candle", None, None),
    # his / her: whom an earlier sentence describes, or a relative it names
    ("The vicar is the gentleman on the right. Could his cassock look less creased?", "modify", "cassock", "less creased",
     "gentleman right"),
    ("Uncle Pete is the one in the flat cap, second from the right. Could you make his face a little sharper?", "modify",
     "face", "sharper", "person right 2"),
    ("My late husband is the man at the back in the flat cap. Could you make his tie a deep maroon, as it really was?",
     "modify", "tie", "deep maroon", "man back"),
    ("Mum loved blue. Could her cardigan be cornflower blue instead of beige?", "modify", "cardigan", "cornflower blue", "mum"),
    ("First photo with our son! Could you please remove the hospital wristband on his ankle?", "remove",
     "hospital wristband", None, "son"),
    ("My grandmother is the lady in the middle. Could you give her cheeks a little more colour?", "add", "cheek",
     "more colour", "lady middle"),
    ("My daughter is the one on the swing. Could you give her pigtails?", "add", "daughter", "pigtails", None),  # to her
    # his / her: the subject of the clause that says what is wrong with it
    ("The soldier standing on the right has a water stain across his tunic. Please remove it.", "remove", "water stain",
     None, "soldier right"),
    ("the kid second from the left has his hood up. can it be down?", "modify", "hood", "down", "kid left 2"),
    ("3rd bridesmaid frm the right has her eyes shut, can you open them", "modify", "eye", "open", "bridesmaid right 3"),
    ("my toddler drew on his face with marker, can you clean it off", "remove", "marker", None, "toddler"),
    ("The ring bearer is the smallest boy. Please pop a little bow tie on him", "add", "boy", "little bow tie", None),
    # a named thing, then "could that / they all be ...", "take X out" and why
    ("the toy car sitting in the middle of the display shelf, could that be chrome", "modify", "toy car", "chrome",
     "display shelf"),  # (the middle of it)
    ("the macarons on the left plate — could they all be pistachio green", "modify", "macaron", "pistachio green", None),
    ("can you take the overhead wires out, they spoil the skyline", "remove", "wire", None, None),
    ("the loaves at the back of the display look pale, can they be more golden", "modify", "loaf", "more golden", None),
    # a label saying what the photo is for, "be softened to", "have X added", "more of an"
    ("For the parish magazine: would it be possible to remove the fire exit sign above the vestry door?", "remove",
     "fire exit sign", None, None),
    ("Could the background be softened to a plain pale cream for the memorial card?", "modify", "region",
     "plain pale cream", None),
    ("Could we have some daffodils added in front of the lectern for Easter?", "add", "lectern", "daffodils", None),
    ("her hair came out brassy in this pic, could it look more of an ash blonde", "modify", "hair", "ash blonde",
     "person her"),
    # a look with a detail or a brand's name, a material that is the object, a participle after it
    ("make the barn red with white trim", "modify", "barn", "red with white trim", None),
    ("Could the barn be painted that classic red with white trim?", "modify", "barn", "classic red with white trim", None),
    ("the drill on the left shud be dewalt yellow", "modify", "drill", "dewalt yellow", None),
    ("make the wine in the left glass white instead of red", "modify", "wine", "white", None),
    ("get rid of the delivery van double-parked outside the bakery", "remove", "delivery van", None, None),
    ("propeller guard poking into the top left corner, erase it", "remove", "propeller guard", None, None),
    ("the third balloon from the left, the green one, could it be silver?", "modify", "balloon", "silver", None),
    ("add fairy lights along the fence", "add", "fence", "fairy lights", None),
    ("the guy on the right blinked, can you open his eyes", "modify", "eye", "open", "guy right"),
    ("Whoever's phone is held up in the bottom left, can we lose it", "remove", "phone", None, None),
    # round 20's held-out half, after its blind measure: near misses of the kinds above
    ("Bella is the spaniel on the exam table. Could you remove the syringe next to her?", "remove", "syringe", None, None),
    ("the cone on the staffy is a bit distracting, can it be taken off", "remove", "cone", None, None),
    ("make the vet nurse's scrubs navy instead of that washed out teal", "modify", "scrubs", "navy", "vet nurse"),
    ("the third granny square from the top looks wonky, can it be a bright orange one instead", "modify", "granny square",
     "bright orange", None),
    ("bro can you remove the guy on the left", "remove", "guy", None, None),  # a vocative before the request
    ("mate can ya get rid of the esky next to the ute", "remove", "esky", None, None),
    ("chuck a kookaburra on the fence post on the left", "add", "fence post", "kookaburra", None),
    ("chuck the old chair out", "remove", "chair", None, None),
    ("add a bench outside the house", "add", "house", "bench", None),
    # tried as a new user at the end: plum is a colour, and what replaces an old colour is a look
    ("hey, could the kitty be a deep plum instead of that boring grey please", "modify", "kitty", "deep plum", None),
    ("could the sofa be a dusky heather instead of grey", "modify", "sofa", "dusky heather", None),
    ("make the cat plum", "modify", "cat", "plum", None),
    # session 17, tried as a new user: British "ta" (thanks) at the end was read as part of the new object
    ("pls swap the pup on the left for a fox, ta", "replace", "pup", "fox", None),
    ("remove the dog. ta!", "remove", "dog", None, None),
])  # fmt: skip
def test_phrasings_found_in_session_16(instruction, action, head, replacement, owner):
    """Rounds 16-20's misreadings, by kind: 'could the cat be removed' was a replacement by 'removed'; a colour with an
    article was an object ('a warmer cream'); an old look after 'instead of' with a determiner broke the parse; a use
    before a thing split its name ('walking' frame); 'his'/'her' after a sentence saying who is meant was anyone."""
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.replacement, _owner(plan)) == (action, head, replacement, owner)


@pytest.mark.parametrize("instruction", ["add a rainbow", "put some balloons", "add more clouds"])
def test_an_addition_without_a_place_is_asked_where(instruction):
    """'add a rainbow' was 'cannot tell what to edit'; it says what is missing (where) with an example."""
    with pytest.raises(UnclearInstruction, match=r"does not say where to add .+ e\.g\. 'add .+ above the hills'"):
        parser.parse(instruction=instruction)



@pytest.mark.parametrize("instruction,target,replacement", [
    ("make the dogs golden retrievers", "dog", "golden retrievers"),  # was refused: the singular has its article
    ("make all the cats tigers", "cat", "tigers"),
    ("make the cups tall glasses", "cup", "tall glasses"),  # was a look called "tall glasses" on the cups
    ("make the two dogs cats", "dog", "cats"),
])  # fmt: skip
def test_several_things_made_into_other_things_are_replaced(instruction, target, replacement):
    plan = parser.parse(instruction=instruction)
    assert (plan.action, plan.target.head, plan.target.all, plan.replacement) == ("replace", target, True, replacement)


@pytest.mark.parametrize("instruction,action,replacement", [
    ("make the walls white", "modify", "white"),
    ("make the cups blue glass", "modify", "blue glass"),  # a material, not things
    ("turn the plastic chairs into wooden ones", "modify", None),
])  # fmt: skip
def test_a_plural_given_a_look_stays_a_look(instruction, action, replacement):
    plan = parser.parse(instruction=instruction)
    assert plan.action == action and (replacement is None or plan.replacement == replacement)


@pytest.mark.parametrize("instruction,head,ordinal,size,spatial", [
    ("remove the third cup from the end", "cup", -3, None, None),  # counted from the left before, 'end' an anchor
    ("remove the first car in the row", "car", 1, None, None),  # the row was an anchor: exit 4, 'row' not found
    ("remove the third person in the line", "person", 3, None, None),
    ("remove the tallest guy in the group", "guy", None, "largest", None),
    ("remove the car furthest away", "car", None, None, "back"),  # head 'away'
])  # fmt: skip
def test_rows_ends_and_distances_are_where_counting_happens(instruction, head, ordinal, size, spatial):
    t = parser.parse(instruction=instruction).target
    assert (t.head, t.ordinal, t.size, t.spatial, t.relation) == (head, ordinal, size, spatial, None)


def test_a_distance_from_another_object_is_refused_and_a_wish_is_read():
    with pytest.raises(UnclearInstruction, match="picks the object by its distance from another one"):
        parser.parse(instruction="remove the chair furthest from the window")  # was the back-most chair
    plan = parser.parse(instruction="could you make it so the cup is blue")  # "'the instruction' does not say ..."
    assert (plan.action, plan.target.head, plan.replacement) == ("modify", "cup", "blue")


@pytest.mark.parametrize("instruction,expression,head", [
    ("replace the bike, the red one, with a scooter", "red bike", "bike"),  # head 'object', prompt "red object"
    ("make the cup, the small one, red", "small cup", "cup"),
    ("the third balloon from the left, the green one, could it be silver?", None, "balloon"),  # (a side, not an object)
])  # fmt: skip
def test_an_aside_between_commas_describes_the_object(instruction, expression, head):
    t = parser.parse(instruction=instruction).target
    assert t.head == head and (expression is None or t.expression == expression), t


@pytest.mark.parametrize("instruction,expression,anchor", [
    ("clear the table", "things on the table", "table"),
    ("please clear off the coffee table", "things on the coffee table", "coffee table"),
    ("clear the desk of papers", "papers on the desk", "desk"),
])  # fmt: skip
def test_clearing_a_surface_removes_what_is_on_it(instruction, expression, anchor):
    plan = parse(instruction)
    assert (plan.action, plan.target.expression, plan.target.relation.direction) == ("remove", expression, "on")
    assert plan.target.relation.anchor.head == anchor and plan.target.all
    assert parse("clear the fog").target.head == "fog"  # no surface: the thing itself goes


@pytest.mark.parametrize("instruction,replacement,edited", [
    ("make the cat look at the camera", "looking at the camera", "a photo of a cat looking at the camera"),
    ("make the girl look up", "looking up", "a photo of a girl looking up"),
    ("have the dog face left", "facing left", "a photo of a dog facing left"),
])  # fmt: skip
def test_which_way_the_object_looks_is_a_pose_said_after_it(instruction, replacement, edited):
    plan = parse(instruction)
    assert (plan.action, plan.replacement, plan.edited_caption) == ("modify", replacement, edited)
    assert parse("make the man look happy").edited_caption == "a photo of a happy man"


def test_a_material_that_ends_a_compound_noun_is_the_objects():
    """"make the wine glass metallic" made the look "glass metallic" of the wine (glass is a material)."""
    plan = parse("make the hand holding the wine glass metallic")
    assert (plan.replacement, plan.target.relation.anchor.head) == ("metallic", "wine glass")
    assert (parse("make the wine glass metallic").target.head, parse("make the glass table wooden").replacement) == (
        "wine glass", "wooden")


def test_a_first_with_that_says_it_of_the_target_is_the_targets():
    """"replace the pizza with mushrooms on it with a salad": the replacement was "mushrooms on it with a salad"."""
    plan = parse("replace the pizza with mushrooms on it with a salad")
    assert (plan.target.head, plan.target.relation.direction, plan.target.relation.anchor.head, plan.replacement) == (
        "pizza", "with", "mushroom", "salad")
    assert parse("replace the cat with a dog with a hat").replacement == "dog with a hat"  # (no "on it": the new dog's)
