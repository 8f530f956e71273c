"""Plate-text rules: region templates, clean-up, regex, length and confidence filters."""
from engines.textproc import TextProcessor, apply_templates, fit_template, normalize, region_templates


def test_normalize_drops_separators_and_case():
    assert normalize(" ab-c 1.23 ") == "ABC123"


def test_br_templates_fix_look_alikes_in_the_right_slots():
    br = ("LLLNNNN", "LLLNLNN")
    assert apply_templates("0ZC8400", br) == "OZC8400"
    assert apply_templates("NZ06276", br) == "NZO6276"
    assert apply_templates("BRA2E19", br) == "BRA2E19"  # Mercosul stays Mercosul
    assert apply_templates("ABC1Z34", br) == "ABC1Z34"  # fits Mercosul with no swap
    assert apply_templates("ABC12", br) == "ABC12"  # no template of that length
    assert fit_template("AB#1234", "LLLNNNN") is None


def test_processor_uses_configured_region_over_predicted():
    tp = TextProcessor(region="br")
    assert tp.process("0ZC 8400", (0.9,) * 8, "us")[0] == "OZC8400"
    tp = TextProcessor()
    assert tp.process("0ZC8400", (), "us")[0] == "0ZC8400"
    assert tp.process("0ZC8400", (), "br")[0] == "OZC8400"


def test_confidences_stay_aligned_after_dropping_separators():
    text, confs = TextProcessor().process("AB C-1", (0.9, 0.8, 0.1, 0.7, 0.2, 0.6))
    assert text == "ABC1" and confs == (0.9, 0.8, 0.7, 0.6)


def test_filters_reject_reads():
    assert TextProcessor(min_len=5).process("ABC1") is None
    assert TextProcessor(regex=r"[A-Z]{3}\d{4}").process("AB12345") is None
    assert TextProcessor(regex=r"[A-Z]{3}\d{4}").process("ABC1234")[0] == "ABC1234"
    assert TextProcessor(min_conf=0.5).process("ABC", (0.9, 0.4, 0.9)) is None
    assert TextProcessor(replace={"Q": "O"}).process("QAB")[0] == "OAB"
    assert TextProcessor().process("")[0] == ""  # an empty read keeps its box by default


def test_region_template_spec_parser():
    assert region_templates("br=LLLNNNN|lllnlnn; x=NNN") == {"br": ["LLLNNNN", "LLLNLNN"],
                                                             "x": ["NNN"]}
