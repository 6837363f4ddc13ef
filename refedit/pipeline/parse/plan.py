"""Plan building shared by the parsers: analyse a referring expression into a :class:`Target` and write
the InstructEdit caption pair (Sec. 3.2: segmentation prompt, input caption, edited caption)."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import Any

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import EditPlan, Relation, Target
from refedit.core.english import SINGULAR_S, singular, with_article
from refedit.pipeline.parse import lexicon
from refedit.pipeline.nlp import load_nlp
from refedit.pipeline.parse.position import refine_position

_DET_RE = re.compile(r"^(?:" + "|".join(re.escape(d) for d in lexicon.DETERMINERS) + r")\b\s*")
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
        quantified |= m.group(0).split()[0] in lexicon.ALL_WORDS
        phrase = phrase[m.end() :]
    return phrase.strip(), quantified


def is_plural(token: Any) -> bool:
    """True for a plural count noun; plural-only names of one thing ("clothes", "jeans") are not."""
    if token.text in lexicon.PLURALIA_TANTUM or token.text in SINGULAR_S:
        return False
    if token.tag_ in ("VBZ", "NNP", "NN") and token.text.endswith("s") and singular(token.text) != token.text:
        return True  # an expression's first word, tagged without its determiner ("pancakes", "wrinkles around his eyes")
    return token.tag_ in ("NNS", "NNPS") or token.text in lexicon.IRREGULAR_PLURALS


_STOP_POS = ("ADP", "VERB", "AUX", "SCONJ")
_STOP_WORDS = frozenset("that which who whose where with without wearing holding".split())
_QUALIFIERS = frozenset(lexicon.SPATIAL_WORDS) | frozenset(lexicon.SIZE_WORDS) | frozenset(lexicon.ORDINAL_WORDS)


def _opens_relation(doc: Any, i: int) -> bool:
    """True when token ``i`` starts a relation to another object: "near", "next to", "right behind"."""
    word, last = doc[i].text, i + 1 == len(doc)
    if word in lexicon.RELATION_WORDS or (word in lexicon.RELATION_BEFORE_TO and not last and doc[i + 1].text == "to"):
        return True
    return word in lexicon.RELATION_INTENSIFIERS and not last and _opens_relation(doc, i + 1)


def _participle_phrase(doc: Any, i: int) -> bool:
    """True when token ``i`` is a participle that opens a phrase after a noun ("the car parked on the
    street", "the shirt worn by the man")."""
    nxt = doc[i + 1] if i + 1 < len(doc) else None
    if nxt is None or nxt.pos_ != "ADP" or doc[i - 1].pos_ not in _NOUN_POS:
        return False
    # "the cyclist riding on the sidewalk" (the tagger may call "riding" a noun of "cyclist riding"); not "the oil
    # painting on the wall"
    return doc[i].tag_ == "VBN" or (doc[i].text.endswith("ing") and doc[i].text not in _ING_NOUNS)


#: nouns that end in -ing
_ING_NOUNS = frozenset("building painting ceiling clothing railing awning icing stuffing drawing setting lighting siding "
                       "wedding fencing string swing spring thing king ring wing evening morning bedding stocking pudding "
                       "filling frosting topping dressing earring sling sibling duckling seedling dumpling sapling "
                       "housing casing landing opening ceiling carving etching sling offspring".split())


def _pre_modifier_span(doc: Any) -> int:
    """Index where the head's own phrase ends: the first preposition, relation, verb or relative pronoun."""
    for tok in doc[1:]:
        if f"{doc[tok.i - 1].text} {singular(tok.text)}" in lexicon.COMPOUND_NOUNS:
            continue
        if doc[tok.i - 1].text == "-" and not doc[tok.i - 1].whitespace_ and tok.i >= 2 and not doc[tok.i - 2].whitespace_:
            if tok.tag_ in ("VBN", "VBD") and tok.i >= 3 and doc[tok.i - 3].pos_ in _NOUN_POS:
                return tok.i - 2  # "the delivery van double-parked outside": a participle after the head
            continue  # "the chewed-up ball": the particle of one hyphenated word
        if _opens_relation(doc, tok.i) or tok.text in _STOP_WORDS or _participle_phrase(doc, tok.i):
            return tok.i
        if (tok.pos_ in _STOP_POS and tok.text not in lexicon.MATERIALS and tok.tag_ != "VBN"
                and not noun_read_as_verb(doc, tok.i) and not _use_before_noun(doc, tok.i)):
            return tok.i
    return len(doc)


def _use_before_noun(doc: Any, i: int) -> bool:
    """True when ``doc[i]``, a verb to the tagger, is part of the object's name: a gerund naming the use of the
    noun after it ("tan styling chairs"), or a plural noun ending a name ("gel bands": "bands" a verb to it)."""
    from refedit.pipeline.parse.spelling import object_nouns

    tok, nxt = doc[i], doc[i + 1] if i + 1 < len(doc) else None
    if tok.tag_ == "VBG" and nxt is not None and nxt.pos_ in ("NOUN", "PROPN"):  # (not "the dog saying 'bork'")
        return singular(nxt.text) in object_nouns() and _use_before(doc, i, nxt.text)
    return (tok.tag_ == "VBZ" and i > 0 and doc[i - 1].pos_ in ("NOUN", "PROPN", "ADJ") and singular(tok.text) != tok.text
            and singular(tok.text) in object_nouns() and (nxt is None or nxt.pos_ in ("ADP", "PUNCT", "CCONJ")))


def noun_read_as_verb(doc: Any, i: int) -> bool:
    """True when ``doc[i]``, tagged a past-tense verb, is the object the phrase names: an object noun no noun comes
    before, after a modifier ("the red rose", "the wilted rose": the past of rise to the tagger, "the red" its
    subject)."""
    from refedit.pipeline.parse.spelling import object_nouns

    return (doc[i].tag_ == "VBD" and doc[i].text in object_nouns()
            and (doc[i - 1].pos_ in ("ADJ", "VERB", "PROPN", "DET") or doc[i - 1].text in lexicon.ORDINAL_WORDS)
            and not any(t.pos_ == "NOUN" and t.text not in lexicon.ORDINAL_WORDS for t in doc[:i]))  # ("3rd" a noun to it)


def _side_words(doc: Any, start: int = 0, end: int | None = None, name: tuple[int, int] = (0, 0)) -> list[str]:
    """The words of ``doc[start:end]`` that may name a side of the image: not "front" of "in front of", not
    the intensifier "right" of "right next to", not "closest" of "closest to the house", not a word of the object's
    ``name`` span ("the front door")."""
    words = [t.text for t in doc]
    skip = {i for i, w in enumerate(words)
            if w in lexicon.RELATION_INTENSIFIERS | lexicon.RELATION_BEFORE_TO and _opens_relation(doc, i)
            and not _side_before_relation(doc, i)}  # fmt: skip
    skip |= {i for i in range(1, len(words) - 1) if words[i - 1 : i + 2] == ["in", "front", "of"]}
    skip |= set(range(*name)) | {i for i in range(len(words)) if _garment_top(words, i)}
    skip |= {i for i in range(1, len(words)) if words[i - 1] in lexicon.POSSESSIVE_PRONOUNS}  # "on his back": a body part
    return [w for i, w in enumerate(words[:end]) if i >= start and i not in skip]


def _find_head(doc: Any, limit: int | None = None) -> tuple[int, int] | None:
    """(start, end) token span of the head noun incl. compounds, or None; only the first ``limit`` tokens
    are the target's own words.

    The head is the last word before the first preposition/relative clause that is not a qualifier,
    determiner or particle; noun compounds ("wine glass") and known multi-word names ("hot dog") join it.
    """
    end = min(_pre_modifier_span(doc), len(doc) if limit is None else limit)
    words = [t.text for t in doc]
    head = next(
        (i for i in range(end - 1, -1, -1) if (words[i] not in _QUALIFIERS or _garment_top(words, i))
         and doc[i].pos_ not in ("DET", "PART", "PUNCT")),
        None,
    )
    if head is None:
        return None
    if _of_name(words, head):
        return head, head + 3  # "the chest of drawers": the name goes on past the "of"
    for n in (2, 1):  # known multi-word names spaCy may tag ADJ/VERB + NOUN
        if head - n >= 0 and " ".join([*words[head - n : head], singular(words[head])]) in lexicon.COMPOUND_NOUNS:
            return head - n, head + 1
    start = head
    while _hyphen_before(doc, start):  # "t-shirt", "x-ray": one word the tokenizer split
        start -= 2
    while (
        start > 0
        and (doc[start - 1].pos_ in ("NOUN", "PROPN") or _use_before(doc, start - 1, words[head]))
        and not _hyphen_before(doc, start - 1)  # "polka-dot dress": a look, not a compound
        and words[start - 1] not in _NOT_COMPOUNDS
        and doc[start].tag_ != "POS"
    ):
        start -= 1
    return start, head + 1


#: words the tagger may call nouns before a head that are its look or state, not part of its name ("the boiling kettle",
#: "the asleep puppy", "the red car")
_NOT_COMPOUNDS = _QUALIFIERS | lexicon.COLOURS | lexicon.MATERIALS | lexicon.STATE_ADJECTIVES | lexicon.STATE_PARTICIPLES


def _use_before(doc: Any, i: int, head: str) -> bool:
    """True when ``doc[i]``, before the head noun ``head``, names what the thing is for or made of, whatever the
    tagger calls it: a gerund before a thing ("the walking frame", "the measuring cylinder", "the sleeping bag"; not
    "the sleeping dog", "the burning candle"), or an object's noun it took for an adjective ("the tulip bucket",
    "the crisp packet")."""
    from refedit.pipeline.parse.spelling import object_nouns

    word = doc[i].text
    if word in _QUALIFIERS or word in _LOOKS_NOT_USES or singular(head) in lexicon.ANIMATE:
        return False
    if word.endswith("ing") and len(word) > 5 and doc[i].tag_ in ("VBG", "NN"):
        return word not in lexicon.STATE_PARTICIPLES
    return (doc[i].pos_ in ("ADJ", "VERB") and word in object_nouns() and not word.endswith(lexicon.ADJECTIVE_ENDINGS)
            and doc[i].tag_ not in ("VBN", "VBD"))


#: words before a noun that describe it, even where they are also nouns ("light", "square", "fancy")
_LOOKS_NOT_USES = (lexicon.COLOURS | lexicon.MATERIALS | lexicon.SHADES | lexicon.COMPARATIVES | lexicon.STATE_ADJECTIVES
                   | frozenset(lexicon.SIZE_WORDS) | lexicon.COLOUR_PREFIXES)


#: what a top (the garment) is said to be: "the woman in the blue top", "a striped tank top"
_TOP_LOOKS = lexicon.COLOURS | lexicon.MATERIALS | frozenset("striped floral spotted tank crop halter tube sleeveless "
                                                             "sequin sequinned sequined lace knit".split())


def _garment_top(words: list[str], i: int) -> bool:
    """True when ``words[i]`` is the garment "top" after how it looks ("in the blue top"), not a side of the photo."""
    return words[i] in ("top", "tops") and i > 0 and words[i - 1] in _TOP_LOOKS


def _hyphen_before(doc: Any, i: int) -> bool:
    """True when token ``i`` is joined to the word before it by a hyphen ("t-shirt": "t", "-", "shirt")."""
    return i > 1 and doc[i - 1].text == "-" and not doc[i - 2].whitespace_ and not doc[i - 1].whitespace_


#: "the smaller of the two dogs", "the second of the cups", "the left one of the three": the qualifier and the
#: noun ("smaller dog")
_ONE_OF = re.compile(r"^(?P<q>[a-z-]+)(?: one)? of (?:the|these|those)(?: (?:two|three|four|five|\d+))? (?P<n>[a-z][a-z ]*)$")


#: "closest to the camera", "nearest the camera", "furthest from the viewer": a depth in the photo, not a relation
#: to an object in it
_VIEWER = re.compile(r" (closest|nearest|furthest|farthest|closer|nearer|further|farther) (?:(?:to|from) )?(?:the )?"
                     rf"(?:{lexicon.VIEWER_PATTERN}|us|me)\b")
#: "the pair of shoes", "the flock of sheep", "the group of people": every one of the things the group is made of
_COLLECTIVE = re.compile(r"^(?P<pre>(?:[a-z-]+ )*?)(?P<g>pair|group|stack|pile|flock|herd|bunch|set|crowd|couple|bouquet|heap|"
                         r"cluster|row|line|pack|swarm|gaggle|team|bundle|collection|mess|load|clump|tangle) of "
                         r"(?P<n>[a-z]+)(?P<post>(?: .*)?)$")
#: what a heap is of may be a mass ("the pile of wrapping paper", "the heap of sawdust"): that stuff, not every one
_HEAPS = frozenset("pile heap stack mess load clump tangle bunch".split())
#: everybody in the photo ("make everyone wear hats", "put cat ears on all of us")
_EVERYONE = frozenset(("everyone", "everybody", "all of us", "each of us", "every one of us", "us all"))
#: "one of the two lamps": a lamp; "every one of the guests": every guest; "the three of them": them
_ONE_OF_MANY = re.compile(r"^(?P<q>one|every one|each one|each|any|any one) of (?:the|these|those)(?: (?:two|three|four|five|six|"
                          r"\d+))? (?P<n>[a-z][a-z -]*)$")
_N_OF_THEM = re.compile(r"^(?:the )?(?:two|three|four|five|six|\d+) of (?=them$|they$)")


def one_of(expression: str) -> str:
    """"the smaller of the two dogs" -> "smaller dog" (the qualifier and the noun); else ``expression``."""
    m = _ONE_OF.match(expression)
    if m is None or m["q"] not in _QUALIFIERS | frozenset(lexicon.COMPARATIVE_SIZES):
        return expression
    words = m["n"].split()
    plural = next((i for i, w in enumerate(words) if singular(w) != w or w in lexicon.IRREGULAR_PLURALS), None)
    if plural is None:  # "the bottom of the shelf", "the middle of the table": a part of one object
        return expression
    # "the smallest of the three brown puppies sleeping in the basket": the smallest brown puppy sleeping there
    return " ".join([lexicon.COMPARATIVE_SIZES.get(m["q"], m["q"]), *words[:plural], singular(words[plural]), *words[plural + 1 :]])


_CARDINAL = "|".join(sorted(lexicon.CARDINALS, key=len, reverse=True))
#: "two of the cups", "the 3 of them": the number, then what it counts
_N_OF = re.compile(rf"^(?:(?:all|the|those|these) )?(?P<n>{_CARDINAL}) of (?P<rest>(?:the|these|those|them|they|my|our|"
                   r"his|her|their|your)\b.*)$")
#: "the two cups on the left", "the first three books", "the three biggest", "those two": a number among the
#: words before the noun (after the determiners and an ordinal or side word)
_N_BEFORE = re.compile(rf"^(?P<pre>(?:(?:all|all of|the|those|these|my|our|his|her|their|your|first|last|top|bottom|"
                       rf"front|back|left|right|other) )*)(?P<n>{_CARDINAL})(?P<rest>(?: .*)?)$")
#: what may follow a number standing for its noun ("those two", "the two on the right", "the two by the door")
_AFTER_PRONOUN_NUMBER = re.compile(r"^(?: (?:on|in|at|by|near|next|behind|beside|under|over|above|below|from|to|of|"
                                   r"closest|nearest|furthest|farthest)\b.*)?$")


def take_count(phrase: str) -> tuple[str, int | None]:
    """(``phrase`` without the number, how many it names) for "the two cups on the left" ("the cups on the
    left", 2), "2 of the mugs", "both chairs" (kept: "both" is also a determiner meaning all), "those two" ("those
    ones"); (``phrase``, None) when it names no number."""
    if re.match(r"^both\b", phrase):
        return phrase, 2
    if m := _N_OF.match(phrase):
        return m["rest"], lexicon.CARDINALS[m["n"]]
    if (m := _N_BEFORE.match(phrase)) and not m["rest"].startswith((" of ", "-")):
        rest = m["rest"] if not _AFTER_PRONOUN_NUMBER.match(m["rest"]) else " ones" + m["rest"]
        return f"{m['pre']}{rest.strip()}".strip(), lexicon.CARDINALS[m["n"]]
    return phrase, None


def analyse_target(phrase: str) -> Target:
    """Analyse a referring expression ("the second cat from the left", "the chair on the left of the sofa",
    "her shirt", "the right side", "them", "the two cups on the left") into a :class:`Target`; relations to
    other objects nest. A number that names how many ("the first two books") is the target's ``count`` when the
    rest names several of a kind (else the number is part of a name: "the 3 musketeers poster")."""
    phrase = clean_phrase(phrase)
    rest, count = take_count(phrase)
    if count is not None:
        try:
            target = _analyse_target(rest)
        except UnclearInstruction:
            target = None
        if target is not None and (target.all or target.pronoun == "them") and target.region is None:
            said = strip_determiners(phrase)[0]  # the number kept in the words ("both of them": "them")
            return replace(target, expression=target.expression if said.startswith("of ") or not said else said,
                           count=count, all=True)  # fmt: skip
    return _analyse_target(phrase)


def _analyse_target(phrase: str) -> Target:
    if phrase in _EVERYONE:  # (before the determiners go: "all of us" would be "of us")
        return Target(expression=phrase, head="person", all=True)
    if m := re.match(r"^(?:everyone|everybody|every person|all the people) (?P<q>(?:in|at|on|by|near|behind|under|wearing|with|"
                     r"holding|sitting|standing) .+)$", phrase):  # "everyone in the front row": the people there
        return analyse_target(f"the people {m['q']}")
    expression, quantified = strip_determiners(_N_OF_THEM.sub("", re.sub(r"^(?:all|both|each) of (?=them$|they$)", "", phrase)))
    expression = _VIEWER.sub(lambda m: " " + m[1], one_of(expression))
    if (many := _ONE_OF_MANY.match(expression)) and singular(many["n"].split()[-1]) != many["n"].split()[-1]:
        *rest, last = many["n"].split()
        expression, quantified = " ".join([*rest, singular(last)]), quantified or many["q"] != "one"
    if (group := _COLLECTIVE.match(expression)) and (singular(group["n"]) != group["n"] or group["n"] in lexicon.INVARIANT):
        expression, quantified = f"{group['pre']}{group['n']}{group['post']}", True
    elif group and group["g"] in _HEAPS and not group["pre"]:  # "the pile of wrapping paper under the table"
        expression = f"{group['n']}{group['post']}"
    if (state := _STATE_CLAUSE.match(expression)) and (state["s"].endswith("ing") or state["s"] in lexicon.STATE_ADJECTIVES):
        expression = f"{state['s']} {state['t']}"  # "the dog that is sleeping": the sleeping dog
    if expression in lexicon.PRONOUN_FORMS:
        return pronoun_target(expression)
    if not expression or expression in lexicon.PRONOUNS or _PLACE_ONLY.match(expression):  # "that on the table"
        raise UnclearInstruction(f"cannot tell which object {phrase!r} refers to; name it (e.g. 'the red car')")
    if (region := region_target(expression)) is not None:
        return region
    if (owned := possessive_target(expression) or held_target(expression)) is not None:
        return replace(owned, all=quantified or owned.all)
    doc = load_nlp()(expression)
    own_end, relation = find_relation(doc, expression)
    target = _own_target(doc, own_end, phrase, relation)
    if relation is not None and relation.direction == "with":
        target, relation = _position_after_having(target, relation)
    return replace(target, expression=expression, all=quantified or target.all, relation=relation)


def _head_end(target: Target) -> int:
    """Where ``target``'s head noun ends in its expression (its last word as written: "lights" for "light")."""
    found = list(re.finditer(rf"\b{re.escape(target.head.split()[-1])}\w*", target.expression))
    return found[-1].end() if found else len(target.expression)


def _position_after_having(target: Target, relation: Relation) -> tuple[Target, Relation]:
    """"the lady with the stroller on the left", "the one in the flat cap, second from the right", "the woman in the red
    coat walking her dog on the left": a position said after what the target holds or wears is the target's (not "the
    man holding the left umbrella"); the anchor's words end at its noun."""
    anchor = relation.anchor
    end = _head_end(anchor)
    after = anchor.expression[end:].split()
    said = next((lexicon.SPATIAL_WORDS[w] for w in after if w in lexicon.SPATIAL_WORDS), None)
    if not after:
        return target, relation
    anchor = replace(anchor, expression=anchor.expression[:end])
    if (said is None and anchor.ordinal is None) or target.spatial or target.ordinal:
        return target, replace(relation, anchor=anchor)
    moved = replace(anchor, spatial=None, ordinal=None)
    return replace(target, spatial=relation.anchor.spatial or said, ordinal=anchor.ordinal), replace(relation, anchor=moved)


#: a state said in a clause after the object, the last words ("the dog that is sleeping"; with a place after it, the
#: place tells it apart: "the cat that's sleeping on the rug")
_STATE_CLAUSE = re.compile(r"^(?P<t>[a-z][a-z -]*?) (?:that|which|who) (?:is|are|was|were|'s) (?P<s>[a-z]+)$")
#: a phrase that names only where ("on the table", what is left of "that on the table"), or only a particle ("off")
_PLACE_ONLY = re.compile(r"^(?:(?:on|in|at|by|near|under|over|behind|beside|next to|from|off|with|inside|outside|above|"
                         r"below|underneath|on top of)(?: |$)|(?:out|away)$)")  # ("the out of focus person" is one)


def pronoun_target(word: str) -> Target:
    """"him" / "her": a person; "them": every instance of the image's main subject; "it": one object."""
    pronoun = lexicon.PRONOUN_FORMS[word]
    head = "person" if pronoun in ("him", "her") else "object"
    return Target(expression=pronoun, head=head, all=pronoun == "them", pronoun=pronoun)  # type: ignore[arg-type]


_IMAGE_SUFFIX = re.compile(rf" (?:of|in) (?:the |this |my |our )?(?:whole |entire )?(?:[a-z]+ ){{0,2}}?(?:{lexicon.PHOTO_PLACE_WORDS})$")
_REGION = re.compile(
    r"^(?:very |far )?(?:(?P<corner>top|upper|bottom|lower)[- ](?P<side>left|right)(?:[- ]hand)?(?: corner)?|"
    r"(?P<word>" + "|".join(lexicon.REGION_WORDS) + r")(?:[- ]hand)?)"
    r"(?: (?:" + "|".join(sorted(lexicon.REGION_PARTS)) + r"))?(?: of (?P<of>.+))?$"
)


def region_target(expression: str) -> Target | None:
    """A part of the image named without an object ("right side", "top half", "background",
    "left side of the image"), or of an object ("bottom of the shelf": a region ``of`` the shelf)."""
    m = _REGION.match(expression)
    if m is None:
        return None
    relation = None
    if m["of"] is not None and not _IMAGE_SUFFIX.search(expression):
        if m["word"] in ("background", "foreground") or m["corner"]:  # "the top left corner of the table": an object's
            return None
        try:
            relation = Relation("of", analyse_target(m["of"]))
        except UnclearInstruction:
            return None
    region = f"{lexicon.REGION_WORDS[m['corner']]}-{m['side']}" if m["corner"] else lexicon.REGION_WORDS[m["word"]]
    return Target(expression=expression, head="region", region=region, relation=relation)  # type: ignore[arg-type]


_POSSESSIVE = re.compile(r"^(?P<owner>.+?)(?:'s|(?<=s)') (?P<rest>.+)$")


#: "the bird perched on the man's shoulder": the bird is on the shoulder (not the shoulder of "the bird on the man");
#: "the man on the left's hat" stays the hat of the man on the left
_OWNER_PLACED = re.compile(r"\b(?:on|in|at|by|near|next to|behind|under|above|over|beside|inside|from) (?:the|a|an|his|her|their|"
                           r"my|our|its) (?!(?:" + "|".join(sorted(lexicon.POSITION_WORDS)) + r")\b)[a-z -]+$")


def _placed(owner: str) -> bool:
    """True when a possessive's owner phrase ends in a relation to an object ("the bird perched on the man"), so the
    possessive is that object's ("the man's shoulder"); "in the green dress" is what the owner wears."""
    m = _OWNER_PLACED.search(owner)
    return m is not None and not (m[0].startswith("in ") and singular(m[0].split()[-1]) in lexicon.WEARABLES)


def possessive_target(expression: str) -> Target | None:
    """A part of an owner ("her shirt", "the dog's collar", "the man on the left's hat": a ``of`` relation
    to the owner), else None. What follows the owner is the part's own words."""
    first, _, rest = expression.partition(" ")
    owner: Target | None = None
    if first in lexicon.POSSESSIVE_PRONOUNS and rest:
        owner = pronoun_target(lexicon.POSSESSIVE_PRONOUNS[first])
    elif (m := _POSSESSIVE.match(expression)) and " of " not in m["owner"] and not _placed(m["owner"]):
        owner, rest = _anchor(m["owner"]), m["rest"]
        if owner is not None and re.match(r"(?:every|each|all) ", m["owner"]):  # "every player's face"
            owner = replace(owner, all=True)
    if owner is None:
        return None
    return _part_of(owner, rest, expression)


def _part_of(owner: Target, words: str, expression: str, direction: str = "of") -> Target:
    """The target ``words`` name ("collar", "balloon"), as a part or possession of ``owner`` (an ``of`` relation), or
    in another ``direction`` to it ("the horse the cowboy is riding": below him)."""
    doc = load_nlp()(words)
    relation = Relation(direction, owner)
    return replace(_own_target(doc, len(doc), expression, relation), expression=expression, relation=relation)


#: "the balloon (that) the girl is holding", "the bag the man carries": what an owner holds or wears is the owner's
_HELD = re.compile(r"^(?P<t>[a-z][a-z -]*?) (?:that |which )?(?P<o>(?:the|a|an|his|her|their|my|our|your|this|that) "
                   r"[a-z][a-z -]*?) (?:is |are |was |were |has |have )?(?:holding|carrying|wearing|holds|carries|"
                   r"wears|wore|held|carried|has on|has|have|got|is holding on to|clutching|clutches|casts|is casting|cast|makes|leaves)"
                   r"(?: (?:on|onto|across|over) .+)?$")


#: "the horse (that) the cowboy is riding", "the bench the old man sits on": what someone rides or sits on is below them
_RIDDEN = re.compile(r"^(?P<t>[a-z][a-z -]*?) (?:that |which )?(?P<o>(?:the|a|an|his|her|their|my|our|your|this|that) "
                     r"[a-z][a-z -]*?) (?:is |are |was |were )?(?:riding|rides|rode|ridden|sitting on|sits on|sat on|"
                     r"standing on|stands on|stood on|lying on|lies on|lay on)$")


def held_target(expression: str) -> Target | None:
    """What an owner holds or wears, named by a clause ("the balloon that the girl is holding": a balloon ``of``
    the girl), or what someone rides or sits on (below them), else None."""
    for pattern, direction in ((_HELD, "of"), (_RIDDEN, "below")):
        m = pattern.match(expression)
        if m is not None and m["o"].split()[-1] not in _NO_ONE and (owner := _anchor(m["o"])) is not None:
            return _part_of(owner, m["t"], expression, direction)
    return None


#: no owner: "the chair that nobody is sitting on" is "that" + a clause, not "that nobody"'s chair
_NO_ONE = frozenset("nobody noone one anyone anybody someone somebody everyone everybody".split())


#: verbs of holding, wearing, riding or having: the object after them is on or beside the target
_HAVING = (r"(?:holding|carrying|wearing|clutching|hugging|riding|pushing|pulling|walking|leading|eating|drinking|reading|"
           r"using|kicking|throwing|catching|petting|playing with|flying|waving|wielding|brandishing|swinging|juggling|"
           r"dragging|towing|wheeling|licking|sipping|holds|carries|wears|rides|has on|has got|has|have|"
           r"(?:is |'s )?got|with)")
_INTENSIFIER = r"(?:(?:" + "|".join(sorted(lexicon.RELATION_INTENSIFIERS)) + r") )?"
#: what opens a relation after the target's own words, tried in this order at each word
_OPENERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern + r" (?P<rest>.+)$"), direction)
    for pattern, direction in (
        (r"(?:(?:on|to|at) )?(?:the )?(?:very |far )?left(?:[- ]hand)?(?: side)? of", "left-of"),
        (r"(?:(?:on|to|at) )?(?:the )?(?:very |far )?right(?:[- ]hand)?(?: side)? of", "right-of"),
        (_INTENSIFIER + r"in front of", "in-front-of"),
        (_INTENSIFIER + r"(?:on top of|atop|above|over)", "above"),
        (_INTENSIFIER + r"(?:underneath|beneath|below|under)", "below"),
        (_INTENSIFIER + r"(?:next to|close to|closer to|closest to|nearer to|nearest to|adjacent to|beside|near|nearby|"
                        r"alongside|against|by|closest|nearest|closer|nearer)", "next-to"),  # "the chair nearest the fire"
        (_INTENSIFIER + r"(?:in back of|behind)", "behind"),
        # "the photo pinned to the fridge", "the bike chained to the railing", "the woman seated at the table"
        (r"(?:pinned|taped|stuck|glued|nailed|stapled|clipped|attached|fixed|hung|mounted|painted|written|drawn) (?:to|on|onto)",
         "on"),
        (r"(?:chained|tied|tethered|locked|leaning|leaned|propped) (?:to|against|up against)(?! the (?:very |far )?(?:left|right))",
         "next-to"),
        (r"(?:seated|sitting|standing|waiting|parked) (?:at|against|outside|up against)", "next-to"),
        (r"(?:scattered|strewn|spread|lying|sprawled|draped|hanging|hung|thrown|slung|folded) (?:across|over|on|all over)", "on"),
        (_INTENSIFIER + r"(?:around|outside|facing)", "next-to"),
        (_INTENSIFIER + r"between", "between"),
        # who the target is with ("the man talking to the woman", "the dog chasing the ball"): beside it
        (r"(?:(?:who|that|which) (?:is |are |was |were |'s )?)?(?:(?:talking|speaking|chatting) (?:to|with)|(?:dancing|"
         r"arguing|walking|standing|sitting|posing|playing|laughing) with|shaking hands with|chasing|following|"
         r"looking at|watching|staring at|waving (?:at|to)|pointing (?:at|to)|smiling at|barking at|feeding|overtaking|passing)", "next-to"),
        # what the target holds, wears, rides or has ("the man holding an umbrella", "the car with the open door")
        (r"(?:(?:who|that|which) (?:is |are |was |were |'s )?)?" + _HAVING, "with"),
        (r"(?:on|onto|upon)", "on"),
        (r"(?:inside of|inside|within|in)", "in"),
        (r"at", "at"),
        (r"of", "of"),
    )
)
_ANCHOR_START = re.compile(
    r"^(?:the|a|an|this|that|these|those|his|her|their|its|my|your|our|both|two|three|four|each|every|all|him|"
    r"them|it)\b"
)


