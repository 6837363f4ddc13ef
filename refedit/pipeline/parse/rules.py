"""The offline rules parser: instruction templates over regular expressions, noun-phrase analysis with
spaCy (see :mod:`refedit.pipeline.parse.plan`). No key, no network."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import EditPlan
from refedit.pipeline.parse import lexicon as lx
from refedit.pipeline.parse.nlp import load_nlp
from refedit.pipeline.parse.plan import GLOBAL_TARGET, analyse_target, build_plan, clean_phrase, strip_determiners

_POLITE = re.compile(r"^(?:(?:please|kindly|can you|could you|would you|i want you to|i'd like you to)\b[ ,]*)+")
_TRAILING_PLEASE = re.compile(r"[ ,]*\bplease$")
_FROM_IMAGE = re.compile(r" (?:from|out of|off) (?:the|this) (?:image|photo|picture|photograph|scene|frame|shot)$")
_ARTICLE = re.compile(r"^(?:a|an|the|some)\s+")


@dataclass(frozen=True)
class Parsed:
    action: str
    target: str  # raw target phrase (or "" for global)
    replacement: str | None


def normalise(instruction: str) -> str:
    text = clean_phrase(instruction.replace("’", "'"))
    text = _POLITE.sub("", text)
    return _FROM_IMAGE.sub("", clean_phrase(_TRAILING_PLEASE.sub("", text)))


def _new(phrase: str) -> str:
    return _ARTICLE.sub("", clean_phrase(phrase))


def _is_attribute_token(tok: Any) -> bool:
    """True for a word that can be the new look of an object: an adjective, colour, material, participle
    ("striped"), or a size or comparative ("bigger", "taller", "more")."""
    word = tok.text
    if word in lx.SIZE_WORDS:
        return True
    if word in lx.SPATIAL_WORDS or word in lx.ORDINAL_WORDS:
        return False
    if word in lx.COLOURS | lx.MATERIALS | lx.SHADES | lx.COMPARATIVES or tok.tag_ in ("JJR", "RBR"):
        return True
    return tok.pos_ == "ADJ" or (tok.tag_ == "VBN" and word.endswith("ed"))


def is_attribute_phrase(phrase: str) -> bool:
    """True when ``phrase`` ("golden", "dark green", "black and white", "bigger") names an attribute, not an
    object."""
    phrase = clean_phrase(phrase)
    if not phrase or _ARTICLE.match(phrase):
        return False
    doc = load_nlp()(phrase)
    return all(_is_attribute_token(t) or (t.pos_ == "CCONJ" and 0 < t.i < len(doc) - 1) for t in doc)


def split_trailing_attribute(text: str) -> tuple[str, str] | None:
    """Split "the red car blue" into ("the red car", "blue") and "the dog bigger" into ("the dog", "bigger")
    at the trailing attribute phrase, using the part-of-speech tags of the whole phrase (fragments are
    tagged less reliably)."""
    doc = load_nlp()(text)
    cut = len(doc)
    while cut > 1 and (
        _is_attribute_token(doc[cut - 1]) or (doc[cut - 1].pos_ == "CCONJ" and cut < len(doc) and cut - 2 >= 0)
    ):
        cut -= 1
    while cut < len(doc) and doc[cut].pos_ == "CCONJ":
        cut += 1
    if cut >= len(doc) or cut == 0:
        return None
    return doc[:cut].text, doc[cut:].text


def _is_image(phrase: str) -> bool:
    rest, _ = strip_determiners(clean_phrase(phrase))
    return rest in lx.IMAGE_WORDS


def _global_or_none(target: str, new: str) -> Parsed | None:
    if not _is_image(target):
        return None
    new = _new(new)
    if not new or set(new.split()) & lx.VAGUE_WORDS:
        raise UnclearInstruction(f"{new or 'the instruction'!r} does not say what to change; name an object")
    return Parsed("global", "", new)


def _replace_or_modify(target: str, new: str) -> Parsed:
    return Parsed("modify" if is_attribute_phrase(new) else "replace", target, _new(new))


# Each template: (regex over the normalised instruction, builder(match) -> Parsed | None).
Builder = Callable[[re.Match[str]], "Parsed | None"]
_T: list[tuple[re.Pattern[str], Builder]] = []


def template(pattern: str) -> Callable[[Builder], Builder]:
    """Register ``pattern`` with the decorated builder (stackable: one builder may serve several)."""

    def register(fn: Builder) -> Builder:
        _T.append((re.compile(pattern), fn))
        return fn

    return register


_DEFINITE = r"(?:the|this|that|these|those)"
_NOT_A_RELATION = "".join(rf"(?<!\b{w})" for w in sorted(lx.RELATION_BEFORE_TO))


def _sep(words: str) -> str:
    """The words (``"with|for|by"``) between a target and its new phrase, never splitting a relation of the
    target: not the "to" of "next to", not before a definite phrase that another such word follows
    ("replace the man with the hat with a robot", "turn the cup to the left of the plate into a vase")."""
    return rf"{_NOT_A_RELATION} (?:{words}) (?!{_DEFINITE} .*? (?:{words}) )"


_REMOVE_VERBS = (r"remove|delete|erase|eliminate|get rid of|take out|take away|cut out|clear|wipe out|rub out|"
                 r"edit out|crop out|throw away|discard")  # fmt: skip


@template(rf"^(?:{_REMOVE_VERBS}) (?P<t>.+)$")
def _remove(m: re.Match[str]) -> Parsed:
    return Parsed("remove", m["t"], None)


@template(r"^(?:make|let|have) (?P<t>.+?) (?:disappear|vanish|go away)$")
@template(r"^(?:take|cut|edit|crop|rub|wipe) (?P<t>.+?) (?:out|away|off)$")
def _disappear(m: re.Match[str]) -> Parsed:
    return Parsed("remove", m["t"], None)


@template(
    r"^(?:change|make|turn|set|modify|alter) (?:the )?(?:colou?r|material|texture|style|finish) of "
    rf"(?P<t>.+?){_sep('to|into|in')}(?P<n>.+)$"
)
def _change_colour(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))


@template(r"^substitute (?P<a>.+?) for (?P<b>.+)$")
def _substitute(m: re.Match[str]) -> Parsed:
    """"substitute Y for X" puts Y in X's place; "substitute the X for a Y" (definite first) is read the
    other way, as people also write it."""
    if re.match(_DEFINITE + " ", m["a"]) and not re.match(_DEFINITE + " ", m["b"]):
        return Parsed("replace", m["a"], _new(m["b"]))
    return Parsed("replace", m["b"], _new(m["a"]))


@template(
    rf"^(?:replace|swap(?: out)?|substitute|exchange|switch(?: out)?|trade) (?P<t>.+?){_sep('with|for|by')}(?P<n>.+)$"
)
def _replace(m: re.Match[str]) -> Parsed:
    return Parsed("replace", m["t"], _new(m["n"]))


@template(r"^(?:add|put|place|draw|insert) (?P<n>.+?) (?:to|on|onto|on top of|next to|beside|near|in|into|over|above) (?P<t>.+)$")
def _add(m: re.Match[str]) -> Parsed:
    return Parsed("add", m["t"], _new(m["n"]))


@template(r"^give (?P<rest>.+)$")
def _give(m: re.Match[str]) -> Parsed | None:
    """"give X a Y": X ends before the article of Y, else at its first noun (the dative)."""
    if split := re.match(r"^(?P<t>.+?) (?P<n>(?:a|an|some) .+)$", m["rest"]):
        return Parsed("add", split["t"], _new(split["n"]))
    doc = load_nlp()(m["rest"])
    for tok in doc[:-1]:
        if tok.pos_ in ("NOUN", "PROPN") and tok.text not in lx.COLOURS and doc[tok.i + 1].pos_ != "NOUN":
            return Parsed("add", doc[: tok.i + 1].text, _new(doc[tok.i + 1 :].text))
    return None


_WEAR_VERBS = r"wear|hold|carry|put on|have|don|sport|be wearing|be holding|be carrying"


@template(rf"^(?:make|let|have|get) (?P<t>.+?) (?:to )?(?:{_WEAR_VERBS}) (?P<n>.+)$")
@template(rf"^dress (?:up )?(?P<t>.+?){_sep('in')}(?P<n>.+)$")
def _wear(m: re.Match[str]) -> Parsed:
    """"make the boy wear a crown", "let the woman hold an umbrella", "dress the man in a suit": an addition
    on the wearer."""
    return _global_or_none(m["t"], m["n"]) or Parsed("add", m["t"], _new(m["n"]))


@template(r"^what if (?P<t>.+?) (?:is|was|were|are|became|looked) (?:made (?:of|from|out of) )?(?P<n>.+)$")
def _what_if(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))


@template(r"^(?P<t>.+?) should (?:look like|be turned into|become|be|look) (?P<n>.+)$")
def _should(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or _replace_or_modify(m["t"], m["n"])


@template(r"^(?:make|render) (?P<t>.+?) look(?: like)? (?P<n>.+)$")
def _look_like(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))


@template(rf"^(?:change|turn|transform|convert|make|morph|set) (?P<t>.+?){_sep('into|to|in to')}(?P<n>.+)$")
def _into(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or _replace_or_modify(m["t"], m["n"])


@template(rf"^(?:change|switch|trade) (?P<t>.+?){_sep('with|for')}(?P<n>.+)$")
def _change_with(m: re.Match[str]) -> Parsed:
    """"change the cat with a dog": a replacement."""
    return Parsed("replace", m["t"], _new(m["n"]))


@template(rf"^(?:recolou?r|colou?r|paint|repaint|dye|tint) (?P<t>.+?){_sep('to|into|in')}(?P<n>.+)$")
def _recolour_to(m: re.Match[str]) -> Parsed | None:
    """"recolour the door to green", "paint the fence in white" (the new phrase must be an attribute)."""
    return Parsed("modify", m["t"], _new(m["n"])) if is_attribute_phrase(m["n"]) else None


@template(r"^(?:make|turn) (?P<t>.+?) (?P<n>(?:a|an) [a-z][a-z -]*)$")
def _make_a(m: re.Match[str]) -> Parsed | None:
    if _is_image(m["t"]) or not strip_determiners(m["t"])[0]:
        return None
    return Parsed("replace", m["t"], _new(m["n"]))


@template(r"^(?:make|turn|recolou?r|colou?r|paint|repaint|dye|tint|render|get) (?P<rest>.+)$")
def _make_attr(m: re.Match[str]) -> Parsed | None:
    words = m["rest"].split()
    if words and _is_image(words[0]):
        return _global_or_none(words[0], " ".join(words[1:]))
    split = split_trailing_attribute(m["rest"])
    if split is None:
        return None
    target, new = split
    return _global_or_none(target, new) or Parsed("modify", target, _new(new))


_ATTRIBUTE_NOUN = "|".join(sorted(lx.ATTRIBUTE_NOUNS))
_NOUN_OF = re.compile(rf"^(?:(?:the|its|their|his|her) )?(?:{_ATTRIBUTE_NOUN}) (?:of|on) (?P<t>.+)$")
_NOUN_AFTER = re.compile(rf"^(?P<t>.+?)(?:'s|')? (?:{_ATTRIBUTE_NOUN})(?P<rest>(?: .+)?)$")
_FROM_OLD = re.compile(r"^(?P<t>.+) from (?P<old>[a-z-]+(?: [a-z-]+)?)$")


def _object_of_attribute(phrase: str) -> str | None:
    """The object whose property a phrase names: "the shirt colour" / "the colour of the shirt" -> "the
    shirt", "the hair colour of the girl" -> "the hair of the girl"; None when it names no property."""
    if m := _NOUN_OF.match(phrase):
        return m["t"]
    if (m := _NOUN_AFTER.match(phrase)) and strip_determiners(m["t"])[0]:
        return m["t"] + m["rest"]
    return None


