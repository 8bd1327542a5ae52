"""Writers that never leave a half-written file, and whose files others can read."""

import os

import numpy as np
import pytest

from cnncompare.fileio import atomic_path, read_csv, remove_leftovers, write_csv, write_json, write_npz


def test_written_files_get_the_umask_mode_not_a_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_npz(tmp_path / "a.npz", x=np.arange(3))
    finally:
        os.umask(old)
    for name in ("a.json", "a.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_neither_target_nor_temporary_file(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []


def test_csv_floats_read_back_exactly(tmp_path):
    value = 0.1 + 0.2
    write_csv(tmp_path / "t.csv", [{"a": value, "b": None}], ["a", "b"])
    row = read_csv(tmp_path / "t.csv")[0]
    assert float(row["a"]) == value and row["b"] == ""


def test_leftovers_of_a_killed_write_are_removed_and_nothing_else(tmp_path):
    # What a writer killed between mkstemp and the rename leaves: its temporary file.
    (tmp_path / "run[1].pt").write_bytes(b"the previous, complete file")
    torn = tmp_path / ".run[1].pt.x7k2.part"
    torn.write_bytes(b"half of the new")
    others = [".other.pt.a1.part", "run[1].pt.part", ".run[1].pt.keep"]
    for name in others:
        (tmp_path / name).write_bytes(b"")
    assert remove_leftovers(tmp_path / "run[1].pt") == [torn]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "run[1].pt"])
    assert remove_leftovers(tmp_path / "missing" / "x.pt") == []