#: participles after which "in"/"with" says what covers the object, not where it is
_COVERED = frozenset("covered coated dressed wrapped soaked filled splattered splashed smeared caked dusted".split())


def _side_before_relation(doc: Any, i: int) -> bool:
    """True when ``doc[i]`` is "right" as a side ("from the right", "on the right") before a relation it would
    otherwise intensify ("... from the right next to the sink")."""
    return doc[i].text == "right" and i >= 2 and doc[i - 1].text == "the" and doc[i - 2].text in ("from", "on", "to", "at")


def find_relation(doc: Any, expression: str) -> tuple[int, Relation | None]:
    """(number of tokens of the target's own words, the relation that follows them or None).

    The first word after the head that opens a relation to a named object ("on the left of the sofa",
    "next to the bench", "that is on the table", "of the girl") ends the target's own words; positions in
    the image ("on the left", "in the background", "at the top of the picture") and clothing ("in the blue
    jacket") are no relation.
    """
    having: tuple[int, Relation] | None = None
    for tok in doc[1:]:
        if doc[tok.i - 1].text in _COVERED:  # "the car covered in snow": how it looks, not where it is
            continue
        if _side_before_relation(doc, tok.i):  # "the third bottle from the right next to the sink": a side, then next to
            continue
        for pattern, direction in _OPENERS:
            m = pattern.match(expression, tok.idx)
            if m and (relation := _relation(direction, m["rest"], worn=_marks(doc, tok.i))) is not None and _owns(doc, tok.i, direction):
                if relation.direction == "with" and relation.anchor.relation is not None:
                    # "the guy in the red beanie sitting on the log": where he is tells him apart; what he wears goes
                    having = having or (tok.i, replace(relation, anchor=replace(relation.anchor, relation=None)))
                    break
                if having is not None and relation.direction == "with":  # a second worn or held thing: the first
                    return having
                return (having[0] if having else tok.i), relation
    return having or (len(doc), None)


