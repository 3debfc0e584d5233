"""The README's notebook example runs as written (from a scratch directory, with the fixture
path made absolute)."""

import re

from conftest import MODELS, ROOT


def test_the_readme_notebook_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python package") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace('"models/', f'"{MODELS}/'), "README.md", "exec"), {})
    assert (tmp_path / "steered.onnx").is_file()
