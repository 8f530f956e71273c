"""Plate formats by region (plate_formats.yaml) and the one rule that may change a read.

A camera's configured regions (`regions: [de, fr]`) put formats in force; an OCR model's
own region guess never does. A read is matched in this order (the first that applies):

1. It fits a specific format as read: kept; `format` and `country` say which (country
   only when every fitting format agrees).
2. It fits a `vanity` format as read (US plates can spell anything): kept as read.
3. Look-alike fixes (O/0, I/1, B/8, S/5, Z/2, G/6, D/0, Q/0...) where a specific format
   demands the other class in that position: at most MAX_FIXES, applied only when the
   formats needing the fewest fixes all give one text, or when the OCR's confidence
   singles one out (its fixed characters read with clearly less confidence than any
   rival text's).
4. It fits a `generic` (permissive national) format as read: kept as read.
5. Otherwise it is kept exactly as read, with `format` empty: flagged, never rewritten.

Plates carry things beside the text that an OCR may read as characters: the EU band
(circle of stars, country code) on the left, US emblems and stickers, screws, frame
edges, German registration seals between the groups. Steps 1 and 3 also try the read
without its band (stars read as O or 0, then a configured country's code: that
country's formats, and the band names the country; a code of MIN_BAND_CODE letters or
more also admits that country's generic layouts in step 1); step 1 (as read only) also
without a seal where a layout has one (`seal_after`): a character the OCR doubted, or
one read as a round mark (O, 0, 3...) unless the OCR read a separator beside it (then
the separator was the seal). Both steps try the read without its first character (band,
emblem, screw) only when the OCR doubted that character (DOUBTFUL).

A slot may fix a character into its own class only: a digit into the letter it looks
like, a letter into a digit, and where a scheme leaves letters out (`letters`, e.g.
Spain's consonants) a round letter into the round one it allows (O -> D). Published
number rules (no leading zero in DE, GB, IE, FI, DK, NO, CH serials) are `[123456789]`
slots.
"""
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

#: a digit read where a letter belongs
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T",
                   "8": "B"}
#: a letter read where a digit belongs
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1",
                   "Z": "2", "S": "5", "G": "6", "T": "7", "B": "8", "A": "4"}
#: a round letter read as another round one, where a scheme's letters leave the read one out
#: (Spain's series use no O; a DIN-like D and O differ only at the left edge)
LETTER_LOOKALIKES = {"O": "DQ", "D": "O", "Q": "O", "0": "OD"}
SEAL_READS = "O0QDC3"  # what an OCR reads a round registration seal as
FIRST_DROPPED = "-"  # a variant's band field: its first character was dropped (no country)
MIN_BAND_CODE = 2  # a band code this long, read in front, names the country (a letter may be text)
MIN_EDGE_TEXT = 5  # an edge character is dropped only from reads longer than this
DOUBTFUL = 0.6  # an OCR character this unsure may be a mark beside the text (band, emblem, seal)
DOUBT_MARGIN = 0.2  # fixes are chosen over a rival's only if the OCR doubted them this much more
MAX_FIXES = 1  # one look-alike slip is an OCR error; a read needing more is another layout (a foreign or older plate), or noise
FORMATS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plate_formats.yaml")
_SLOT = re.compile(r"(\[[^\]]+\]|[LNA]|[A-Z0-9])(?:\{(\d+)(?:,(\d+))?\})?")
_KEEP = re.compile(r"[^A-Z0-9]")
_REGION_TOKEN = re.compile(r"\[[^\]]*\]")  # OpenALPR labels, platerec reads: "[br]ABC1234"
_STARS = ("", "O", "0")  # the EU circle of stars, when the OCR reads it as a character


class PlateFormat(object):
    """One layout: slot sequences (every length its pattern allows), country, flags."""

    __slots__ = ("name", "country", "generic", "vanity", "marks", "slots", "letters")

    def __init__(self, name: str, pattern: str, country: str = "", generic: bool = False,
                 vanity: bool = False, max_len: int = 0, marks: Sequence[int] = (),
                 letters: str = "") -> None:
        self.name, self.country = name, country
        self.generic, self.vanity = generic, vanity
        self.marks = tuple(marks)  # positions where a round seal may be read as a character
        self.slots = expand(pattern, max_len)
        self.letters = letters  # the letters the scheme's L slots use ("": all of A-Z)

    @property
    def specific(self) -> bool:
        """A layout precise enough to justify a look-alike fix."""
        return not (self.generic or self.vanity)

    def fit(self, text: str) -> Optional[Tuple[str, int]]:
        """(fixed text, number of look-alike fixes) when `text` fits, else None."""
        best = None  # type: Optional[Tuple[str, int]]
        for slots in self.slots:
            if len(slots) == len(text):
                fitted = fit_slots(text, slots, self.letters)
                if fitted is not None and (best is None or fitted[1] < best[1]):
                    best = fitted
        return best

    def __repr__(self) -> str:
        return "PlateFormat(%r, %r)" % (self.name, self.country)


