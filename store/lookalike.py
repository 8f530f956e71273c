"""Plate texts folded over look-alike characters, the key fuzzy search runs on.

OCR (and people) confuse O/0/D/Q, I/1, B/8, S/5, Z/2 and G/6. Every text is stored with its
folded key (``A8C1234`` for ``ABC1234`` and ``A8C I234``), so one look-alike swap is an
exact key match, and a trigram index over keys finds reads wrong in one more character.
"""
import re

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
#: each look-alike class folds to one representative
FOLD = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "B": "8", "S": "5", "Z": "2",
                      "G": "6"})


def normalize(text: str) -> str:
    """Upper-case alphanumerics only (the dispatcher's normalize_plate)."""
    return _NOT_ALNUM.sub("", (text or "").upper())


def plate_key(text: str) -> str:
    """Normalised and folded over look-alikes: 'abc-1234' and 'A8C1234' -> 'A8C1234'."""
    return normalize(text).translate(FOLD)


def similarity(query: str, text: str) -> float:
    """0..101: Levenshtein ratio of the folded keys (rapidfuzz), plus up to 1 for the ratio of
    the texts themselves, so among equal keys the text closest to the one typed wins."""
    from rapidfuzz import fuzz

    return (float(fuzz.ratio(plate_key(query), plate_key(text)))
            + float(fuzz.ratio(normalize(query), normalize(text))) / 100.0)
