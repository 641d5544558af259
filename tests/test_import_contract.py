"""The import contract (.importlinter; docs/design.md, "Layers") holds: imports go one way, the domain knows no
HTTP, and the sandbox processor neither imports the platform nor is imported by it. ``make lint`` and CI run it
too; here it fails the suite with import-linter's report of every import that runs the wrong way."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_imports_keep_the_contract(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True) == 0
