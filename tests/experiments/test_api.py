"""The Python API: the README's example runs as printed (in a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments import api

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})  # noqa: S102 (the README's own code)
    printed = capsys.readouterr().out
    assert "chip at CV 0.2" in printed
    for stage in ("train", "quantize", "simulate", "map", "emulate"):
        assert (tmp_path / "runs" / "api" / stage / "metrics.json").is_file()
    emulated = api.Run(tmp_path / "runs" / "api" / "emulate", {})
    assert Path(emulated) == tmp_path / "runs" / "api" / "emulate"


def test_api_options_are_validated_like_the_command_line(tmp_path):
    with pytest.raises(ValueError, match="--model must be one of"):
        api.train(tmp_path / "t", model="gru", dataset="digits")
    with pytest.raises(ValueError, match="--epochs must be a positive integer"):
        api.train(tmp_path / "t", model="rnn", dataset="digits", epochs=-3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        api.train(tmp_path / "t", model="rnn", dataset="digits", hiden=8)
