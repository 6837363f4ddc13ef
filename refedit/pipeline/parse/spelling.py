"""Slips of the keyboard in an instruction ("tabel", "umbrela", "curtians", "rigth", "bakground") put right: a word
neither the spaCy model's vocabulary nor refedit's own word lists know, one edit (two letters swapped, a letter
missed, one too many; in a three-letter word only a swap) away from exactly one word refedit knows as an object or a
place, becomes that word. Words the vocabulary knows are never changed, nor words it does not know that are one edit from nothing, or
from several words ("frm": farm, firm, form, from), which :data:`~refedit.pipeline.parse.lexicon.TYPOS` lists."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from refedit.core.english import plural, singular
from refedit.pipeline.nlp import known_words
from refedit.pipeline.parse import lexicon

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: the words of place and grammar a slip most often hits ("rigth", "bakground", "betwen")
_PLACE_WORDS = frozenset(
    "left right middle centre center front back behind between beside below above under underneath next near top bottom "
    "corner background foreground side remove replace delete erase change paint colour color make turn add put swap "
    "please with from the first second third fourth fifth sixth seventh eighth ninth tenth last".split()
)


@lru_cache(maxsize=1)
def object_nouns() -> frozenset[str]:
    """The common object nouns of ``object_nouns.txt`` (singular, about 2,700) with their plurals."""
    words = (Path(__file__).with_name("object_nouns.txt")).read_text().split()
    return frozenset(words) | frozenset(plural(w) for w in words)


@lru_cache(maxsize=1)
def _targets() -> frozenset[str]:
    """The words a slip is put right to."""
    listed = set(lexicon.COLOURS) | set(lexicon.MATERIALS) | set(lexicon.WEARABLES) | set(lexicon.SPATIAL_WORDS)
    listed |= {w for name in lexicon.COMPOUND_NOUNS for w in name.split()}
    return object_nouns() | frozenset(w for w in listed if w.isalpha()) | _PLACE_WORDS


def _edits(word: str) -> tuple[set[str], ...]:
    """The one-edit neighbours of ``word`` that are likely slips, most likely first: two letters swapped; a letter
    missed, not the first (a doubled one, or in a long word, or in a word without vowels: "cofee", "bakground",
    "rght"); a doubled letter typed twice or a stray letter inside a long word. A mistyped letter is not put right:
    too many real words are one key from another ("monstera": monsters, "vibes": vines), as are short words one
    edit from another ("sprig", "gild", "pics")."""
    n = len(word)
    swapped = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(n - 1)}
    no_vowel = not re.search(r"[aeiouy]", word)
    missed = {word[:i] + c + word[i:] for i in range(1, n + 1) for c in _LETTERS
              if n >= 6 or no_vowel or c in (word[i - 1 : i] + word[i : i + 1])}  # fmt: skip
    extra = {word[:i] + word[i + 1 :] for i in range(1, n - 1) if n >= 7 or word[i] == word[i - 1]}
    return swapped, missed, extra


#: words the vocabulary lacks that are one swap from an object ("make it mono": black and white, not the moon)
_NO_SLIPS = frozenset("mono".split())
#: endings of words made from others ("photobombed", "juicier", "sunburnt", "lounger"): words, if rare ones
_INFLECTED = re.compile(r"(?:ed|ing|er|est|ly|nt)$")


@lru_cache(maxsize=4096)
def correction(word: str) -> str | None:
    """The word ``word`` is a slip of, or None when it is a word, or no slip of exactly one known word."""
    if (len(word) < 3 or not (word.isascii() and word.isalpha()) or word in known_words() or word in _targets() or word in _NO_SLIPS
            or _INFLECTED.search(word) or singular(word) in known_words()):  # "streaks": the plural of a word, no slip
        return None
    targets = _targets()
    for kind in _edits(word)[: 1 if len(word) == 3 else None]:  # three letters: a swap only ("dgo": dog)
        found = (kind - {word}) & targets
        if found:
            return next(iter(found)) if len(found) == 1 else None
    return None


def corrected(text: str, keep: frozenset[str] = frozenset()) -> str:
    """``text`` (lowercase words and spaces) with each slip put right; the words in ``keep`` (typed in quotes or
    with capitals: new wording, names) stay as typed."""
    return " ".join(w if w in keep else (correction(w) or w) for w in text.split(" "))
