"""Plan building shared by the parsers: analyse a referring expression into a :class:`Target` and write
the InstructEdit caption pair (Sec. 3.2: segmentation prompt, input caption, edited caption)."""

from __future__ import annotations

import re
from typing import Any

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import EditPlan, Target
from refedit.pipeline.parse import lexicon as lx
from refedit.pipeline.parse.nlp import load_nlp
from refedit.pipeline.parse.position import refine_position

_DET_RE = re.compile(r"^(?:" + "|".join(re.escape(d) for d in lx.DETERMINERS) + r")\b\s*")
_NOUN_POS = ("NOUN", "PROPN")


def clean_phrase(text: str) -> str:
    """Lowercase, collapse spaces, drop surrounding punctuation and quotes."""
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text.strip(" .,!?;:\"'")


def strip_determiners(phrase: str) -> tuple[str, bool]:
    """Remove leading determiners/quantifiers; return (rest, whether one of them meant 'all')."""
    quantified = False
    while m := _DET_RE.match(phrase):
        if not m.group(0).strip():
            break
        quantified |= m.group(0).split()[0] in lx.ALL_WORDS
        phrase = phrase[m.end() :]
    return phrase.strip(), quantified


def singular(word: str) -> str:
    """Singular form of an English plural noun (irregulars, -ies, -es, -s)."""
    if word in lx.IRREGULAR_PLURALS:
        return lx.IRREGULAR_PLURALS[word]
    if word in lx.INVARIANT or len(word) < 4:
        return word
    if word.endswith("ies"):
        return word[:-1] if word[:-1] in lx.IE_WORDS else word[:-3] + "y"
    if word.endswith("uses") and word[:-2] in lx.US_WORDS:
        return word[:-2]
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def is_plural(token: Any) -> bool:
    return token.tag_ in ("NNS", "NNPS") or token.text in lx.IRREGULAR_PLURALS


_STOP_POS = ("ADP", "VERB", "AUX", "SCONJ")
_STOP_WORDS = frozenset("that which who whose where with without wearing holding".split())
_QUALIFIERS = frozenset(lx.SPATIAL_WORDS) | frozenset(lx.SIZE_WORDS) | frozenset(lx.ORDINAL_WORDS)


def _opens_relation(doc: Any, i: int) -> bool:
    """True when token ``i`` starts a relation to another object: "near", "next to", "right behind"."""
    word, last = doc[i].text, i + 1 == len(doc)
    if word in lx.RELATION_WORDS or (word in lx.RELATION_BEFORE_TO and not last and doc[i + 1].text == "to"):
        return True
    return word in lx.RELATION_INTENSIFIERS and not last and _opens_relation(doc, i + 1)


def _participle_phrase(doc: Any, i: int) -> bool:
    """True when token ``i`` is a participle that opens a phrase after a noun ("the car parked on the
    street", "the shirt worn by the man")."""
    nxt = doc[i + 1] if i + 1 < len(doc) else None
    return doc[i].tag_ == "VBN" and doc[i - 1].pos_ in _NOUN_POS and nxt is not None and nxt.pos_ == "ADP"


def _pre_modifier_span(doc: Any) -> int:
    """Index where the head's own phrase ends: the first preposition, relation, verb or relative pronoun."""
    for tok in doc[1:]:
        if f"{doc[tok.i - 1].text} {singular(tok.text)}" in lx.COMPOUND_NOUNS:
            continue
        if _opens_relation(doc, tok.i) or tok.text in _STOP_WORDS or _participle_phrase(doc, tok.i):
            return tok.i
        if tok.pos_ in _STOP_POS and tok.text not in lx.MATERIALS and tok.tag_ != "VBN":
            return tok.i
    return len(doc)


def _side_words(doc: Any, expression: str) -> list[str]:
    """The words that may name a side of the image: not "front" of "in front of", not the intensifier
    "right" of "right next to"."""
    words = [t.text for t in doc]
    skip = {i for i, w in enumerate(words) if w in lx.RELATION_INTENSIFIERS and _opens_relation(doc, i)}
    if re.search(r"\bin front of\b", expression):
        skip |= {i for i, w in enumerate(words) if w == "front"}
    return [w for i, w in enumerate(words) if i not in skip]


def _find_head(doc: Any) -> tuple[int, int] | None:
    """(start, end) token span of the head noun incl. compounds, or None.

    The head is the last word before the first preposition/relative clause that is not a qualifier,
    determiner or particle; noun compounds ("wine glass") and known multi-word names ("hot dog") join it.
    """
    end = _pre_modifier_span(doc)
    words = [t.text for t in doc]
    head = next(
        (i for i in range(end - 1, -1, -1) if words[i] not in _QUALIFIERS and doc[i].pos_ not in ("DET", "PART", "PUNCT")),
        None,
    )
    if head is None:
        return None
    for n in (2, 1):  # known multi-word names spaCy may tag ADJ/VERB + NOUN
        if head - n >= 0 and " ".join([*words[head - n : head], singular(words[head])]) in lx.COMPOUND_NOUNS:
            return head - n, head + 1
    start = head
    while (
        start > 0
        and doc[start - 1].pos_ in ("NOUN", "PROPN")
        and words[start - 1] not in _QUALIFIERS | lx.COLOURS | lx.MATERIALS
        and doc[start].tag_ != "POS"
    ):
        start -= 1
    return start, head + 1