#: what is in a garment rather than someone in it ("the creases in his trousers", "the stain in the shirt")
_MARKS = frozenset("wrinkle wrinkles crease creases stain stains hole holes tear tears rip rips scratch scratches dent "
                   "dents mark marks spot spots smudge smudges fold folds lint fluff hair hairs".split())


def _marks(doc: Any, end: int) -> bool:
    """True when the word before ``end`` is a mark or flaw, which is in a garment, not wearing it."""
    return end > 0 and doc[end - 1].text in _MARKS


def _owns(doc: Any, end: int, direction: str) -> bool:
    """True when the first ``end`` tokens name the target; an ``of`` must follow its head directly ("the
    dress of the girl", not "the house at the end of the street"), and never an image's ("the statue of Lincoln",
    "the painting of the ship": what it shows, not its owner)."""
    span = _find_head(doc, end)
    if span is not None and direction == "of" and doc[span[1] - 1].text in _DEPICTIONS:
        return False
    if direction == "of" and _of_name([t.text for t in doc], end - 1):
        return False  # "the chest of drawers": one thing's name
    return span is not None and (direction != "of" or span[1] == end)


#: things named with an "of" ("the chest of drawers", "the cup of tea"): one object, not one thing of another
_OF_NAMES = frozenset("chest of drawers|cup of tea|cup of coffee|mug of tea|mug of coffee|glass of wine|glass of water|"
                      "glass of milk|glass of beer|pint of beer|bottle of wine|bottle of water|bunch of flowers|bouquet of flowers|"
                      "bunch of bananas|bunch of grapes|bowl of fruit|bowl of soup|bowl of cereal|plate of food|slice of pizza|"
                      "slice of cake|piece of cake|loaf of bread|jar of jam|jar of honey|box of chocolates|deck of cards|"
                      "pair of shoes|pair of glasses|pair of sunglasses|pair of scissors|pair of jeans|pair of trousers|"
                      "coat of arms|bird of paradise|stack of books|pile of books|roll of paper|ball of wool".split("|"))


