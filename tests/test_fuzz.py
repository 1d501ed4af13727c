"""Fuzzing the reader and the SDTM/ADaM stages with randomly corrupted copies of the shipped export.

A small slice of the shipped study (the first subjects of DM, their rows of every form, the
whole AE coding form) is corrupted by a seeded random mix of the problems real exports have:
blank, garbled or wrong-format cells, swapped, misspelt or missing columns, duplicated,
deleted or shuffled rows, truncated files, byte-order marks, another encoding, blank lines,
a deleted or an extra file. Each case then runs in-process through every stage up to the
ADaM datasets and the SAS transport checks. Allowed outcomes (issue 7):

* an :class:`InputError` naming the file on one line, and bad input, not a crash in
  disguise: the builder wraps an exception of a derivation as a ``BuildError`` naming the
  spec, which with unchanged specs means a derivation failed on data, so a ``BuildError``
  fails the case;
* success, with every raw row of every record form accounted for: in an SDTM record (its
  trace) or reported once in the data issues as left out (``account_rows``).

Anything else (another exception, a lost row, a dataset XPT v5 cannot hold) fails with the
case number and the corruptions applied, so ``pytest -k`` plus ``CASES`` reproduce it.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

from itp_adam import issues
from itp_adam.stages.adam import build_adam
from itp_adam.spec.evaluate import BuildError
from itp_adam.errors import InputError
from itp_adam.paths import default_specs_dir
from itp_adam.io.raw import read_export
from itp_adam.stages.sdtm import build_sdtm, prepare_forms, trace_table
from itp_adam.spec.model import load_specs
from itp_adam.io.xpt import check_xpt

from .test_bad_input import account_rows, shipped_slice

# seeds 0..CASES-1, split into BATCHES tests (32 cases: ~40 s). A deeper search runs more
# seeds with the same code: ITP_ADAM_FUZZ_CASES=2000 pytest tests/test_fuzz.py
CASES = int(os.environ.get("ITP_ADAM_FUZZ_CASES", "32"))
BATCHES = 4
SUBJECTS = 10
BOM = "\ufeff"

GARBAGE = [
    "", " ", "x", "forty", "31 FEB 2024", "2024-02-03", "UN FEB 2024", "03 UNK 2024", "UN UNK 2024",
    "29 FEB 2023", "01 JAN 1800", "31 DEC 2299", "15 MAR 2025", "14 APR 2025", "15 APR 2025",
    "-5", "0", "0.0", "7.5", "1e400", "inf", "-inf", "nan", "NaN", "1e-300", "99999999", "12.5.1",
    "<5", ">1000", "< 5", "CLUMPED", "NOT DONE", "25:61", "08:05", "8:05", "WEEK 99", "UNSCHEDULED",
    "mmol/L", "/uL", "Y", "N", "y", "Male", "MALE", "ONGOING", "Fi\u00e8vre", "\u00b5mol/L",
    "A" * 250, '"quoted"', "a,b", "tab\there", "line\nbreak", BOM + "01-001", "\u2603", "NULL",
]


# --------------------------------------------------------------------------------------------
# the slice of the shipped study and how it is written


@pytest.fixture(scope="module")
def base() -> dict[str, pd.DataFrame]:
    return shipped_slice(SUBJECTS)


@pytest.fixture(scope="module")
def specs():
    return load_specs(default_specs_dir())


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Every field quoted, as the capture system writes (raw-forms.md)."""
    frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")


# --------------------------------------------------------------------------------------------
# corruptions: each takes (rng, forms or folder) and returns a short description


def _cell(rng: random.Random, forms: dict[str, pd.DataFrame]) -> tuple[str, int, str] | None:
    name = rng.choice([n for n, f in forms.items() if len(f) and len(f.columns)])
    frame = forms[name]
    return name, rng.randrange(len(frame)), rng.choice(list(frame.columns))


def garble_cell(rng, forms):
    name, row, col = _cell(rng, forms)
    value = rng.choice(GARBAGE)
    forms[name].loc[row, col] = value
    return f"{name} row {row + 2} {col} = {value[:20]!r}"


def random_date(rng, forms):
    cols = [(n, c) for n, f in forms.items() for c in f.columns if c.endswith("DAT") and len(f)]
    name, col = rng.choice(cols)
    row = rng.randrange(len(forms[name]))
    day = rng.choice(["01", "15", "28", "29", "30", "31", "UN", "00", "32", "1"])
    month = rng.choice(["JAN", "FEB", "APR", "DEC", "UNK", "Feb", "XYZ"])
    year = rng.choice(["2019", "2023", "2024", "2025", "2026", "1899", "0000", "24"])
    value = f"{day} {month} {year}"
    forms[name].loc[row, col] = value
    return f"{name} row {row + 2} {col} = {value!r}"


