"""Known-plates lists in CSV and YAML."""
import pytest

from alpr.errors import ConfigError
from dispatcher.known_plates import KnownPlates


def test_csv_with_header_and_comments(tmp_path):
    path = tmp_path / "plates.csv"
    path.write_text("plate,label,note\n# staff\nabc-1234,allow,CEO car\nXYZ9876,DENY,stolen, reported\n")
    table = KnownPlates.load(str(path))
    assert len(table) == 2
    assert table.lookup("ABC1234") == {"label": "allow", "note": "CEO car"}
    assert table.lookup("xyz 9876") == {"label": "deny", "note": "stolen,reported"}
    assert table.lookup("NOPE") is None
    event = table.annotate({"plate": "XYZ9876"})
    assert event["label"] == "deny"
    assert table.annotate({"plate": "OTHER1"})["label"] == ""


def test_yaml_mapping_and_list(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("ABC1234: {label: allow, note: staff}\nQQQ111: deny\n")
    table = KnownPlates.load(str(m))
    assert table.lookup("QQQ111")["label"] == "deny"
    assert table.lookup("ABC1234")["note"] == "staff"
    lst = tmp_path / "l.yml"
    lst.write_text("- {plate: ABC1234, label: allow}\n")
    assert KnownPlates.load(str(lst)).lookup("ABC1234")["label"] == "allow"


def test_bad_label_and_missing_file_are_config_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ABC1234,maybe\n")
    with pytest.raises(ConfigError, match="bad.csv:1"):
        KnownPlates.load(str(bad))
    with pytest.raises(ConfigError):
        KnownPlates.load(str(tmp_path / "missing.csv"))


def test_a_dispatcher_keeps_an_empty_followed_list_and_labels_plates_added_later():
    """An empty list that follows the store (no plate yet when the dispatcher starts) is
    the dispatcher's list: a plate added afterwards labels the next event."""
    from alpr.keys import Keys
    from dispatcher.service import Dispatcher

    rows = []
    known = KnownPlates().follow(lambda: list(rows), every_s=0.0)
    assert len(known) == 0
    d = Dispatcher(None, Keys(), None, None, None, None, known=known)
    rows.append({"plate": "DNY7312", "label": "deny", "note": "banned"})
    event = d.known.annotate({"plate": "DNY7312"})
    assert event["label"] == "deny" and event["note"] == "banned"