def _of_name(words: list[str], i: int) -> bool:
    """True when ``words[i]`` starts a name with an "of" (:data:`_OF_NAMES`: "chests of drawers")."""
    return i + 2 < len(words) and words[i + 1] == "of" and f"{singular(words[i])} of {words[i + 2]}" in _OF_NAMES


#: the photo itself, as the last word of an anchor ("the sky in the exterior shot"); "the picture frame" is an object
_PICTURE_NOUNS = lexicon.PHOTO_NOUNS
#: things that show something ("the statue of Lincoln"): their "of" names what they show
_DEPICTIONS = frozenset("statue portrait painting picture photo bust drawing poster sculpture model map figurine".split())


#: first words after "on", "in", "at"... that, bare, name no object: idioms ("on fire", "in time", "at night", "in
#: pieces"), looks ("in red"), positions ("on left") and sizes
_NOT_BARE_ANCHORS = frozenset(
    "fire purpose time sale display hold stage air focus pieces half place use love line order charge public general "
    "particular front back top bottom middle night day home work school bed".split()
) | lexicon.COLOURS | lexicon.MATERIALS | frozenset(lexicon.POSITION_WORDS) | frozenset(lexicon.SIZE_WORDS) | lexicon.SHADES


_PAIR = re.compile(r"^(?P<a>.+?) and (?P<b>(?:the|a|an|his|her|their|its) .+)$")


