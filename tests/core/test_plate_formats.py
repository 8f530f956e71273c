"""Plate formats by region: what may change a read, and what must never."""
import pytest

from alpr.plate_formats import FormatCatalog, default_catalog, expand
from engines.textproc import TextProcessor

SURE = 0.99


def match(regions, text, confs=None):
    book = default_catalog().book(regions)
    return book.match(text, confs if confs is not None else [SURE] * len(text))


def test_the_issue_covers_its_countries():
    catalog = default_catalog()
    wanted = ["br", "de", "fr", "it", "es", "nl", "be", "pl", "pt", "at", "cz", "ro", "hu",
              "se", "fi", "dk", "gb", "ie", "ch", "no", "us"]
    assert set(wanted) <= set(catalog.regions)
    assert set(catalog.resolve(["eu"])) == set(wanted) - {"br", "us"}
    names = [f.name for formats, _ in catalog.regions.values() for f in formats]
    assert len(names) == len(set(names))


def test_patterns_expand_to_every_length():
    assert expand("L{1,2}N") == [("L", "N"), ("L", "L", "N")]
    assert expand("L{2,5}N{1,4}", max_len=3) == [("L", "L", "N")]
    with pytest.raises(ValueError):
        expand("L{1,2")


def test_us_reads_are_never_rewritten_into_another_state_or_country():
    # platerec's region token said BR for these US plates and the old templates broke them
    for text in ("5VDA555", "1268205", "6MMD595", "ABC12B4"):
        m = match(["us"], text)
        assert (m.text, m.country) == (text, "US")


def test_look_alikes_fixed_only_where_a_format_demands_the_class():
    m = match(["br"], "A8C1234")
    assert (m.text, m.format, m.country, m.fixes) == ("ABC1234", "br-old", "BR", 1)
    assert match(["br"], "0ZC8400").text == "OZC8400"
    assert match(["br"], "BRA2E19").text == "BRA2E19"  # Mercosul as read stays
    assert match(["br"], "ABC1Z34").text == "ABC1Z34"  # fits Mercosul with no fix


def test_a_read_that_fits_no_format_is_kept_and_flagged():
    m = match(["br"], "AB12")
    assert (m.text, m.format, m.fits, m.country) == ("AB12", "", False, "")
    m = match(["br"], "ABC12345X")
    assert (m.text, m.fits) == ("ABC12345X", False)
    assert match(["br"], "A8C1Z3S").text == "A8C1Z3S"  # two fixes: another plate, not BR


def test_ambiguous_fixes_need_the_ocr_own_doubt():
    # IT/FR LLNNNLL wants "LM298AI", DK LLNNNNN "LM29841": one fix each
    assert match(["eu"], "LM298A1").text == "LM298A1"  # the OCR was sure of both
    doubtful_last = [SURE] * 6 + [0.5]
    m = match(["eu"], "LM298A1", doubtful_last)
    assert (m.text, m.fixes) == ("LM298AI", 1)


def test_eu_band_read_in_front_is_cut_and_names_the_country():
    m = match(["eu"], "FRK875AE")
    assert (m.text, m.country) == ("RK875AE", "FR")
    m = match(["eu"], "0IRK123AB")  # stars read as 0, then the band's I
    assert (m.text, m.country) == ("RK123AB", "IT")
    m = match(["de"], "DB1234X")  # no DE format ends in a letter other than E/H
    assert m.text == "DB1234X" and not m.fits


DOUBTED_FIRST = [0.5] + [SURE] * 7


def test_a_mark_left_of_the_text_is_dropped_when_the_rest_is_a_plate():
    m = match(["us"], "4ASC7399", DOUBTED_FIRST)
    assert (m.text, m.format) == ("ASC7399", "us-tx")
    assert match(["br"], "TOKM2371", DOUBTED_FIRST).text == "OKM2371"
    assert match(["br"], "ABC1D23").text == "ABC1D23"


def test_a_first_character_the_ocr_was_sure_of_is_kept():
    assert match(["us"], "4ASC7399").text == "4ASC7399"  # fits a vanity plate as read
    m = match(["br"], "TOKM2371")
    assert (m.text, m.fits) == ("TOKM2371", False)  # flagged, not cut


def test_a_german_seal_read_as_a_character_is_dropped():
    assert match(["de"], "B0MW123").text == "BMW123"  # B [seal] MW 123
    assert match(["de"], "HD3BW6").text == "HDBW6"
    assert match(["de"], "HOAB123").text == "HOAB123"  # fits as read: a real letter O
    assert match(["fr"], "AB0C123").text == "AB0C123"  # no seals on French plates
    m = match(["eu"], "M0AB1234")  # with every EU layout in force, the seal comes first
    assert (m.text, m.country) == ("MAB1234", "DE")


