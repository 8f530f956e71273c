"""Plate-text post-processing: the camera's plate formats, then regex, length, confidence.

The formats in force come from the camera's configured regions (alpr.plate_formats): the
frame's own `regions` (the producer's camera setting) or else the node's; an OCR model's
region guess is reported but never selects formats.
"""
import logging
import re
from typing import Dict, Optional, Sequence, Tuple

from alpr import defaults
from alpr.plate_formats import FormatBook, FormatCatalog, Match, default_catalog

log = logging.getLogger(__name__)
MAX_BOOKS = 64  # distinct region lists kept parsed (cameras of a fleet name a handful)


class TextProcessor(object):
    """Turns an OCR's raw text into the reported plate text, or rejects the read."""

    def __init__(self, regions: Sequence[str] = defaults.PLATE_REGIONS, regex: str = "",
                 min_len: int = defaults.MIN_PLATE_LEN,
                 min_conf: float = defaults.OCR_MIN_CONF,
                 catalog: Optional[FormatCatalog] = None) -> None:
        self.catalog = catalog if catalog is not None else default_catalog()
        self.regions = tuple(regions)
        self.default_book = self.catalog.book(self.regions)  # ValueError: unknown region
        self.books = {}  # type: Dict[Tuple[str, ...], FormatBook]
        self.regex = re.compile(regex) if regex else None
        self.min_len = int(min_len)
        self.min_conf = float(min_conf)

    def book(self, regions: Optional[Sequence[str]] = None) -> FormatBook:
        """The formats for a frame's regions (None: the node's); unknown names are logged
        and skipped, so a camera's typo costs its format rules, never its frames."""
        if regions is None:
            return self.default_book
        key = tuple(sorted(set(str(r).strip().lower() for r in regions)))
        if key not in self.books:
            if len(self.books) >= MAX_BOOKS:  # frames name regions: bound what they cost
                self.books.clear()
            known = []
            for name in key:
                try:
                    self.catalog.resolve([name])
                    known.append(name)
                except ValueError as exc:
                    log.warning("frame regions: %s", exc)
            self.books[key] = self.catalog.book(known)
        return self.books[key]

    def process(self, text: str, confidences: Sequence[float] = (),
                regions: Optional[Sequence[str]] = None) -> Optional[Match]:
        """The formats' match for a read, or None when the read must be dropped."""
        match = self.book(regions).match(text, confidences)
        if len(match.text) < self.min_len:
            return None
        if self.regex is not None and not self.regex.fullmatch(match.text):
            return None
        confs = match.confidences
        if self.min_conf > 0 and (min(confs) if confs else 0.0) < self.min_conf:
            return None
        return match
