"""Plate texts folded over look-alike characters, the key fuzzy search runs on.

OCR (and people) confuse O/0/D/Q, I/1, B/8, S/5, Z/2 and G/6. Every text is stored with its
folded key (``A8C1234`` for ``ABC1234`` and ``A8C I234``), so any number of look-alike swaps
is an exact key match; the key's one-deletion neighbours find a key one real misread away.
"""
from typing import List

from alpr.plate_formats import normalize_plate

#: each look-alike class folds to one representative
FOLD = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "B": "8", "S": "5", "Z": "2",
                      "G": "6"})


normalize = normalize_plate  # the one comparison form (alpr.plate_formats), as the dispatcher's


def plate_key(text: str) -> str:
    """Normalised and folded over look-alikes: 'abc-1234' and 'A8C1234' -> 'A8C1234'."""
    return normalize(text).translate(FOLD)


def neighbours(key: str) -> List[str]:
    """The key and every copy of it with one character deleted (distinct, none empty).

    Two keys within one edit (substitution, insertion, deletion) share one of these, so the
    store indexes them and a search looks its own up: an exact B-tree lookup at any size
    (the symmetric-delete idea of SymSpell)."""
    out = [key]
    for i in range(len(key)):
        variant = key[:i] + key[i + 1:]
        if variant and variant not in out:
            out.append(variant)
    return out


def similarity(query: str, text: str) -> float:
    """0..101: Levenshtein ratio of the folded keys (rapidfuzz), plus up to 1 for the ratio of
    the texts themselves, so among equal keys the text closest to the one typed wins."""
    from rapidfuzz import fuzz

    return (float(fuzz.ratio(plate_key(query), plate_key(text)))
            + float(fuzz.ratio(normalize(query), normalize(text))) / 100.0)