def expand(pattern: str, max_len: int = 0) -> List[Tuple[str, ...]]:
    """Every fixed slot sequence `pattern` allows ('L{1,2}N' -> [(L, N), (L, L, N)])."""
    seqs = [()]  # type: List[Tuple[str, ...]]
    pos = 0
    while pos < len(pattern):
        m = _SLOT.match(pattern, pos)
        if m is None:
            raise ValueError("bad plate pattern %r at %d" % (pattern, pos))
        slot, lo, hi = m.group(1), m.group(2), m.group(3)
        low = int(lo) if lo else 1
        high = int(hi) if hi else low
        seqs = [s + (slot,) * n for s in seqs for n in range(low, high + 1)]
        pos = m.end()
    seqs = [s for s in seqs if not max_len or len(s) <= max_len]
    return sorted(set(seqs), key=lambda s: (len(s), s))


def fit_slots(text: str, slots: Sequence[str],
              letters: str = "") -> Optional[Tuple[str, int]]:
    """`text` fitted slot by slot: (fixed text, fixes); None when a character cannot fit.
    `letters`: the letters an L slot allows (a scheme that leaves some out); a character
    outside a slot's set may become its look-alike inside it (one fix)."""
    out, swaps = [], 0
    for ch, slot in zip(text, slots):
        if slot == "A" or slot == ch:
            out.append(ch)
            continue
        if slot == "L":
            allowed = letters or _UPPER
        elif slot == "N":
            allowed = _DIGITS
        elif slot.startswith("["):  # a set of literal characters, e.g. [EH]
            allowed = slot[1:-1]
        else:  # a literal character
            allowed = slot
        if ch in allowed:
            out.append(ch)
            continue
        fixed = _lookalike(ch, allowed)
        if fixed is None:
            return None
        out.append(fixed)
        swaps += 1
    return "".join(out), swaps


def _lookalike(ch: str, allowed: str) -> Optional[str]:
    """The look-alike of `ch` that `allowed` holds (digit/letter first, then round letters)."""
    for other in DIGIT_TO_LETTER.get(ch, "") + LETTER_TO_DIGIT.get(ch, "") \
            + LETTER_LOOKALIKES.get(ch, ""):
        if other in allowed:
            return other
    return None


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"


class Match(object):
    """The outcome for one read: final text, kept confidences, format and country."""

    __slots__ = ("text", "confidences", "format", "country", "fixes", "specific")

    def __init__(self, text: str, confidences: Tuple[float, ...], fmt: str = "",
                 country: str = "", fixes: int = 0, specific: bool = False) -> None:
        self.text, self.confidences, self.format = text, confidences, fmt
        self.country, self.fixes = country, fixes
        self.specific = specific  # fits a specific layout (not a vanity or generic one)

    @property
    def fits(self) -> bool:
        return bool(self.format)


#: one way to read a text: (text, confidences, formats to try, country a read band names)
Variant = Tuple[str, Tuple[float, ...], List[PlateFormat], str]


