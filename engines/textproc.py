"""Plate-text post-processing: clean-up, per-region slot templates, regex, length, confidence.

A template spells a plate layout with L (letter), N (digit) or a literal character, e.g.
Brazil's old "LLLNNNN" and Mercosul "LLLNLNN". A read of the template's length is fitted to
the template that needs the fewest look-alike swaps (O<->0, I<->1, Z<->2, S<->5, B<->8...,
a letter in a digit slot and vice versa); a read no template fits stays as it is. The
template set comes from the configured region (a deployment setting) or else from the
region the OCR predicted.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

from alpr import defaults

#: plate layouts per region; only regions with one unambiguous national format are listed
REGION_TEMPLATES = {
    "br": ("LLLNNNN", "LLLNLNN"),  # Brazil: old grey plates, Mercosul
}  # type: Dict[str, Tuple[str, ...]]

#: a digit read where a letter belongs
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T",
                   "8": "B"}
#: a letter read where a digit belongs
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5",
                   "G": "6", "T": "7", "B": "8", "A": "4"}

_DROP = re.compile(r"[\s\-\.]+")


def normalize(text: str) -> str:
    """Comparison form: upper case, no spaces, dashes or dots."""
    return _DROP.sub("", text or "").upper()


def fit_template(text: str, template: str) -> Optional[Tuple[str, int]]:
    """(fixed text, number of swaps) when `text` fits `template`, else None."""
    if len(text) != len(template):
        return None
    out, swaps = [], 0
    for ch, slot in zip(text, template):
        if slot == "L":
            if ch.isalpha():
                out.append(ch)
            elif ch in DIGIT_TO_LETTER:
                out.append(DIGIT_TO_LETTER[ch])
                swaps += 1
            else:
                return None
        elif slot == "N":
            if ch.isdigit():
                out.append(ch)
            elif ch in LETTER_TO_DIGIT:
                out.append(LETTER_TO_DIGIT[ch])
                swaps += 1
            else:
                return None
        elif ch == slot:
            out.append(ch)
        else:
            return None
    return "".join(out), swaps


def apply_templates(text: str, templates: Sequence[str]) -> str:
    """`text` fitted to the template with the fewest swaps (ties: the first listed)."""
    best = None  # type: Optional[Tuple[str, int]]
    for template in templates:
        fitted = fit_template(text, template)
        if fitted is not None and (best is None or fitted[1] < best[1]):
            best = fitted
    return best[0] if best is not None else text


class TextProcessor(object):
    """Turns an OCR's raw text into the reported plate text, or rejects the read."""

    def __init__(self, region: str = "", templates: Optional[Dict[str, Sequence[str]]] = None,
                 regex: str = "", min_len: int = defaults.MIN_PLATE_LEN,
                 min_conf: float = defaults.OCR_MIN_CONF,
                 replace: Optional[Dict[str, str]] = None,
                 use_predicted_region: bool = True) -> None:
        self.region = (region or "").lower()
        self.templates = dict(REGION_TEMPLATES if templates is None else templates)
        self.regex = re.compile(regex) if regex else None
        self.min_len = int(min_len)
        self.min_conf = float(min_conf)
        self.replace = dict(replace or {})
        self.use_predicted_region = use_predicted_region

    def templates_for(self, predicted_region: str) -> Sequence[str]:
        if self.region:
            return self.templates.get(self.region, ())
        if self.use_predicted_region:
            return self.templates.get((predicted_region or "").lower(), ())
        return ()

    def clean(self, text: str, confidences: Sequence[float] = ()) -> Tuple[str, Tuple[float, ...]]:
        """Upper-case, drop separators (keeping confidences aligned), apply replace rules."""
        chars, confs = [], []
        conf_list = list(confidences)
        for i, ch in enumerate(text or ""):
            if _DROP.match(ch):
                continue
            ch = self.replace.get(ch.upper(), ch.upper())
            chars.append(ch)
            confs.append(conf_list[i] if i < len(conf_list) else 0.0)
        return "".join(chars), tuple(confs)

    def process(self, text: str, confidences: Sequence[float] = (),
                predicted_region: str = "") -> Optional[Tuple[str, Tuple[float, ...]]]:
        """(final text, aligned confidences), or None when the read must be dropped."""
        cleaned, confs = self.clean(text, confidences)
        templates = self.templates_for(predicted_region)
        if templates:
            cleaned = apply_templates(cleaned, templates)
        if len(cleaned) < self.min_len:
            return None
        if self.regex is not None and not self.regex.fullmatch(cleaned):
            return None
        if self.min_conf > 0 and (min(confs) if confs else 0.0) < self.min_conf:
            return None
        return cleaned, confs


def region_templates(spec: str) -> Dict[str, List[str]]:
    """Parse 'br=LLLNNNN|LLLNLNN;xx=NNNLLL' into a template table (CLI/YAML helper)."""
    table = {}  # type: Dict[str, List[str]]
    for part in (spec or "").split(";"):
        if "=" in part:
            name, layouts = part.split("=", 1)
            table[name.strip().lower()] = [t.strip().upper() for t in layouts.split("|") if t.strip()]
    return table