def _with_old_attribute(phrase: str, old: str) -> str:
    """"the car on the left" + "red" -> "the red car on the left" (the old attribute joins the target)."""
    rest, _ = strip_determiners(phrase)
    return f"{phrase[: len(phrase) - len(rest)]}{old} {rest}"


def attribute_change(parsed: Parsed) -> Parsed:
    """Rewrite a change of an object's property ("change the shirt colour to red") as a modification of the
    object itself; an old attribute ("change the wall from white to green") joins the target."""
    if parsed.action not in ("modify", "replace"):
        return parsed
    target, action = clean_phrase(parsed.target), parsed.action
    old = None
    if (m := _FROM_OLD.match(target)) and is_attribute_phrase(m["old"]):
        target, old = m["t"], m["old"]
    if (obj := _object_of_attribute(target)) is not None:
        target, action = obj, "modify"
    if old is not None:
        target = _with_old_attribute(target, old)
    return Parsed(action, target, parsed.replacement)


def match_templates(text: str) -> Parsed | None:
    for pattern, build in _T:
        if (m := pattern.match(text)) and (parsed := build(m)) is not None:
            return parsed
    return None


class RulesParser:
    """Offline spaCy rule parser (the default)."""

    name = "rules"

    def parse(self, *, instruction: str, image: object = None) -> EditPlan:
        """Parse ``instruction``; :class:`UnclearInstruction` when it names no target or action."""
        text = normalise(instruction)
        if not text:
            raise UnclearInstruction("the instruction is empty; say what to change, e.g. 'replace the cat with a tiger'")
        parsed = match_templates(text)
        if parsed is None:
            raise UnclearInstruction(
                f"cannot tell what to edit in {instruction.strip()!r}; phrase it like 'replace the left cat with "
                "a tiger', 'make the vase golden' or 'remove the man in the blue jacket'"
            )
        parsed = attribute_change(parsed)
        if parsed.action != "global" and parsed.replacement is not None and not parsed.replacement:
            raise UnclearInstruction(f"{instruction.strip()!r} does not say what the object should become")
        target = GLOBAL_TARGET if parsed.action == "global" else analyse_target(parsed.target)
        return build_plan(instruction, parsed.action, target, parsed.replacement, self.name)