def blank_cell(rng, forms):
    name, row, col = _cell(rng, forms)
    forms[name].loc[row, col] = ""
    return f"{name} row {row + 2} {col} blank"


def swap_columns(rng, forms):
    name = rng.choice(list(forms))
    cols = list(forms[name].columns)
    a, b = rng.sample(range(len(cols)), 2)
    cols[a], cols[b] = cols[b], cols[a]
    forms[name].columns = cols
    return f"{name} headers {cols[b]} and {cols[a]} swapped"


def misspell_column(rng, forms):
    name = rng.choice(list(forms))
    cols = list(forms[name].columns)
    i = rng.randrange(len(cols))
    old = cols[i]
    cols[i] = rng.choice([old + "X", old[:-1], old.lower(), f" {old} ", old.replace("A", "4")])
    forms[name].columns = cols
    return f"{name} header {old} -> {cols[i]!r}"


def drop_column(rng, forms):
    name = rng.choice(list(forms))
    col = rng.choice(list(forms[name].columns))
    forms[name] = forms[name].drop(columns=col)
    return f"{name} column {col} deleted"


def extra_column(rng, forms):
    name = rng.choice(list(forms))
    forms[name]["COMMENT"] = "free text"
    return f"{name} extra column COMMENT"


def duplicate_rows(rng, forms):
    name = rng.choice([n for n, f in forms.items() if len(f)])
    frame = forms[name]
    rows = rng.sample(range(len(frame)), min(len(frame), rng.randint(1, 3)))
    forms[name] = pd.concat([frame, frame.iloc[rows]], ignore_index=True)
    return f"{name} rows {[r + 2 for r in rows]} entered twice"


def duplicate_changed(rng, forms):
    name = rng.choice([n for n, f in forms.items() if len(f)])
    frame = forms[name]
    row = rng.randrange(len(frame))
    copy = frame.iloc[[row]].copy()
    col = rng.choice([c for c in frame.columns if c != "SUBJID"] or list(frame.columns))
    copy[col] = rng.choice(GARBAGE[:40])
    forms[name] = pd.concat([frame, copy], ignore_index=True)
    return f"{name} row {row + 2} entered twice, {col} changed"


def delete_rows(rng, forms):
    name = rng.choice([n for n, f in forms.items() if len(f)])
    frame = forms[name]
    rows = rng.sample(range(len(frame)), min(len(frame), rng.randint(1, 4)))
    forms[name] = frame.drop(index=rows).reset_index(drop=True)
    return f"{name} rows {[r + 2 for r in rows]} deleted"


def shuffle_rows(rng, forms):
    name = rng.choice(list(forms))
    forms[name] = forms[name].sample(frac=1, random_state=rng.randrange(1000)).reset_index(drop=True)
    return f"{name} rows shuffled"


def empty_form(rng, forms):
    name = rng.choice(list(forms))
    forms[name] = forms[name].iloc[0:0]
    return f"{name} has no rows"


def foreign_subject(rng, forms):
    name = rng.choice([n for n, f in forms.items() if "SUBJID" in f and len(f)])
    row = rng.randrange(len(forms[name]))
    forms[name].loc[row, "SUBJID"] = rng.choice(["99-999", "", "01-001 ", "1-001"])
    return f"{name} row {row + 2} SUBJID changed"


FRAME_CORRUPTIONS = [garble_cell, garble_cell, garble_cell, random_date, random_date, blank_cell,
                     swap_columns, misspell_column, drop_column, extra_column, duplicate_rows,
                     duplicate_changed, delete_rows, shuffle_rows, empty_form, foreign_subject]


def _file(rng, folder: Path) -> Path:
    return rng.choice(sorted(folder.glob("*.csv")))


def _read(path: Path) -> str:
    """A file's text, any bytes kept (an earlier corruption may have broken the UTF-8)."""
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))


def truncate_file(rng, folder):
    path = _file(rng, folder)
    data = path.read_bytes()
    cut = rng.randrange(len(data))
    path.write_bytes(data[:cut])
    return f"{path.name} truncated at byte {cut} of {len(data)}"


def bom(rng, folder):
    path = _file(rng, folder)
    data = path.read_bytes()
    marks = BOM.encode() * rng.randint(1, 2)
    if rng.random() < 0.5:
        path.write_bytes(marks + data)
        return f"{path.name} starts with {len(marks) // 3} BOM(s)"
    at = data.index(b"\n") + 1 if b"\n" in data else 0
    path.write_bytes(data[:at] + marks + data[at:])
    return f"{path.name} BOM at the start of row 2"