#: the whole view, whose side names a side of the photo ("the left of the frame", "the far right of the skyline")
_WHOLE_VIEW = re.compile(rf"^(?:the|this|my|our) (?:whole |entire )?(?:{lexicon.PHOTO_PLACE_WORDS})$")


def _relation(direction: str, rest: str, worn: bool = False) -> Relation | None:
    """The relation to the object named by ``rest``, or None when ``rest`` names no object to place by. A bare
    noun names one too, as terse and learner English write it ("the cup on table", "the bird in sky"), but not a
    look, a position or an idiom ("the man in red", "on left", "the house on fire")."""
    if not _ANCHOR_START.match(rest):
        words = rest.split()
        described = direction == "with" and len(words) > 1  # "the tree with pink flowers": a look, then the thing
        if len(words) > 3 or (words[0] in _NOT_BARE_ANCHORS and not described):
            return None
        rest = "the " + rest
    if _is_position(rest) or (direction in ("left-of", "right-of") and _WHOLE_VIEW.match(rest)):
        return None  # "in the upper left of the frame", "on the far right of the skyline": a side of the photo
    if direction == "between" and (pair := _PAIR.match(rest)):
        first, second = _anchor(pair["a"]), _anchor(pair["b"])
        return None if first is None or second is None else Relation("between", first, second)
    anchor = _anchor(rest)
    if anchor is None or (direction == "between" and not anchor.all):
        return None
    if direction == "at":  # "at the top of the tower": within that part; "at the door" is no direction
        return Relation("in", anchor) if anchor.region is not None else None
    if not worn and direction == "in" and (anchor.head in lexicon.WEARABLES or anchor.head.split()[-1] in lexicon.WEARABLES
                                           or anchor.head.endswith("dress")):
        direction = "with"  # "the man in the blue jacket" wears it (not "the creases in his trousers": ``worn``)
    if direction == "with" and anchor.head == "glass" and re.search(r"\bglasses\b", rest):
        anchor = replace(anchor, head="glasses", all=False)  # "the woman wearing glasses": spectacles, one thing
    if direction == "with" and anchor.relation is not None and anchor.relation.anchor.pronoun is not None \
            and not anchor.relation.anchor.spatial:  # "walking his dog", "stickers all over it": the target's own
        anchor = replace(anchor, relation=None)
    if anchor.head in lexicon.VIEWERS:  # "the girl waving at the camera", "the dog looking at the camera": no object in it
        return None
    if anchor.head in lexicon.POSITION_WORDS - {"hand"}:  # "in the far corner next to the bookcase": a place in the photo
        return None
    if direction == "of" and anchor.region is not None and anchor.relation is None:
        return None
    return Relation(direction, anchor)  # type: ignore[arg-type]


