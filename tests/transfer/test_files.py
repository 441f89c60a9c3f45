"""The one reader and writer of run files: strict JSON, file modes, errors that name the file."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from transfer.files import RunDirError, new_run_dir, read_json, read_tensors, strict, write_json


def test_write_json_writes_strict_json_with_the_umask_mode(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": math.nan, "b": [-math.inf, 1.5], "c": np.float32(0.5),
                                            "d": np.arange(3), "e": np.int64(7)})
    text = path.read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON")) == \
        {"a": None, "b": [None, 1.5], "c": 0.5, "d": [0, 1, 2], "e": 7}
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_strict_leaves_plain_values_alone():
    assert strict({"x": [1, "a", None, True, 2.5]}) == {"x": [1, "a", None, True, 2.5]}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("", "is not valid JSON"),
    ('{"a": ', "is not valid JSON"),
    ("[1, 2]", "holds a JSON list, not a JSON object"),
    ('"text"', "holds a JSON str, not a JSON object"),
])
def test_read_json_names_the_file(tmp_path, content, message):
    path = tmp_path / "metrics.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RunDirError, match=message) as err:
        read_json(path)
    assert str(path) in str(err.value)


def test_read_json_of_a_directory_says_so(tmp_path):
    with pytest.raises(RunDirError, match="is a directory, not a file"):
        read_json(tmp_path)
    (tmp_path / "x.json").write_text("[1]")
    assert read_json(tmp_path / "x.json", expect=list) == [1]


def test_read_tensors_reads_tensors_and_refuses_other_objects(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2), "epoch": 3, "history": [{"val": 0.5}]}, good)
    state = read_tensors(good)
    assert torch.equal(state["w"], torch.ones(2)) and state["epoch"] == 3
    foreign = tmp_path / "foreign.pt"
    torch.save({"obj": np.random.default_rng(0)}, foreign)  # an object, not a tensor
    with pytest.raises(RunDirError, match="not a file of tensors"):
        read_tensors(foreign)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(RunDirError, match="is empty"):
        read_tensors(empty)


def test_new_run_dir_refuses_empty_names_files_and_finished_runs(tmp_path):
    with pytest.raises(RunDirError, match="empty"):
        new_run_dir("")
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="is not a directory"):
        new_run_dir(tmp_path / "f")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "metrics.json").write_text("{}")
    with pytest.raises(RunDirError, match="already holds a finished run"):
        new_run_dir(tmp_path / "done")
    assert new_run_dir(tmp_path / "a" / "b").is_dir()