def analyse_target(phrase: str) -> Target:
    """Analyse a referring expression ("the second cat from the left") into a :class:`Target`."""
    phrase = clean_phrase(phrase)
    expression, quantified = strip_determiners(phrase)
    if not expression or expression in lx.PRONOUNS:
        raise UnclearInstruction(f"cannot tell which object {phrase!r} refers to; name it (e.g. 'the red car')")
    doc = load_nlp()(expression)
    span = _find_head(doc)
    if span is None:
        raise UnclearInstruction(f"no object noun found in {phrase!r}; name the object to edit")
    head_start, head_end = span
    head = doc[head_end - 1]
    words = [t.text for t in doc]
    head_text = " ".join([*words[head_start : head_end - 1], singular(head.text) if is_plural(head) else head.text])
    spatial = next((lx.SPATIAL_WORDS[w] for w in _side_words(doc, expression) if w in lx.SPATIAL_WORDS), None)
    ordinal = next((lx.ORDINAL_WORDS[w] for w in words if w in lx.ORDINAL_WORDS), None)
    spatial, ordinal = refine_position(expression, spatial, ordinal)  # corners; last on a side
    size = next((lx.SIZE_WORDS[w] for w in words[:head_start] if w in lx.SIZE_WORDS), None)
    possessor = max((t.i for t in doc[:head_start] if t.tag_ == "POS"), default=-1)
    attributes = tuple(
        t.text
        for t in doc[possessor + 1 : head_start]
        if t.text not in _QUALIFIERS and (t.pos_ == "ADJ" or t.text in lx.COLOURS or t.text in lx.MATERIALS)
    )
    return Target(
        expression=expression,
        head=head_text,
        attributes=attributes,
        spatial=spatial,
        ordinal=ordinal,
        size=size,
        all=quantified or is_plural(head),
    )


def with_article(phrase: str) -> str:
    """'tiger' -> 'a tiger', 'apple' -> 'an apple', 'green bus' -> 'a green bus'; plurals ('candles') and
    phrases that already have a determiner and plural-only nouns ('sunglasses') stay as they are."""
    words = phrase.split()
    if not words or words[0] in ("a", "an", "the", "some") or singular(words[-1]) != words[-1]:
        return phrase
    if words[-1] in lx.PLURALIA_TANTUM:
        return phrase
    return ("an " if words[0][0] in "aeiou" else "a ") + phrase


def noun_phrase(target: Target, attributes: tuple[str, ...] | None = None) -> str:
    """The target as a caption noun phrase: attributes + head, plural when the target is."""
    attrs = target.attributes if attributes is None else attributes
    words = " ".join([*attrs, target.head])
    if target.all:
        written = _written_head(target)
        return " ".join([*attrs, written]) if written else words + "s"
    return with_article(words)


def _written_head(target: Target) -> str | None:
    """The head as written in the expression (e.g. 'buses' for head 'bus'), if found."""
    head_last = target.head.split()[-1]
    for word in target.expression.split():
        if singular(word) == head_last or lx.IRREGULAR_PLURALS.get(word) == head_last:
            return " ".join([*target.head.split()[:-1], word])
    return None


def captions(action: str, target: Target, replacement: str | None) -> tuple[str, str]:
    """InstructEdit's (input caption, edited caption) pair, "a photo of ..."."""
    if action == "global":
        return "a photo", f"a photo, {replacement}"
    source = f"a photo of {noun_phrase(target)}"
    if action == "replace":
        return source, f"a photo of {with_article(replacement or '')}"
    if action == "modify":
        return source, f"a photo of {noun_phrase(target, (replacement or '',))}"
    if action == "add":
        return source, f"{source} with {with_article(replacement or '')}"
    return source, f"a photo of {left_behind(target)}"  # remove: describe what is left behind


_LOCATIVE = re.compile(r"\b(?:on top of|on|onto|under|beneath|below|beside|next to|near|against|by|at|in front of|"
                       r"behind|above|over|inside|across|along) (?:the|a|an) (?P<place>[a-z][a-z ]*)$")  # fmt: skip


def left_behind(target: Target) -> str:
    """What a removal leaves: the place the target is on/next to ("the cup on the table" -> "the table",
    "the man next to the car" -> "the car" and the scene), else the background."""
    m = _LOCATIVE.search(target.expression)
    if m and not set(m["place"].split()) & set(lx.SPATIAL_WORDS):
        return f"the {m['place']}"
    return "the background"


def segmentation_prompt(target: Target) -> str:
    """What the detector looks for: the head noun with its attributes ("green bus")."""
    return " ".join([*target.attributes, target.head])


def build_plan(instruction: str, action: str, target: Target, replacement: str | None, parser: str) -> EditPlan:
    """Assemble an :class:`EditPlan`; the segmentation prompt is the head noun with its attributes."""
    source, edited = captions(action, target, replacement)
    return EditPlan(
        instruction=instruction,
        action=action,  # type: ignore[arg-type]
        target=target,
        replacement=replacement,
        segmentation_prompt="image" if action == "global" else segmentation_prompt(target),
        source_caption=source,
        edited_caption=edited,
        parser=parser,
    )


GLOBAL_TARGET = Target(expression="image", head="image")


def referring_plan(expression: str, parser: str = "rules") -> EditPlan:
    """A plan for a bare referring expression ("the second cat from the left") with no edit in it, for
    segmenting alone: action ``modify`` with no replacement, both captions describing the target."""
    target = analyse_target(expression)
    source, _ = captions("remove", target, None)
    return EditPlan(expression, "modify", target, None, segmentation_prompt(target), source, source, parser)


def hint_plan(instruction: str, parser: str = "rules") -> EditPlan:
    """A plan for segmenting by user hints alone (no nameable target in the text)."""
    return EditPlan(instruction or "(hints)", "global", GLOBAL_TARGET, None, "image", "a photo", "a photo", parser)