def between_target(phrase: str) -> Target | None:
    """The space between two named objects ("the sofa and the chair") as a region target with a ``between``
    relation; None unless ``phrase`` names two objects."""
    relation = _relation("between", clean_phrase(phrase))
    if relation is None or relation.second is None:
        return None
    return Target(expression=f"space between {clean_phrase(phrase)}", head="region", relation=relation)


@lru_cache(maxsize=512)
def _anchor(phrase: str) -> Target | None:
    """The object a relation names, or None when the phrase names none (a region of the image alone, "its
    side", a pronoun such as "this"). Cached: every word of a long expression may try the same tail."""
    try:
        anchor = analyse_target(phrase)
    except UnclearInstruction:
        return None
    if anchor.region is not None and anchor.relation is None:
        return None
    if anchor.head in lexicon.IMAGE_WORDS or (anchor.head not in lexicon.COMPOUND_NOUNS
                                               and anchor.head.split()[-1] in _PICTURE_NOUNS):  # "in the exterior shot"
        return None
    if anchor.head in lexicon.NON_OBJECT_NOUNS and not _persons_part(anchor):  # "on its side"; not "on his back"
        return None
    return anchor


def _persons_part(target: Target) -> bool:
    """True for a part of a person ("his back", "her side"): an object to place by, unlike "its side"."""
    rel = target.relation
    return rel is not None and rel.direction == "of" and rel.anchor.pronoun in ("him", "her")