def test_a_seal_is_a_doubted_character_not_one_beside_a_read_separator():
    # TUT [seal] T 1795: the seal read as a doubted S
    assert match(["eu"], "TUTST1795", [SURE] * 3 + [0.3] + [SURE] * 5).text == "TUTT1795"
    # doubted, it is the seal even with the gap after it read
    assert match(["de"], "TUTS T 1795", [SURE] * 3 + [0.3] + [SURE] * 7).text == "TUTT1795"
    # DO [seal] R 866: the seal was read as the dot, so the 0 beside it is the O of DO
    assert match(["de"], "D0. R 866").text == "DOR866"
    assert match(["de"], "D0R866").text == "DR866"  # no separator read: 0 is the seal


def test_published_number_rules_rule_out_leading_zeros():
    # GB prefix plates count from 1 (F18 TRO, never F018 TRO): the O of FO18 TRO
    m = match(["gb", "ro", "be"], "F018TRO")  # not without its F: BE 018-TRO
    assert (m.text, m.format) == ("FO18TRO", "gb-2001")
    assert match(["ie"], "171M034").text == "171MO34"  # Irish serials count from 1
    assert match(["de"], "B0123").text == "BO123"  # German numbers too
    assert match(["ro"], "B018TRO").format == "ro-bucharest"  # B 123 ABC: Bucharest's alone
    assert (match(["ro"], "F018TRO").text, match(["ro"], "F018TRO").format) == ("FO18TRO", "ro")


def test_a_scheme_without_vowels_fixes_a_round_letter_to_its_look_alike():
    m = match(["es"], "1465POS")  # Spanish series use consonants only: D, not O
    assert (m.text, m.country, m.fixes) == ("1465PDS", "ES", 1)
    assert match(["es"], "1465PDS").text == "1465PDS"


def test_a_read_two_letter_band_names_a_country_with_permissive_layouts():
    m = match(["eu"], "PLKR04044")  # PL band, then KR 04044
    assert (m.text, m.country) == ("KR04044", "PL")


def test_country_only_when_the_formats_agree():
    assert match(["fr"], "AB123CD").country == "FR"
    assert match(["fr", "it"], "AB123CD").country == ""  # both layouts are LLNNNLL
    assert match(["eu"], "ZH123456").country == "CH"


def test_formats_come_from_the_camera_regions_not_the_ocr():
    tp = TextProcessor(["br"])
    assert tp.process("0ZC 8400", [SURE] * 8).text == "OZC8400"
    assert TextProcessor().process("0ZC8400").text == "0ZC8400"  # no regions: as read
    assert tp.process("0ZC8400", [SURE] * 7, regions=["us"]).text == "0ZC8400"
    assert tp.process("0ZC8400", [SURE] * 7, regions=["xx", "br"]).text == "OZC8400"
    with pytest.raises(ValueError):
        TextProcessor(["atlantis"])


def test_confidences_stay_aligned_after_dropping_separators():
    m = TextProcessor().process("AB C-1", (0.9, 0.8, 0.1, 0.7, 0.2, 0.6))
    assert m.text == "ABC1" and m.confidences == (0.9, 0.8, 0.7, 0.6)


def test_filters_reject_reads():
    assert TextProcessor(min_len=5).process("ABC1") is None
    assert TextProcessor(regex=r"[A-Z]{3}\d{4}").process("AB12345") is None
    assert TextProcessor(regex=r"[A-Z]{3}\d{4}").process("ABC1234").text == "ABC1234"
    assert TextProcessor(min_conf=0.5).process("ABC", (0.9, 0.4, 0.9)) is None
    assert TextProcessor().process("").text == ""  # an empty read keeps its box


def test_a_catalog_from_another_file():
    catalog = FormatCatalog({"regions": {"xx": {"country": "XX", "formats": [
        {"name": "xx", "pattern": "NNN[AB]"}]}}})
    book = catalog.book(["xx"])
    assert book.match("123B").fits and not book.match("123C").fits
    assert book.match("I23A", [0.5, SURE, SURE, SURE]).text == "123A"


def test_normalize_plate_one_rule_for_reads_labels_and_keys():
    """One comparison form: the dispatcher, the store and the scorer call this one function."""
    from alpr.plate_formats import normalize_plate

    assert normalize_plate(" abc-12 34 ") == "ABC1234"
    assert normalize_plate("ab.c_1\u00b72") == "ABC12"
    assert normalize_plate(None) == ""
    assert normalize_plate("[br]abc-1 234", region_tokens=True) == "ABC1234"  # a label, a platerec read
    assert normalize_plate("[br]abc-1 234") == "BRABC1234"  # our reads carry none
