"""The installation promises: the bounds in pyproject.toml are the ones tox tests, and the lock
file for a validated installation covers every dependency."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")
_BOUND = re.compile(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)$")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _version(text: str) -> tuple[int, ...]:
    """'1.26' and '1.26.0' are the same version for a lower bound."""
    parts = [int(p) for p in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            match = _PIN.match(line.strip())
            assert match, f"{path.name}: not a 'name==version' line: {line!r}"
            pins[_name(match[1])] = match[2]
    return pins


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [requirement for extra in project["optional-dependencies"].values()
                                              for requirement in extra]  # test, dask
    bounds = {}
    for requirement in requirements:
        match = _BOUND.match(requirement.replace(" ", ""))
        assert match, f"pyproject.toml: every dependency needs a lower bound 'name>=X': {requirement!r}"
        bounds[_name(match[1])] = match[2]
    return bounds


def test_minimum_constraints_are_the_declared_lower_bounds():
    declared = _declared()
    pinned = _pins(ROOT / "constraints" / "minimum.txt")
    assert set(pinned) == set(declared)
    assert {n: _version(v) for n, v in pinned.items()} == {n: _version(v) for n, v in declared.items()}


def test_lock_file_pins_every_declared_dependency_within_its_bounds():
    declared = _declared()
    locked = _pins(ROOT / "constraints" / "lock.txt")
    assert "itp-adam" not in locked
    missing = set(declared) - set(locked)
    assert not missing, f"constraints/lock.txt lacks {sorted(missing)}"
    below = {n: (locked[n], v) for n, v in declared.items() if _version(locked[n]) < _version(v)}
    assert not below, f"locked below the declared minimum: {below}"


def test_tox_tests_the_latest_and_the_lowest_versions():
    tox = (ROOT / "tox.ini").read_text()
    envlist = re.search(r"^envlist\s*=\s*(.+)$", tox, re.M)[1]
    assert [e.strip() for e in envlist.split(",")] == ["py3", "lowest"]
    assert "PIP_CONSTRAINT = {toxinidir}/constraints/minimum.txt" in tox
    assert "PIP_CONSTRAINT = {toxinidir}/constraints/lock.txt" in tox



def test_csv_of_a_frame_concatenated_with_an_empty_part_has_each_row_once(tmp_path):
    """pyarrow 14 (the declared minimum) wrote the rows before an empty chunk twice."""
    import pandas as pd

    from itp_adam.io.csvfile import write_csv

    parts = [pd.DataFrame({"X": ["a", "b"]}), pd.DataFrame({"X": pd.Series([], dtype="str")}),
             pd.DataFrame({"X": ["c"]})]
    write_csv(pd.concat(parts, ignore_index=True), tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_text().split() == ['"X"', '"a"', '"b"', '"c"']