def _is_position(phrase: str) -> bool:
    """True when ``phrase`` ("the left", "the top left corner", "the top-right of the picture") names a
    position in the image, not an object."""
    rest, _ = strip_determiners(_IMAGE_SUFFIX.sub("", phrase))
    words = re.split(r"[\s-]+", rest)
    return bool(rest) and all(w in lexicon.POSITION_WORDS for w in words)


#: where drinking glasses stand ("the empty glasses on the bar"), not a wearer of spectacles
_SURFACES = frozenset("table shelf tray bar counter desk windowsill sink ledge bench cabinet sideboard".split())


def _own_target(doc: Any, own_end: int, phrase: str, relation: Relation | None) -> Target:
    """The target's own words (the first ``own_end`` tokens of ``doc``, before its relation) analysed: head,
    attributes and qualifiers. A possessed plural ("her shoes", "the car's wheels") is all of that owner's parts:
    the relation to the owner keeps the others out."""
    span = _find_head(doc, own_end)
    if span is None:
        raise UnclearInstruction(f"no object noun found in {phrase!r}; name the object to edit")
    head_start, head_end = span
    head = doc[head_end - 1]
    possessor = max((t.i for t in doc[:head_start] if t.tag_ in ("POS", "PRP$")), default=-1)
    own = doc[possessor + 1 : own_end]
    words = [t.text for t in own]
    # "his glasses", "the glasses on the man": a pair of spectacles, one thing (drinking glasses otherwise)
    worn = head.text == "glasses" and (possessor >= 0 or (relation is not None and relation.direction in ("of", "on")
                                                          and relation.anchor.head not in _SURFACES))
    if head_end - head_start == 3 and doc[head_start + 1].text == "of":  # "the chest of drawers": its first word counts
        plural = is_plural(doc[head_start])
        head_text = (singular(doc[head_start].text) if plural else doc[head_start].text) + " of " + head.text
    else:
        plural = is_plural(head) and not worn
        head_text = doc[head_start : head_end - 1].text_with_ws + (singular(head.text) if plural else head.text)
    sides = _side_words(doc, possessor + 1, own_end, name=(head_start, head_end - 1))
    spatial = next((lexicon.SPATIAL_WORDS[w] for w in sides if w in lexicon.SPATIAL_WORDS), None)
    ordinal = next((lexicon.ORDINAL_WORDS[w] * (-1 if later == "last" else 1)  # "the third last": from the end
                    for w, later in zip(words, [*words[1:], ""], strict=True) if w in lexicon.ORDINAL_WORDS), None)
    spatial, ordinal = refine_position(own.text, spatial, ordinal)  # corners; last on a side
    size = next((lexicon.SIZE_WORDS[t.text] for t in doc[possessor + 1 : head_start] if t.text in lexicon.SIZE_WORDS), None)
    attributes = attribute_words(doc, possessor + 1, head_start)
    if head.text in ("one", "ones") and head_start == head_end - 1:  # "the left one", "the red ones": of the
        pronoun = "them" if head.text == "ones" else "it"  # image's main subject, as "it" / "them", qualified
        return Target(expression=own.text, head="object", attributes=attributes, spatial=spatial, ordinal=ordinal,
                      size=size, all=pronoun == "them", pronoun=pronoun)  # fmt: skip
    if head_text in lexicon.GENERIC_HEADS:  # "the round thing on the wall", "the stuff on the floor": any object
        head_text, plural = "object", plural or head.text == "stuff"
    return Target(
        expression=own.text,
        head=head_text,
        attributes=attributes,
        spatial=spatial,
        ordinal=ordinal,
        size=size,
        all=plural,
    )


#: adverbs that grade a look ("the very big dog"), never a look themselves
_GRADING = frozenset("very really so quite too extremely super rather fairly slightly somewhat most more less".split())
#: the first word of a two-word colour ("dark brown", "navy blue", "hot pink")
_COLOUR_FIRST = lexicon.SHADES | lexicon.COLOUR_PREFIXES


def _hyphen_groups(doc: Any, start: int, end: int) -> list[tuple[int, int]]:
    """The words of ``doc[start:end]`` as token spans, a hyphenated word one span ("black-and-white",
    "grey-haired", "polka-dot": the tokenizer splits them at their hyphens)."""
    spans: list[tuple[int, int]] = []
    i = start
    while i < end:
        j = i + 1
        while j + 1 < end and _hyphen_before(doc, j + 1):
            j += 2
        spans.append((i, j))
        i = j
    return spans