class FormatBook(object):
    """The formats in force for one camera (its configured regions)."""

    def __init__(self, formats: Sequence[PlateFormat], bands: Dict[str, str]) -> None:
        self.formats = list(formats)
        self.bands = dict(bands)  # band code -> country

    @property
    def empty(self) -> bool:
        return not self.formats

    def match(self, text: str, confidences: Sequence[float] = ()) -> Match:
        """Apply the module's rules to an OCR read (any case, any separators)."""
        gaps = separated(text)
        text, confs = clean(text, confidences)
        if not self.formats or not text:
            return Match(text, confs)
        variants = self._variants(text, confs, gaps)
        for rest, rest_confs, formats, band in variants:  # 1. a specific format as read
            if band == FIRST_DROPPED and not (confs and confs[0] < DOUBTFUL):
                continue  # a first character the OCR was sure of is part of the text
            exact = [f for f in formats if f.specific and f.fit(rest) == (rest, 0)]
            code = text[:len(text) - len(rest)].lstrip("".join(_STARS))
            if not exact and len(code) >= MIN_BAND_CODE and band \
                    and band != FIRST_DROPPED:  # a band code read: its country's layouts
                exact = [f for f in formats if f.generic and f.fit(rest) == (rest, 0)]
            if exact:
                return Match(rest, rest_confs, exact[0].name, _country(band, exact),
                             specific=exact[0].specific)
        vanity = [f for f in self.formats if f.vanity and f.fit(text) == (text, 0)]
        if vanity:  # 2.
            return Match(text, confs, vanity[0].name, _one_country(vanity))
        for variant in variants:  # 3. as read, then without a read band or a doubtful
            fixed = self._fixed(variant) if self._may_fix(variant, variants, confs) else None
            if fixed is not None:  # first character
                return fixed
        generic = [f for f in self.formats if f.generic and f.fit(text) == (text, 0)]
        if generic:  # 4.
            return Match(text, confs, generic[0].name, _one_country(generic))
        return Match(text, confs)  # 5.

    def _variants(self, text: str, confs: Tuple[float, ...],
                  gaps: Sequence[int] = ()) -> List[Variant]:
        """The read as read, without a read band (stars + code), without a seal read as a
        character, without its first character (in this order): (text, confidences,
        formats to try, country the band names). A seal is a character where a layout
        has one that the OCR doubted, or read as a round mark (SEAL_READS) with no
        separator read beside it (`gaps`: indices that follow one; such a separator
        was the seal)."""
        out = [(text, confs, self.formats, "")]  # type: List[Variant]
        for code, country in sorted(self.bands.items(), key=lambda kv: -len(kv[0])):
            for stars in _STARS:
                prefix = stars + code
                if len(text) > len(prefix) + 1 and text.startswith(prefix):
                    own = [f for f in self.formats if f.country == country]
                    out.append((text[len(prefix):], confs[len(prefix):], own, country))
        sealed = [f for f in self.formats if f.marks]
        for i in sorted(set(p for f in sealed for p in f.marks)):
            doubted = i < len(confs) and confs[i] < DOUBTFUL
            beside = i in gaps or (i + 1) in gaps
            if 0 < i < len(text) - 1 and (doubted or (text[i] in SEAL_READS and not beside)):
                own = [f for f in sealed if i in f.marks]
                out.append((text[:i] + text[i + 1:], confs[:i] + confs[i + 1:], own, ""))
        if len(text) > MIN_EDGE_TEXT:  # a border, screw, emblem or band read as a character
            out.append((text[1:], confs[1:], self.formats, FIRST_DROPPED))
        return out

    @staticmethod
    def _may_fix(variant: Variant, variants: Sequence[Variant],
                 confs: Tuple[float, ...]) -> bool:
        """Fixes apply to the read as read, without a read band, and without a first
        character the OCR doubted; never on top of a dropped seal."""
        if variant is variants[0]:
            return True
        if variant[3] == FIRST_DROPPED:
            return bool(confs) and confs[0] < DOUBTFUL
        return bool(variant[3])  # a band that was read

    def _fixed(self, variant: Variant) -> Optional[Match]:
        """The text the fewest look-alike fixes give for a variant, or None. Formats that
        need as few fixes but give other texts are ruled out only by the OCR's own doubt:
        the chosen fixes change characters read with clearly less confidence
        (DOUBT_MARGIN) than any rival's."""
        rest, rest_confs, formats, band = variant
        fits = {}  # type: Dict[str, Tuple[int, float, List[PlateFormat]]]
        for f in formats:
            fitted = f.fit(rest) if f.specific else None
            if fitted is None:
                continue
            fixed, fixes = fitted
            doubt = max([rest_confs[i] for i, (a, b) in enumerate(zip(rest, fixed))
                         if a != b and i < len(rest_confs)] or [0.0])
            old = fits.get(fixed)
            if old is None or (fixes, doubt) < old[:2]:
                fits[fixed] = (fixes, doubt, [f])
            elif (fixes, doubt) == old[:2]:
                old[2].append(f)
        if not fits:
            return None
        fewest = min(v[0] for v in fits.values())
        best = sorted((v[1], text, v[2]) for text, v in fits.items() if v[0] == fewest)
        if fewest > MAX_FIXES or (len(best) > 1 and best[1][0] - best[0][0] < DOUBT_MARGIN):
            return None
        _, text, chosen = best[0]
        return Match(text, rest_confs, chosen[0].name, _country(band, chosen), fewest,
                     specific=True)


