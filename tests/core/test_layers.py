"""The layers hold: `lint-imports` (pyproject's import-linter contracts) passes on this tree and
fails, naming the contract, on a copy with one wrong import.

import-linter needs Python >= 3.9: on the Nano's 3.6 this file is skipped (the code checked is
the same; `make test` runs it on 3.11).
"""
import os
import shutil
import subprocess
import sys

import pytest

from testenv import ROOT

PACKAGES = ("alpr", "engines", "worker", "producer", "dispatcher", "store", "api", "evaluation",
            "bench", "demo")
LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")

pytestmark = pytest.mark.skipif(not os.path.exists(LINT_IMPORTS),
                                reason="import-linter not installed (Python >= 3.9 only)")


def lint_imports(root):
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run([LINT_IMPORTS, "--no-cache", "--config", os.path.join(root, "pyproject.toml")],
                          cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=120)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def copy_tree(tmp_path):
    root = str(tmp_path / "tree")
    os.makedirs(root)
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), root)
    for name in PACKAGES:
        shutil.copytree(os.path.join(ROOT, name), os.path.join(root, name),
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def add_import(root, module_path, line):
    path = os.path.join(root, module_path)
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:
        fh.write(line + "\n" + text)


def test_the_tree_keeps_every_contract():
    code, out = lint_imports(ROOT)
    assert code == 0, out
    assert "0 broken" in out and "BROKEN" not in out


@pytest.mark.parametrize("module_path, line, contract, shown", [
    ("engines/runtime.py", "import redis", "engines know nothing of Redis or RQ",
     "engines.runtime -> redis"),
    ("producer/sender.py", "import worker.jobs", "Layers:", "producer.sender -> worker.jobs"),
    ("alpr/keys.py", "import dispatcher.status", "Layers:", "alpr.keys -> dispatcher.status"),
    ("dispatcher/status.py", "import engines.models", "producer and dispatcher run no models",
     "dispatcher.status -> engines.models"),
    # the circle issue 12 found: prepare.convert imported trim, which imports prepare.convert
    ("engines/prepare/convert.py", "import engines.trim", "No import cycles",
     "No cycles are allowed in engines"),
])
def test_one_wrong_import_fails_naming_the_contract(tmp_path, module_path, line, contract, shown):
    root = copy_tree(tmp_path)
    code, out = lint_imports(root)
    assert code == 0, out  # the copy itself is clean
    add_import(root, module_path, line)
    code, out = lint_imports(root)
    assert code != 0
    assert "1 broken" in out, out
    broken = out.split("Broken contracts", 1)[1]  # the report of each broken contract
    assert contract in broken and shown in broken, out
