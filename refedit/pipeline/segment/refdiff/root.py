"""The ROOT token (Ref-Diff Sec. 3.2): the word of the referring expression whose cross-attention map ā_k
is read, and its positions in the text encoder's token sequence (the k of Eq. 5)."""

from __future__ import annotations

import functools
from typing import Any

from refedit.errors import BadInput


@functools.lru_cache(maxsize=256)
def root_word(expression: str, head: str | None = None) -> tuple[str, int, int]:
    """The ROOT token of ``expression`` as (word, start, end) character offsets.

    The spaCy syntactic root when it is a noun (the paper's choice); else the root of the first noun chunk
    (spaCy makes "jumping" the root of "the black horse jumping"), else ``head`` where it occurs, else the
    last word. Without a spaCy model installed, ``head`` or the last word."""
    text = expression
    try:
        from refedit.pipeline.nlp import load_nlp

        doc = load_nlp()(text)
        root = next((t for t in doc if t.dep_ == "ROOT"), None)
        if root is not None and root.pos_ in ("NOUN", "PROPN"):
            return root.text, root.idx, root.idx + len(root.text)
        chunk = next(iter(doc.noun_chunks), None)
        if chunk is not None:
            r = chunk.root
            return r.text, r.idx, r.idx + len(r.text)
    except Exception:  # noqa: BLE001, S110 - no spaCy model: fall back to the parser's head noun
        pass
    if head:
        i = text.lower().find(head.lower())
        if i >= 0:
            return text[i : i + len(head)], i, i + len(head)
    words = text.split()
    if not words:
        raise BadInput("empty referring expression")
    last = words[-1]
    i = text.rfind(last)
    return last, i, i + len(last)


def token_indices(tokenizer: Any, text: str, start: int, end: int) -> list[int]:
    """Indices (in the padded, BOS-prefixed sequence the text encoder sees) of the tokens of the word at
    characters [start, end): re-tokenizing the prefixes before and through the word; a word split into
    sub-word tokens gives several indices (their maps are averaged)."""

    def count(s: str) -> int:
        return len(tokenizer(s, add_special_tokens=False).input_ids) if s.strip() else 0

    n0, n1 = count(text[:start]), count(text[:end])
    limit = tokenizer.model_max_length - 1  # the last position holds EOS after truncation
    idx = [1 + i for i in range(n0, max(n1, n0 + 1)) if 1 + i < limit]
    return idx or [min(n1, limit - 1)]