def latin1(rng, folder):
    path = _file(rng, folder)
    text = _read(path).replace('"', '"\u00e9', 3)
    path.write_bytes(text.encode("latin-1", errors="replace"))
    return f"{path.name} written in Latin-1 with accented letters"


def delete_file(rng, folder):
    path = _file(rng, folder)
    path.unlink()
    return f"{path.name} deleted"


def extra_file(rng, folder):
    (folder / "NOTES.csv").write_text('"A","B"\n"1","2"\n')
    return "extra file NOTES.csv"


def blank_line(rng, folder):
    path = _file(rng, folder)
    lines = _read(path).split("\n")
    at = rng.randrange(1, max(2, len(lines)))
    lines.insert(at, rng.choice(["", ",,,", '"","",""']))
    _write(path, "\n".join(lines))
    return f"{path.name} odd line inserted at row {at + 1}"


def crlf(rng, folder):
    path = _file(rng, folder)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return f"{path.name} CRLF line ends"


def flip_byte(rng, folder):
    path = _file(rng, folder)
    data = bytearray(path.read_bytes())
    if not data:
        return f"{path.name} empty, no byte to flip"
    at = rng.randrange(len(data))
    data[at] = rng.choice(b'",\n\x00\xff;Ax0 ')
    path.write_bytes(bytes(data))
    return f"{path.name} byte {at} changed"


FILE_CORRUPTIONS = [truncate_file, bom, latin1, delete_file, extra_file, blank_line, crlf, flip_byte]


def corrupt(seed: int, base: dict[str, pd.DataFrame], folder: Path) -> list[str]:
    """Write a corrupted copy of ``base`` into ``folder``; returns what was done."""
    rng = random.Random(seed)
    forms = {name: frame.copy() for name, frame in base.items()}
    done = []
    kinds = rng.choice(["frame", "frame", "file", "both"])
    if kinds in ("frame", "both"):
        for _ in range(rng.randint(1, 3)):
            done.append(rng.choice(FRAME_CORRUPTIONS)(rng, forms))
    folder.mkdir(parents=True)
    for name, frame in forms.items():
        write_csv(frame, folder / f"{name}.csv")
    if kinds in ("file", "both"):
        for _ in range(rng.randint(1, 2)):
            done.append(rng.choice(FILE_CORRUPTIONS)(rng, folder))
    return done


# --------------------------------------------------------------------------------------------
# one case


def run_case(seed: int, base, specs, folder: Path) -> str:
    """Corrupt, run every stage in-process; '' when the outcome is allowed, else what went wrong."""
    done = corrupt(seed, base, folder)
    what = f"case {seed} ({'; '.join(done)})"
    try:
        export = read_export(folder, specs.layout)
        with issues.collect() as log:
            forms = prepare_forms(export, specs)
            sdtm = build_sdtm(specs, forms)
            adam = build_adam(specs, sdtm)
    except BuildError as exc:
        return f"{what}: a derivation failed on the data: {exc}"
    except InputError as exc:
        message = str(exc)
        if str(folder) not in message or "Traceback" in message or "\n" in message:
            return f"{what}: the message does not name the file on one line: {message!r}"
        return ""
    except Exception as exc:  # noqa: BLE001 - the point of the test
        return f"{what}: {type(exc).__name__}: {exc}"
    problems = account_rows(folder, trace_table(sdtm, specs), log.frame(), specs)
    for group, datasets in (("sdtm", specs.sdtm), ("adam", specs.adam)):
        built = sdtm if group == "sdtm" else adam
        for name, spec in datasets.items():
            names = [v.name for v in spec.variables]
            found = check_xpt(built[name][names], spec.name, spec.label,
                              {v.name: v.label for v in spec.variables})
            problems += [f"{name}: {p}" for p in found]
    return f"{what}: {'; '.join(problems)}" if problems else ""


@pytest.mark.parametrize("batch", range(BATCHES))
def test_corrupted_exports_fail_cleanly_or_lose_nothing(batch, base, specs, tmp_path):
    failures = []
    for seed in range(batch, CASES, BATCHES):
        failure = run_case(seed, base, specs, tmp_path / f"case{seed}")
        if failure:
            failures.append(failure)
        shutil.rmtree(tmp_path / f"case{seed}", ignore_errors=True)
    assert not failures, "\n".join(failures)
