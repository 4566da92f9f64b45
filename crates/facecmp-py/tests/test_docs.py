"""The Python examples of docs/python.md and the README run as written
(```python blocks; ```py ones are not run)."""

import pathlib
import re
import tempfile

import pytest


def examples(repo: pathlib.Path, page: str = "docs/python.md"):
    text = (repo / page).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_docs_have_examples(repo):
    assert len(examples(repo)) >= 4


@pytest.mark.parametrize("page", ["docs/python.md", "README.md"])
def test_the_examples_run(repo, tmp_path, monkeypatch, page):
    # Run from a scratch folder that sees the repository's tests/data as tests/data.
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(repo / "tests" / "data")
    monkeypatch.chdir(tmp_path)
    # What the examples put in tempfile.mkdtemp() goes into pytest's scratch folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    namespace: dict = {}
    for number, code in enumerate(examples(repo, page), 1):
        try:
            exec(compile(code, f"{page} example {number}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message is the point
            pytest.fail(f"example {number} failed: {error!r}\n{code}")