#: looks and states the tagger may call nouns ("the boiling kettle", "the asleep puppy")
_LOOK_NOUNS = lexicon.COLOURS | lexicon.MATERIALS | lexicon.STATE_ADJECTIVES | lexicon.STATE_PARTICIPLES


def _is_look_word(tok: Any) -> bool:
    """A single word before the head that describes it: an adjective, colour, material or participle ("striped",
    "checked", "broken", spaCy's verbs there), or an adjective it took for an adverb ("long"), not a grading adverb."""
    if tok.text in _QUALIFIERS:
        return False
    if tok.pos_ == "ADJ" or tok.tag_ in ("VBG", "VBN", "VBD") or tok.text in _LOOK_NOUNS:
        return True
    return tok.pos_ == "ADV" and tok.text not in _GRADING and not tok.text.endswith("ly")


def attribute_words(doc: Any, start: int, end: int) -> tuple[str, ...]:
    """The target's attributes among the words ``doc[start:end]`` before its head: each describing word, a
    hyphenated one whole ("black-and-white", "polka-dot"), a two-word colour as one ("dark brown", "navy blue")."""
    out: list[tuple[int, str]] = []  # (index of the last token, the attribute)
    for a, b in _hyphen_groups(doc, start, end):
        if b - a > 1:  # a hyphenated word before the head describes it
            if not any(t.text in _QUALIFIERS or t.text in lexicon.POSITION_WORDS for t in doc[a:b]):
                out.append((b - 1, doc[a:b].text))
        elif _is_look_word(doc[a]):
            word = doc[a].text
            if out and out[-1][0] == a - 1 and out[-1][1] in _COLOUR_FIRST and word in lexicon.COLOURS:
                out[-1] = (a, f"{out[-1][1]} {word}")
            else:
                out.append((a, word))
    return tuple(word for _, word in out)


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
        if singular(word) == head_last or lexicon.IRREGULAR_PLURALS.get(word) == head_last:
            return " ".join([*target.head.split()[:-1], word])
    return None


def captions(action: str, target: Target, replacement: str | None, placement: str | None = None) -> tuple[str, str]:
    """InstructEdit's (input caption, edited caption) pair, "a photo of ...". A region of the image or an
    object pronoun ("them", "it": the image settles what) is described as "a photo"; an addition placed
    beside the target joins it with "and"."""
    if action == "global":
        return "a photo", f"a photo, {replacement}"
    named = target.head not in ("object", "region")
    source = f"a photo of {noun_phrase(target)}" if named else "a photo"
    if action == "replace":
        return source, f"a photo of {with_article(replacement or '')}"
    if action == "modify" and named and is_wording(target, replacement):  # new wording
        return source, f'a photo of {noun_phrase(target)} reading "{replacement}"'
    if action == "modify" and named and _POSE.match(replacement or ""):  # "looking at the camera": after the noun
        return source, f"a photo of {noun_phrase(target)} {replacement}"
    if action == "modify":
        return source, f"a photo of {noun_phrase(target, (replacement or '',))}" if named else f"a photo, {replacement}"
    if action == "add":
        return source, f"{source} {'with' if placement is None else 'and'} {with_article(replacement or '')}"
    return source, f"a photo of {left_behind(target)}"  # remove: describe what is left behind


#: a pose said with a participle and what follows it ("looking at the camera", "facing left"): said after the noun
_POSE = re.compile(r"^[a-z]+(?:ing|ed) (?:at|towards?|into|away|up|down|left|right|back|ahead|straight|forward|over|out|"
                   r"sideways|to)\b")


_LOCATIVE = re.compile(r"\b(?:on top of|on|onto|under|beneath|below|beside|next to|near|against|by|at|in front of|"
                       r"behind|above|over|inside|across|along) (?:the|a|an) (?P<place>[a-z][a-z ]*)$")  # fmt: skip


def is_wording(target: Target, replacement: str | None) -> bool:
    """Whether ``replacement`` is new wording for text in the picture ("the text on the sign" -> "OPEN", "the word
    SALE" -> "SOLD"), not a new look of it ("make the text red", "make the title bigger")."""
    words = target.head.split()
    if replacement and words[-1] in _SIGNS and re.search(r"\d", replacement):  # "change the banner to champions 2024"
        return True
    if not replacement or not (words[-1] in lexicon.TEXT_WORDS or words[0] in ("word", "words", "text", "letters")):
        return False
    return not all(w in _TEXT_LOOKS for w in replacement.lower().split())


#: things that carry wording ("change the banner to CHAMPIONS 2024": new wording when it has a number)
_SIGNS = frozenset("sign banner poster placard noticeboard chalkboard blackboard whiteboard board menu label plaque billboard "
                   "scoreboard signboard tag ticket cake card".split())
#: how text can look ("make the title bold and red"); "open" / "closed" are wordings on a sign, not looks
_TEXT_LOOKS = (
    frozenset("bigger smaller larger and bold italic underlined outlined glowing shiny blurry blurred faded neon "
              "handwritten cursive".split())
    | lexicon.COLOURS | lexicon.MATERIALS | lexicon.SHADES | lexicon.COMPARATIVES | frozenset(lexicon.SIZE_WORDS)
)  # fmt: skip


def left_behind(target: Target) -> str:
    """What a removal leaves: the place the target is on/next to ("the cup on the table" -> "the table",
    "the man next to the car" -> "the car" and the scene), else the background."""
    m = _LOCATIVE.search(target.expression)
    if m and not set(m["place"].split()) & set(lexicon.SPATIAL_WORDS):
        return f"the {m['place']}"
    return "the background"


def segmentation_prompt(target: Target) -> str:
    """What the detector looks for: the head noun with its attributes ("green bus"), never the anchor of a
    relation (the segmenter adds it); "person" / "object" for a pronoun; the region words for a region
    ("right side", "bottom")."""
    if target.region is not None:
        return _IMAGE_SUFFIX.sub("", target.expression).split(" of ")[0]
    return " ".join([*target.attributes, target.head])


def build_plan(instruction: str, action: str, target: Target, replacement: str | None, parser: str,
               placement: str | None = None) -> EditPlan:  # fmt: skip
    """Assemble an :class:`EditPlan`; the segmentation prompt is the head noun with its attributes."""
    source, edited = captions(action, target, replacement, placement)
    return EditPlan(
        instruction=instruction,
        action=action,  # type: ignore[arg-type]
        target=target,
        replacement=replacement,
        segmentation_prompt="image" if action == "global" else segmentation_prompt(target),
        source_caption=source,
        edited_caption=edited,
        parser=parser,
        placement=placement,  # type: ignore[arg-type]
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