def _country(band: str, formats: Iterable[PlateFormat]) -> str:
    """The country a read band names, else the one every format agrees on."""
    return band if band and band != FIRST_DROPPED else _one_country(formats)


def _one_country(formats: Iterable[PlateFormat]) -> str:
    countries = set(f.country for f in formats)
    return countries.pop() if len(countries) == 1 else ""


def separated(text: str) -> List[int]:
    """Indices into clean(text) of the characters right after a separator the OCR read
    (a space, dash or dot: where a plate prints a gap, or a seal was read as one)."""
    out, kept, gap = [], 0, False
    for ch in (text or "").upper():
        if _KEEP.match(ch):
            gap = kept > 0
            continue
        if gap:
            out.append(kept)
        gap = False
        kept += 1
    return out


def clean(text: str, confidences: Sequence[float] = ()) -> Tuple[str, Tuple[float, ...]]:
    """Upper case, only A-Z and 0-9, confidences kept aligned with what is kept."""
    chars, confs = [], []
    conf_list = list(confidences)
    for i, ch in enumerate((text or "").upper()):
        if _KEEP.match(ch):
            continue
        chars.append(ch)
        confs.append(conf_list[i] if i < len(conf_list) else 0.0)
    return "".join(chars), tuple(confs)


def normalize_plate(text: Optional[str], region_tokens: bool = False) -> str:
    """The one comparison form of a plate text: upper case, only letters and digits
    (' abc-12 34' -> 'ABC1234'): how the dispatcher groups and looks up reads, the store keys
    them and the scorer compares reads with labels. ``region_tokens``: the text may carry a
    region token (OpenALPR labels, platerec's reads: '[br]abc-1234'), dropped first
    ('ABC1234', not 'BRABC1234')."""
    if region_tokens:
        text = _REGION_TOKEN.sub("", text or "")
    return clean(text or "")[0]


class FormatCatalog(object):
    """Every region of a formats file; `book(regions)` is what a camera puts in force."""

    def __init__(self, data: dict) -> None:
        self.regions = {}  # type: Dict[str, Tuple[List[PlateFormat], Dict[str, str]]]
        for key, spec in (data.get("regions") or {}).items():
            country = str(spec.get("country", key)).upper()
            bands = {str(code).upper(): country for code in spec.get("band") or ()}
            marks = [int(i) for i in spec.get("seal_after") or ()]
            formats = [PlateFormat(str(f["name"]), str(f["pattern"]), country,
                                   bool(f.get("generic", False)), bool(f.get("vanity", False)),
                                   int(f.get("max_len", 0)), marks,
                                   str(f.get("letters", "")).upper())
                       for f in spec.get("formats") or ()]
            self.regions[str(key).lower()] = (formats, bands)
        self.groups = {str(k).lower(): [str(r).lower() for r in v]
                       for k, v in (data.get("groups") or {}).items()}

    @classmethod
    def load(cls, path: str = FORMATS_FILE) -> "FormatCatalog":
        import yaml

        with open(path) as fh:
            return cls(yaml.safe_load(fh) or {})

    def names(self) -> List[str]:
        return sorted(set(self.regions) | set(self.groups))

    def book(self, regions: Sequence[str]) -> FormatBook:
        """The formats of `regions` (region keys or group names; 'none' or empty: none)."""
        formats, bands = [], {}  # type: List[PlateFormat], Dict[str, str]
        for name in self.resolve(regions):
            region_formats, region_bands = self.regions[name]
            formats.extend(region_formats)
            bands.update(region_bands)
        return FormatBook(formats, bands)

    def resolve(self, regions: Sequence[str]) -> List[str]:
        """Region keys for names that may be groups; ValueError names an unknown one."""
        out = []  # type: List[str]
        for name in (r.strip().lower() for r in regions):
            if not name or name == "none":
                continue
            members = self.groups.get(name, [name])
            for member in members:
                if member not in self.regions:
                    raise ValueError("unknown plate region %r (known: %s)"
                                     % (member, ", ".join(self.names())))
                if member not in out:
                    out.append(member)
        return out


_CATALOG = []  # type: List[FormatCatalog]


def default_catalog() -> FormatCatalog:
    """The packaged formats file, parsed once per process."""
    if not _CATALOG:
        _CATALOG.append(FormatCatalog.load())
    return _CATALOG[0]
