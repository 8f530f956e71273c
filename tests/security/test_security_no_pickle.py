"""No module outside tests/ imports pickle (or its look-alikes): nothing on the wire can be unpickled."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_DIRS = {"tests", ".git", ".venv", ".venv36", "build", "dist", "__pycache__", ".pytest_cache",
             ".cache", ".whl", "out", "node_modules"}
PATTERN = re.compile(
    r"^\s*(import\s+[\w\s,]*\b(c?pickle|dill|cloudpickle|_pickle|shelve|marshal)\b"
    r"|from\s+(c?pickle|dill|cloudpickle|_pickle|shelve|marshal)\b\s+import"
    r"|.*__import__\(\s*['\"](c?pickle|dill|cloudpickle)['\"])", re.M)


def python_sources():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def test_pattern_catches_the_forms_it_should():
    for line in ("import pickle", "import os, pickle", "from pickle import loads",
                 "    import cloudpickle", "x = __import__('pickle')"):
        assert PATTERN.search(line), line
    assert not PATTERN.search("# we never use pickle here")
    assert not PATTERN.search("import picklejar_not_a_thing_x")


def test_no_pickle_import_outside_tests():
    sources = list(python_sources())
    assert len(sources) > 10  # the walk really saw the code base
    offenders = []
    for path in sources:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for match in PATTERN.finditer(fh.read()):
                offenders.append("%s: %s" % (os.path.relpath(path, ROOT), match.group(0).strip()))
    assert offenders == []
