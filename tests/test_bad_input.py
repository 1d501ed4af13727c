"""The bad-input catalogue of issue 7 (docs/bad-input.md): one test per kind of bad input.

Each test writes a small corrupted copy of the shipped export (or of the specs) into
``tmp_path``, runs ``itp-adam run`` through :func:`itp_adam.cli.main` and asserts the exact
behaviour: exit status 2 with one message naming the file, row, column, value and what was
expected (and no traceback), or a successful run with the rule's entry in ``data-issues.csv``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import shutil
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from itp_adam import issues, simulate
from itp_adam.cli import main
from itp_adam.errors import InputError, InputErrors
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.io.raw import read_export
from itp_adam.stages.sdtm import build_sdtm, prepare_forms, trace_table
from itp_adam.spec.model import load_specs

from .conftest import Early

SUBJECTS = 8  # the first subjects of the shipped DM: a small export that runs in ~2 s

EXCLUDED = r"left out of SDTM|collapsed to the first"
"""The words of every rule that leaves a raw row out of SDTM (itp_adam.stages.sdtm module doc)."""


def record_forms(specs) -> set[str]:
    """Raw forms whose rows become SDTM records (AECODING is a dictionary, not records)."""
    found: set[str] = set()
    for spec in specs.sdtm.values():
        found |= set(spec.forms or ()) | {group.form for group in spec.records or ()}
    return found


def raw_rows(path: Path) -> set[int]:
    """Row numbers of the data rows of a CSV file, counted with the csv module (header = 1)."""
    text = path.read_bytes().decode("utf-8").replace("\ufeff", "")
    return set(range(2, len(list(csv.reader(io.StringIO(text, newline="")))) + 1))


def account_rows(folder: Path, trace: pd.DataFrame, log: pd.DataFrame, specs) -> list[str]:
    """Per record form: every raw row is in an SDTM record (trace FORM/ROW) or reported once
    as left out, never both, and nothing else. Returns the problems found ([] = accounted)."""
    problems = []
    files = {p.stem.upper(): p for p in folder.glob("*.csv")}
    for form in sorted(record_forms(specs)):
        raw = raw_rows(files[form])
        records = set(trace.loc[trace["FORM"] == form, "ROW"].astype(int))
        left = log.loc[(log["form"] == form) & log["rule"].str.contains(EXCLUDED), "row"].astype(int)
        twice = sorted(set(left[left.duplicated()]))
        both = sorted(records & set(left))
        lost = sorted(raw - records - set(left))
        unknown = sorted((records | set(left)) - raw)
        for what, rows in (("reported left out twice", twice), ("both a record and left out", both),
                           ("lost (no record, no data issue)", lost), ("not a raw row", unknown)):
            if rows:
                problems.append(f"{form} rows {rows[:10]}: {what}")
    return problems


# --------------------------------------------------------------------------------------------
# helpers


def cli(*args: str) -> tuple[int, str, str]:
    """``itp-adam ARGS`` in-process: exit status, stdout, stderr (never a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert "Traceback" not in err.getvalue() + out.getvalue()
    return code, out.getvalue(), err.getvalue()


def shipped_slice(subjects: int) -> dict[str, pd.DataFrame]:
    """The shipped export cut to its first ``subjects`` subjects of DM (AECODING whole), as text."""
    raw = {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
           for p in sorted(shipped_study_dir().glob("*.csv"))}
    keep = set(raw["DM"]["SUBJID"].drop_duplicates().head(subjects))
    return {name: frame[frame["SUBJID"].isin(keep)].reset_index(drop=True) if "SUBJID" in frame
            else frame for name, frame in raw.items()}


@pytest.fixture(scope="module")
def forms() -> dict[str, pd.DataFrame]:
    return shipped_slice(SUBJECTS)


def write_export(forms: dict[str, pd.DataFrame], folder: Path, **changed: pd.DataFrame) -> Path:
    """Write ``forms`` (with ``changed`` ones replaced) as the capture system does: every field
    quoted, UTF-8, one file per form."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in {**forms, **changed}.items():
        frame.to_csv(folder / f"{name}.csv", index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    return folder


def with_value(frame: pd.DataFrame, index: int, column: str, value: str) -> pd.DataFrame:
    out = frame.copy()
    out.loc[index, column] = value
    return out


def refused(raw: Path, tmp_path: Path, *extra: str) -> str:
    """Run on ``raw``; assert exit 2 with one message and no output; return the message."""
    out = tmp_path / "out"
    code, said, err = cli("run", "--raw", str(raw), "--out", str(out), "--quiet", *extra)
    assert code == 2 and said == ""
    assert err.startswith("itp-adam: error: ") and err.count("itp-adam: error:") == 1
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    return err.strip()


def entries(log: pd.DataFrame, form: str, row: int | None = None, column: str | None = None) -> pd.DataFrame:
    found = log[log["form"] == form]
    if row is not None:
        found = found[found["row"] == row]
    if column is not None:
        found = found[found["column"] == column]
    return found


def tree_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------
# the export's structure: files, sheets, columns, encoding (exit 2)


def test_missing_form_file(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    (raw / "BLEED.csv").unlink()
    assert refused(raw, tmp_path) == (
        f"itp-adam: error: {raw / 'BLEED.csv'}: form BLEED is missing from the export; expected one "
        "CSV file per form: DM.csv, ITPHX.csv, BLEED.csv, EXPOSURE.csv, LAB.csv, AE.csv, "
        "AECODING.csv, CM.csv, DS.csv")


def test_two_files_for_one_form(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    shutil.copy(raw / "DS.csv", raw / "ds.csv")
    message = refused(raw, tmp_path)
    assert f"{raw}: form DS has 2 files (DS.csv, ds.csv) whose names differ only in case" in message


@pytest.mark.parametrize("column, written", [("LBORRESU", None), ("LBORRESU", "LBORRESUNIT"),
                                             ("LBDAT", "LB DAT")])
def test_missing_or_misspelt_column(forms, tmp_path, column, written):
    lab = forms["LAB"].drop(columns=column) if written is None else forms["LAB"].rename(columns={column: written})
    raw = write_export(forms, tmp_path / "raw", LAB=lab)
    assert refused(raw, tmp_path) == (
        f"itp-adam: error: {raw / 'LAB.csv'}, column {column}: required column {column} is missing; "
        "expected columns SUBJID, VISIT, LBDAT, LBTIM, LBTEST, LBORRES, LBORRESU, LBORNRLO, "
        "LBORNRHI, LBNAM")


def test_column_names_ignore_case_blanks_and_order(forms, tmp_path):
    # raw-forms.md: the package must not depend on column order; names matched ignoring case
    ds = forms["DS"][["DSSTDAT", "SUBJID", "DSDECOD"]].rename(columns={"DSSTDAT": " dsstdat "})
    raw = write_export(forms, tmp_path / "raw", DS=ds)
    export = read_export(raw, load_specs(default_specs_dir()).layout)
    assert export.forms["DS"]["DSSTDAT"].tolist() == forms["DS"]["DSSTDAT"].tolist()


def test_empty_form_file(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    (raw / "DS.csv").write_bytes(b"")
    assert refused(raw, tmp_path) == (f"itp-adam: error: {raw / 'DS.csv'}: the file is empty; "
                                      "expected a header row naming the columns")


def test_dm_without_rows(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw", DM=forms["DM"].iloc[0:0])
    assert refused(raw, tmp_path) == (
        f"itp-adam: error: {raw / 'DM.csv'}: the DM form has no subjects (no rows, or none with a "
        "SUBJID); expected one row per subject with its SUBJID")


def test_wrong_encoding(forms, tmp_path):
    ae = with_value(forms["AE"], 3, "AETERM", "C\u00e9phal\u00e9e")  # data row 4 = row 5
    raw = write_export(forms, tmp_path / "raw")
    ae.to_csv(raw / "AE.csv", index=False, quoting=csv.QUOTE_ALL, encoding="latin-1")
    offset = (raw / "AE.csv").read_bytes().index(b"\xe9")
    assert refused(raw, tmp_path) == (f"itp-adam: error: {raw / 'AE.csv'}, row 5: not UTF-8 text "
                                      f"(byte 0xE9 at offset {offset}); expected a UTF-8 CSV file")


def test_non_ascii_value(forms, tmp_path):
    # UTF-8 is read, but a SAS transport v5 file holds ASCII only: stop at the first such value
    raw = write_export(forms, tmp_path / "raw", AE=with_value(forms["AE"], 3, "AETERM", "C\u00e9phal\u00e9e"))
    assert refused(raw, tmp_path) == (
        f"itp-adam: error: {raw / 'AE.csv'}, row 5, column AETERM: a non-ASCII character U+00E9 in "
        "the value: found 'Céphalée'; expected printable ASCII text (SAS transport v5 files hold "
        "ASCII only)")


def test_value_longer_than_200_characters(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw", AE=with_value(forms["AE"], 0, "AETERM", "B" * 201))
    message = refused(raw, tmp_path)
    assert message.startswith(f"itp-adam: error: {raw / 'AE.csv'}, row 2, column AETERM: value of 201 "
                              "characters: found 'BBBB")
    assert message.endswith("expected at most 200 characters (the SAS transport v5 limit)")


@pytest.mark.parametrize("cut, row, fields", [
    # the file cut inside its third data row (row 4): 2 fields of the 4 remain (BLEED has 4)
    ("third row", 4, 2),
    # a stray unquoted comma in row 3 makes 5 fields
    ("comma", 3, 5),
])
def test_truncated_file_or_wrong_field_count(forms, tmp_path, cut, row, fields):
    raw = write_export(forms, tmp_path / "raw")
    lines = (raw / "BLEED.csv").read_text().split("\n")
    if cut == "third row":
        text = "\n".join(lines[:3]) + "\n" + lines[3][: lines[3].index(",", lines[3].index(",") + 1)]
    else:
        lines[2] = lines[2].replace(",", ",,", 1)
        text = "\n".join(lines)
    (raw / "BLEED.csv").write_text(text)
    message = refused(raw, tmp_path)
    assert message.startswith(f"itp-adam: error: {raw / 'BLEED.csv'}, row {row}: the row has {fields} "
                              "fields, the header 4 (a truncated file, an unclosed quote or an "
                              "unquoted comma): found ")
    assert message.endswith("; expected 4 comma-separated fields")


def test_not_comma_separated(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    forms["DS"].to_csv(raw / "DS.csv", index=False, sep=";")
    assert refused(raw, tmp_path) == (
        f"itp-adam: error: {raw / 'DS.csv'}, row 1: the header is one column: the file is not "
        "comma-separated: found 'SUBJID;DSDECOD;DSSTDAT'; expected comma-separated columns")


# --------------------------------------------------------------------------------------------
# values that do not fit their column type (exit 2)


@pytest.mark.parametrize("form, index, column, value, expected", [
    ("DM", 4, "ICDAT", "31 FEB 2024", "a complete date DD MON YYYY, e.g. 03 NOV 2024"),
    ("DM", 4, "ICDAT", "2024-02-03", "a complete date DD MON YYYY, e.g. 03 NOV 2024"),
    ("DM", 4, "ICDAT", "UN FEB 2024", "a complete date DD MON YYYY, e.g. 03 NOV 2024"),
    ("LAB", 7, "LBDAT", "UN UNK 2024", "a complete date DD MON YYYY, e.g. 03 NOV 2024"),
    ("AE", 2, "AESTDAT", "03 UNK 2024", "a date DD MON YYYY, UN MON YYYY, UN UNK YYYY or blank"),
    ("AE", 2, "AEENDAT", "2024-02", "a date DD MON YYYY, UN MON YYYY, UN UNK YYYY or blank"),
    ("LAB", 7, "LBTIM", "8.30", "a time HH:MM (24 h) or blank"),
])
def test_bad_date_or_time(forms, tmp_path, form, index, column, value, expected):
    raw = write_export(forms, tmp_path / "raw", **{form: with_value(forms[form], index, column, value)})
    assert refused(raw, tmp_path) == (f"itp-adam: error: {raw / f'{form}.csv'}, row {index + 2}, column "
                                      f"{column}: invalid value: found {value!r}; expected {expected}")


@pytest.mark.parametrize("form, column, value, message, expected", [
    ("EXPOSURE", "DOSE", "5 mg", "invalid value", "a number"),
    ("EXPOSURE", "DOSE", "five", "invalid value", "a number"),
    ("DM", "AGE", "31.5", "invalid value", "a whole number"),
    ("EXPOSURE", "DOSE", "inf", "number out of range",
     "0 or a size from 1e-15 to below 1e+15 (inf, nan and such sizes are no collected value)"),
    ("DM", "AGE", "1e300", "number out of range",
     "0 or a size from 1e-15 to below 1e+15 (inf, nan and such sizes are no collected value)"),
    ("EXPOSURE", "DOSE", "-2.5", "number below the minimum", "at least 0 (raw.yaml min)"),
    ("DM", "AGE", "-1", "number below the minimum", "at least 0 (raw.yaml min)"),
])
def test_non_numeric_dose_or_number(forms, tmp_path, form, column, value, message, expected):
    raw = write_export(forms, tmp_path / "raw", **{form: with_value(forms[form], 3, column, value)})
    assert refused(raw, tmp_path) == (f"itp-adam: error: {raw / f'{form}.csv'}, row 5, column {column}: "
                                      f"{message}: found {value!r}; expected {expected}")


def test_duplicate_subjid_in_dm_with_different_values(forms, tmp_path):
    dm = forms["DM"]
    again = dm.iloc[[1]].assign(AGE="99")  # SUBJID of row 3 again, another age
    raw = write_export(forms, tmp_path / "raw", DM=pd.concat([dm, again], ignore_index=True))
    last, subjid = len(dm) + 2, dm.loc[1, "SUBJID"]
    assert refused(raw, tmp_path) == (
        f"itp-adam: error: {raw / 'DM.csv'}, row {last}, column SUBJID: SUBJID {subjid} appears twice "
        f"with different values (rows 3 and {last}); the form has one row per SUBJID: found "
        f"'{subjid}'; expected one row per SUBJID")


# --------------------------------------------------------------------------------------------
# several problems of the export: all reported in one pass (exit 2), the first ones on the
# console, every one in OUT.errors.csv beside --out


def error_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_bad_cell_reported_in_one_pass(forms, tmp_path):
    exposure = with_value(with_value(forms["EXPOSURE"], 3, "EXSTDAT", "32 JAN 2024"), 6, "DOSE", "7,5")
    raw = write_export(forms, tmp_path / "raw", EXPOSURE=exposure)
    before = tree_bytes(raw)
    code, said, err = cli("run", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet")
    path, listing = raw / "EXPOSURE.csv", tmp_path / "out.errors.csv"
    date = "a complete date DD MON YYYY, e.g. 03 NOV 2024"
    assert code == 2 and said == ""
    assert err.splitlines() == [
        f"itp-adam: error: {path}, row 5, column EXSTDAT: invalid value: found '32 JAN 2024'; "
        f"expected {date}",
        f"  {path}, row 8, column DOSE: invalid value: found '7,5'; expected a number",
        f"itp-adam: 2 problems; all 2 in {listing}",
    ]
    assert error_rows(listing) == [
        {"file": str(path), "row": "5", "column": "EXSTDAT", "value": "32 JAN 2024", "expected": date,
         "message": "invalid value"},
        {"file": str(path), "row": "8", "column": "DOSE", "value": "7,5", "expected": "a number",
         "message": "invalid value"},
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.errors.csv", "raw"]  # no output, no staging
    assert tree_bytes(raw) == before  # the user's files as they were


def test_problems_of_several_forms_in_one_pass(forms, tmp_path):
    # a bad cell in DM; a misspelt column in LAB, whose other columns are still checked; a
    # column missing from AE and a bad cell in it; DM, LAB, AE in the layout's order
    raw = write_export(forms, tmp_path / "raw",
                       DM=with_value(forms["DM"], 2, "AGE", "forty"),
                       LAB=with_value(forms["LAB"], 7, "LBTIM", "8.30").rename(
                           columns={"LBORRESU": "LBORRESUNIT"}),
                       AE=with_value(forms["AE"], 1, "AESTDAT", "2024-02").drop(columns="AETOXGR"))
    code, _, err = cli("run", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet")
    layout = load_specs(default_specs_dir()).layout
    lab_columns, ae_columns = (f"columns {', '.join(layout.forms[f].columns)}" for f in ("LAB", "AE"))
    pdate = "a date DD MON YYYY, UN MON YYYY, UN UNK YYYY or blank"
    expected = [
        (raw / "DM.csv", "4", "AGE", "forty", "a whole number", "invalid value"),
        (raw / "LAB.csv", "", "LBORRESU", "", lab_columns, "required column LBORRESU is missing"),
        (raw / "LAB.csv", "9", "LBTIM", "8.30", "a time HH:MM (24 h) or blank", "invalid value"),
        (raw / "AE.csv", "", "AETOXGR", "", ae_columns, "required column AETOXGR is missing"),
        (raw / "AE.csv", "3", "AESTDAT", "2024-02", pdate, "invalid value"),
    ]
    columns = ("file", "row", "column", "value", "expected", "message")
    assert error_rows(tmp_path / "out.errors.csv") == [dict(zip(columns, map(str, e))) for e in expected]
    lines = err.splitlines()
    assert code == 2 and len(lines) == 6
    assert lines[-1] == f"itp-adam: 5 problems; all 5 in {tmp_path / 'out.errors.csv'}"
    assert lines[0] == (f"itp-adam: error: {raw / 'DM.csv'}, row 4, column AGE: invalid value: found "
                        "'forty'; expected a whole number")
    assert lines[1] == (f"  {raw / 'LAB.csv'}, column LBORRESU: required column LBORRESU is missing; "
                        f"expected {lab_columns}")
    # the reader alone: one InputErrors, worded as its first error
    with pytest.raises(InputError) as caught:
        read_export(raw, layout)
    assert isinstance(caught.value, InputErrors) and caught.value.count == 5
    assert str(caught.value) == lines[0].removeprefix("itp-adam: error: ")
    assert [(e.file, e.row, e.column) for e in caught.value.errors] == [
        (str(f), int(r) if r else None, c) for f, r, c, *_ in expected]


def test_more_than_20_problems_counted_on_the_console(forms, tmp_path):
    exposure = forms["EXPOSURE"].assign(DOSE=[f"{i} mg" for i in range(len(forms["EXPOSURE"]))])
    assert len(exposure) == 25
    raw = write_export(forms, tmp_path / "raw", EXPOSURE=exposure)
    code, _, err = cli("run", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet")
    path, listing = raw / "EXPOSURE.csv", tmp_path / "out.errors.csv"
    assert code == 2 and err.splitlines() == [
        f"itp-adam: error: {path}, row 2, column DOSE: invalid value (and 24 more in this column): found "
        "'0 mg'; expected a number",
        *(f"  {path}, row {i + 2}, column DOSE: invalid value: found '{i} mg'; expected a number"
          for i in range(1, 20)),
        f"itp-adam: ... and 5 more; all 25 in {listing}",
    ]
    rows = error_rows(listing)
    assert [(r["row"], r["column"], r["value"]) for r in rows] == [
        (str(i + 2), "DOSE", f"{i} mg") for i in range(25)]
    assert rows[0]["message"] == "invalid value (and 24 more in this column)"
    assert {r["message"] for r in rows[1:]} == {"invalid value"}


def test_error_file_is_the_latest_runs_and_never_a_users_file(forms, tmp_path):
    out, listing = tmp_path / "out", tmp_path / "out.errors.csv"
    one = write_export(forms, tmp_path / "one", DM=with_value(forms["DM"], 0, "AGE", "x"))
    code, _, err = cli("run", "--raw", str(one), "--out", str(out), "--quiet")
    message = f"{one / 'DM.csv'}, row 2, column AGE: invalid value: found 'x'; expected a whole number"
    assert code == 2 and err == f"itp-adam: error: {message}\n"  # one problem: the message alone
    assert [r["row"] for r in error_rows(listing)] == ["2"]  # ... and the list, for scripts
    good = write_export(forms, tmp_path / "good")
    assert cli("run", "--raw", str(good), "--out", str(out), "--quiet")[0] == 0
    assert not listing.exists() and (out / "run.json").is_file()  # the earlier list is gone
    listing.write_text("my notes\n")  # a file of the user's, by chance of that name
    two = write_export(forms, tmp_path / "two", DM=with_value(forms["DM"], 0, "AGE", "x"),
                       DS=with_value(forms["DS"], 0, "DSSTDAT", "x"))
    before = tree_bytes(out)
    code, _, err = cli("run", "--raw", str(two), "--out", str(out), "--quiet")
    assert code == 2 and err.splitlines()[-1] == (
        f"itp-adam: 2 problems; the list could not be written to {listing}: exists and was not "
        "written by itp-adam; not replaced")
    assert listing.read_text() == "my notes\n" and tree_bytes(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


# --------------------------------------------------------------------------------------------
# data problems the SAP or the specs have a rule for: the run goes on and reports each one.
# One export holds all of them, each planted at a known raw row (row = index + 2).

BOM = "\ufeff"


def _messy_run(folder: Path):
    """Run the CLI once on an export (FOLDER/raw) with every rule-handled problem planted, into
    FOLDER/out; returns the exit status, what it printed (stdout, stderr) and the row counts of
    the DM and BLEED files written."""
    forms = shipped_slice(SUBJECTS)
    lab = forms["LAB"].copy()
    lab.loc[0, "LBORRESU"] = "furlongs"   # row 2: ALT 19, unknown unit
    lab.loc[1, "VISIT"] = "WEEK 99"       # row 3: unknown nominal visit
    lab.loc[2, "LBORRES"] = "5000"        # row 4: platelets 5000 x10^9/L, above plausible_max 2000
    lab.loc[3, "SUBJID"] = "99-999"       # row 5: subject not in DM
    lab.loc[4, "LBORRES"] = "-5"          # row 6: negative ALT
    ae = forms["AE"].copy()
    ae.loc[0, "AEENDAT"] = "25 NOV 2023"  # row 2: ends before its start 05 DEC 2023
    ae.loc[1, "SUBJID"] = "99-998"        # row 3: subject not in DM
    ae.loc[6, "AETERM"] = BOM + ae.loc[6, "AETERM"]  # row 8: a byte-order mark inside a value
    ex = forms["EXPOSURE"].copy()
    ex.loc[1, "EXSTDAT"] = "20 NOV 2023"  # row 3: starts inside row 2's period (14-29 NOV 2023)
    dm = pd.concat([forms["DM"], forms["DM"].iloc[[2]]], ignore_index=True)  # last row = row 4 again
    bleed = forms["BLEED"]
    blank = pd.DataFrame([[""] * len(bleed.columns)], columns=bleed.columns)
    no_subject = bleed.iloc[[5]].assign(SUBJID="")
    bleed = pd.concat([bleed.iloc[:3], blank, bleed.iloc[3:], no_subject], ignore_index=True)  # rows 5, last
    ds = forms["DS"].assign(CMDOSE="1")   # a column the layout does not know
    raw = write_export(forms, folder / "raw", LAB=lab, AE=ae, EXPOSURE=ex,
                       DM=dm, BLEED=bleed, DS=ds, CM=forms["CM"].iloc[0:0])  # CM: header only
    (raw / "DM.csv").write_bytes(2 * BOM.encode() + (raw / "DM.csv").read_bytes())
    (raw / "NOTES.csv").write_text('"NOTE"\n"sent by site 02"\n')
    code, said, err = cli("run", "--raw", str(raw), "--out", str(folder / "out"))
    return code, said, err, len(dm), len(bleed)


def _extra_sheet_run(folder: Path):
    """The slice as one workbook (FOLDER/export.xlsx) with a sheet the layout does not know,
    run into FOLDER/out; returns the workbook, the exit status and what the run printed on
    stderr."""
    path = write_workbook(shipped_slice(SUBJECTS), folder / "export.xlsx", extra="Read me")
    code, _, err = cli("run", "--raw", str(path), "--out", str(folder / "out"), "--quiet")
    return path, code, err


# Two whole runs of the CLI whose outputs several tests read: conftest.py makes them early, in a
# process of their own (the functions above), while the tests before them run.
EARLY = {"messy": Early("_messy_run"), "extra_sheet": Early("_extra_sheet_run")}


@pytest.fixture(scope="module")
def messy(early):
    """The CLI run once on an export with every rule-handled problem planted (``_messy_run``);
    returns the raw folder, the output folder and the data issues."""
    code, said, err, dm_rows, bleed_rows = early.result(__name__, "messy")
    assert (code, err) == (0, "") and "data issues:" in said
    folder = early.folder(__name__, "messy")
    raw, out = folder / "raw", folder / "out"
    log = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False).astype({"row": "str"})
    return {"raw": raw, "out": out, "log": log, "dm_rows": dm_rows, "bleed_rows": bleed_rows}


def one_entry(messy, form: str, row: int | str, column: str) -> dict:
    log = messy["log"]
    found = log[(log["form"] == form) & (log["row"] == str(row)) & (log["column"] == column)]
    assert len(found) == 1, found
    return found.iloc[0].to_dict()


def record(messy, domain: str, form: str, row: int) -> dict:
    """The SDTM record made from raw ``form`` row ``row`` (via sdtm/trace.csv and --SEQ)."""
    trace = pd.read_csv(messy["out"] / "sdtm" / "trace.csv", dtype=str, keep_default_na=False)
    hit = trace[(trace["DOMAIN"] == domain) & (trace["FORM"] == form) & (trace["ROW"] == str(row))]
    assert len(hit) == 1, hit
    frame, _ = pyreadstat.read_xport(str(messy["out"] / "sdtm" / f"{domain.lower()}.xpt"))
    rec = frame[(frame["USUBJID"] == hit.iloc[0]["USUBJID"])
                & (frame[f"{domain}SEQ"] == float(hit.iloc[0]["SEQ"]))]
    assert len(rec) == 1
    return rec.iloc[0].to_dict()


def test_unknown_unit(messy):
    assert one_entry(messy, "LAB", 2, "LBORRESU") == {
        "severity": "warning", "form": "LAB", "SUBJID": "01-001", "row": "2", "column": "LBORRESU",
        "value": "furlongs", "dataset": "LB",
        "rule": "unit not in study.yaml unit_conversion for the test: LBORRES kept, no standard "
                "result, unit or range"}
    rec = record(messy, "LB", "LAB", 2)
    assert (rec["LBORRES"], rec["LBORRESU"], rec["LBSTRESC"], rec["LBSTRESU"]) == ("19", "furlongs", "", "")
    assert pd.isna(rec["LBSTRESN"])


@pytest.mark.parametrize("row, value, rule", [
    (6, "-5", "negative result: kept as reported"),
    (4, "5000", "result above the plausibility limit of its test (lb.yaml plausible_max, standard "
                "unit): kept as reported"),
])
def test_negative_or_absurd_lab_value(messy, row, value, rule):
    entry = one_entry(messy, "LAB", row, "LBORRES")
    assert (entry["severity"], entry["value"], entry["rule"]) == ("warning", value, rule)
    assert record(messy, "LB", "LAB", row)["LBSTRESN"] == float(value)  # kept as reported


@pytest.mark.parametrize("form, row, subjid", [("LAB", 5, "99-999"), ("AE", 3, "99-998")])
def test_subject_not_in_dm(messy, form, row, subjid):
    entry = one_entry(messy, form, row, "SUBJID")
    assert (entry["severity"], entry["SUBJID"], entry["rule"]) == (
        "warning", subjid, "subject not in DM: record left out of SDTM")
    trace = pd.read_csv(messy["out"] / "sdtm" / "trace.csv", dtype=str, keep_default_na=False)
    assert trace[(trace["FORM"] == form) & (trace["ROW"] == str(row))].empty


def test_ae_end_before_start(messy):
    entry = one_entry(messy, "AE", 2, "AEENDAT")
    assert (entry["severity"], entry["value"], entry["rule"], entry["dataset"]) == (
        "error", "25 NOV 2023 before start 05 DEC 2023", "end date before start date: kept as collected", "AE")
    rec = record(messy, "AE", "AE", 2)
    assert (rec["AESTDTC"], rec["AEENDTC"]) == ("2023-12-05", "2023-11-25")


def test_overlapping_exposure_periods(messy):
    entry = one_entry(messy, "EXPOSURE", 3, "EXSTDAT")
    assert (entry["severity"], entry["value"], entry["dataset"]) == ("warning", "20 NOV 2023", "EX")
    assert entry["rule"] == ("dosing period starts on or before the end of an earlier period of the "
                             "subject (overlapping periods): kept as collected")
    assert record(messy, "EX", "EXPOSURE", 3)["EXSTDTC"] == "2023-11-20"


def test_unknown_nominal_visit_label(messy):
    entry = one_entry(messy, "LAB", 3, "VISIT")
    assert (entry["severity"], entry["value"], entry["rule"], entry["dataset"]) == (
        "error", "WEEK 99", "value not in codelist VISIT: kept as collected", "LB")
    rec = record(messy, "LB", "LAB", 3)
    assert rec["VISIT"] == "WEEK 99" and pd.isna(rec["VISITNUM"])


def test_exact_duplicate_row_collapsed(messy):
    last = messy["dm_rows"] + 1
    entry = one_entry(messy, "DM", last, "")
    assert (entry["severity"], entry["value"], entry["rule"]) == (
        "warning", "same as row 4", "exact duplicate row: collapsed to the first")


def test_empty_row_and_row_without_subjid_left_out(messy):
    entry = one_entry(messy, "BLEED", 5, "")
    assert (entry["severity"], entry["rule"]) == ("info", "empty row (blank in every column): left out of SDTM")
    entry = one_entry(messy, "BLEED", messy["bleed_rows"] + 1, "SUBJID")
    assert (entry["severity"], entry["rule"]) == ("warning", "no SUBJID: record left out of SDTM")


def test_form_with_a_header_only(messy):
    cm, _ = pyreadstat.read_xport(str(messy["out"] / "sdtm" / "cm.xpt"))
    assert len(cm) == 0 and "CMTRT" in cm.columns
    assert messy["log"][messy["log"]["form"] == "CM"].empty


def test_stray_byte_order_marks_removed_and_noted(messy):
    entry = one_entry(messy, "DM", 1, "")
    assert (entry["severity"], entry["rule"]) == ("info", "2 byte-order marks at the start of the file: removed")
    entry = one_entry(messy, "AE", 8, "AETERM")
    assert (entry["severity"], entry["rule"]) == ("info", "byte-order mark inside 1 value(s): removed")
    rec = record(messy, "AE", "AE", 8)  # AE.csv row 8: 01-004 "ALT increased"
    assert rec["AETERM"] == "ALT increased" and rec["AEDECOD"] == "Alanine aminotransferase increased"


def test_extra_column_and_extra_file_noted(messy):
    entry = one_entry(messy, "DS", "", "CMDOSE")
    assert (entry["severity"], entry["rule"]) == ("info", "column not in the layout: ignored")
    entry = one_entry(messy, "NOTES.csv", "", "")
    assert (entry["severity"], entry["rule"], entry["value"]) == (
        "info", "file not in the layout: ignored", str(messy["raw"] / "NOTES.csv"))


# --------------------------------------------------------------------------------------------
# Excel workbook


def write_workbook(forms: dict[str, pd.DataFrame], path: Path, extra: str | None = None,
                   without: str | None = None) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in forms.items():
            if name != without:
                frame.to_excel(writer, sheet_name=name, index=False)
        if extra:
            pd.DataFrame({"NOTE": ["sent by site 02"]}).to_excel(writer, sheet_name=extra, index=False)
    return path


def test_workbook_with_a_missing_sheet(forms, tmp_path):
    path = write_workbook(forms, tmp_path / "export.xlsx", without="CM")
    assert refused(path, tmp_path) == (
        f"itp-adam: error: {path}: sheet CM is missing from the workbook; expected one sheet per form: "
        "DM, ITPHX, BLEED, EXPOSURE, LAB, AE, AECODING, CM, DS")


@pytest.fixture(scope="module")
def extra_sheet(early):
    """``_extra_sheet_run``, made early (conftest.py): the workbook, the exit status, stderr."""
    return early.result(__name__, "extra_sheet")


def test_workbook_with_an_extra_sheet(extra_sheet):
    path, code, err = extra_sheet  # the slice's workbook with a sheet "Read me", run
    out = path.parent / "out"
    assert (code, err) == (0, "")
    log = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
    entry = log[log["form"] == "Read me"]
    assert entry[["severity", "rule", "value"]].values.tolist() == [
        ["info", "sheet not in the layout: ignored", str(path)]]


def test_workbook_value_in_a_column_without_a_header(forms, tmp_path):
    from openpyxl import load_workbook

    path = write_workbook(forms, tmp_path / "export.xlsx")
    book = load_workbook(path)
    book["DS"].cell(row=4, column=6, value="stray")  # DS has 3 columns; F4 has no header
    book.save(path)
    assert refused(path, tmp_path) == (
        f"itp-adam: error: {path} [sheet DS], row 4, column #6: value in a column without a header "
        "name: found 'stray'; expected a name in the header row")


def test_workbook_with_a_title_above_the_header(forms, tmp_path):
    """A sheet with a title row above its header (as an EDC listing prints one): one error
    saying the header is row 1 and that row 2 names the layout's columns, where every cell of
    the sheet was 'a value in a column without a header name' (2,366 messages for AE) and
    every column 'missing'. A sheet naming none of them anywhere near the top gets the same
    error without the hint."""
    from openpyxl import load_workbook

    path = write_workbook(forms, tmp_path / "export.xlsx")
    book = load_workbook(path)
    book["DS"].insert_rows(1)
    book["DS"].cell(row=1, column=1, value="Disposition listing")
    book.save(path)
    assert refused(path, tmp_path) == (
        f"itp-adam: error: {path} [sheet DS], row 1: the header row names none of the layout's "
        "columns; row 2 does: a title or blank rows above the header? (the header is row 1): "
        "found 'Disposition listing'; expected columns SUBJID, DSDECOD, DSSTDAT")
    book = load_workbook(path)
    book["DS"].delete_rows(2)
    book.save(path)
    assert refused(path, tmp_path) == (
        f"itp-adam: error: {path} [sheet DS], row 1: the header row names none of the layout's "
        "columns: found 'Disposition listing'; expected columns SUBJID, DSDECOD, DSSTDAT")


# --------------------------------------------------------------------------------------------
# malformed specs (exit 2 naming the spec file, line, dataset and variable)


@pytest.fixture()
def specs_copy(tmp_path):
    folder = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), folder)
    return folder


def line_of(path: Path, text: str) -> int:
    return path.read_text().split("\n").index(text) + 1


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("file, old, new, message", [
    ("sdtm/ae.yaml", "    length: 2\n", "    length: two\n",
     "dataset AE, variable DOMAIN: length: must be a whole number from 1 to 200, or auto (found 'two')"),
    ("sdtm/ae.yaml", "    length: 2\n", "    lenght: 2\n", "dataset AE, variable DOMAIN: unknown key 'lenght'"),
    ("study.yaml", "  lookback_days: 28\n", "  lookback_days: four weeks\n",
     "baseline: lookback_days: Input should be a valid integer, unable to parse string as an integer "
     "(found 'four weeks')"),
    ("raw.yaml", "      AGE: {type: integer, min: 0}\n", "      AGE: {type: integer, min: 0, requird: true}\n",
     "forms.DM.columns.AGE: unknown key 'requird'"),
    ("raw.yaml", "      AGE: {type: integer, min: 0}\n", "      AGE: {type: int, min: 0}\n",
     "forms.DM.columns.AGE: type: Input should be 'text', 'integer', 'number', 'date', 'pdate' or "
     "'time' (found 'int')"),
])
def test_spec_with_wrong_type_or_unknown_key(forms, tmp_path, specs_copy, file, old, new, message):
    path = specs_copy / file
    line = line_of(path, old.rstrip("\n"))
    edit(path, old, new)
    raw = write_export(forms, tmp_path / "raw")
    assert refused(raw, tmp_path, "--specs", str(specs_copy)) == f"itp-adam: error: {path}, line {line}: {message}"


def test_spec_with_yaml_syntax_error(forms, tmp_path, specs_copy):
    path = specs_copy / "sdtm" / "ae.yaml"
    line = line_of(path, "keys: [STUDYID, USUBJID, AESEQ]")
    edit(path, "keys: [STUDYID, USUBJID, AESEQ]", "keys: [STUDYID, USUBJID, AESEQ")
    message = refused(write_export(forms, tmp_path / "raw"), tmp_path, "--specs", str(specs_copy))
    # the parser notices on the next line, and names the construct it was in
    assert message == (f"itp-adam: error: {path}, line {line + 1}: dataset AE: not valid YAML: expected "
                       f"',' or ']', but got ':' (while parsing a flow sequence that starts on line {line})")


def test_spec_with_unknown_derivation(forms, tmp_path, specs_copy):
    path = specs_copy / "sdtm" / "ae.yaml"
    line = line_of(path, "    derivation: derive_var_seq")
    edit(path, "    derivation: derive_var_seq\n", "    derivation: derive_var_sq\n")
    message = refused(write_export(forms, tmp_path / "raw"), tmp_path, "--specs", str(specs_copy))
    assert message.startswith(f"itp-adam: error: {path}, line {line}: dataset AE: unknown derivation "
                              "'derive_var_sq' in the registry; known: ")
    assert message.endswith("; did you mean 'derive_var_seq'?")  # the slip, by its spelling


def test_spec_not_utf8_or_missing(forms, tmp_path, specs_copy):
    raw = write_export(forms, tmp_path / "raw")
    path = specs_copy / "codelists.yaml"
    path.write_bytes(path.read_bytes() + "# \u00e9\n".encode("latin-1"))
    line = path.read_bytes().count(b"\n")
    assert refused(raw, tmp_path, "--specs", str(specs_copy)) == (
        f"itp-adam: error: {path}, line {line}: not UTF-8 text (byte 0xE9)")
    missing = tmp_path / "no-specs"
    assert refused(raw, tmp_path, "--specs", str(missing)) == (
        f"itp-adam: error: {missing}: specs folder not found (expected a folder with raw.yaml, "
        "study.yaml, codelists.yaml, sdtm/ and adam/)")


@pytest.mark.parametrize("old, new, message", [
    # YAML takes it for a date and cannot build it (day out of range): was a ValueError traceback
    ("cutoff_date: 2025-04-14", "cutoff_date: 2025-04-41",
     "cutoff_date: must be a calendar date written YYYY-MM-DD, e.g. 2025-04-14 (found '2025-04-41')"),
    ("trtemfl_window_days: 28", "trtemfl_window_days: -28",
     "trtemfl_window_days: Input should be greater than or equal to 0 (found -28)"),
    # a huge number passed the checks and crashed the results (decimal.InvalidOperation)
    ("  percent_decimals: 0", "  percent_decimals: 100000000000000000000",
     "response: percent_decimals: Input should be less than or equal to 10 (found 100000000000000000000)"),
    ("    - {name: CRIT1, label: Platelet count >= 30 x10^9/L, operator: \">=\", threshold: 30}",
     "    - {name: CRIT1, label: Platelet count >= 30 x10^9/L, operator: \">=\", threshold: .nan}",
     "response.criteria[0]: threshold: Input should be a finite number (found nan)"),
    ("trtemfl_window_days: 28", "trtemfl_window_days: !!int 4w",
     "not valid YAML: cannot read '4w' as !!int (invalid literal for int() with base 10: '4w')"),
])
def test_spec_with_impossible_date_or_number(forms, tmp_path, specs_copy, old, new, message):
    path = specs_copy / "study.yaml"
    line = line_of(path, old)
    edit(path, old + "\n", new + "\n")
    raw = write_export(forms, tmp_path / "raw")
    assert refused(raw, tmp_path, "--specs", str(specs_copy)) == f"itp-adam: error: {path}, line {line}: {message}"


# --------------------------------------------------------------------------------------------
# --out and --raw


EXPECTED_OUT = "a new folder, an empty folder or an earlier run's output folder"


def test_out_is_a_foreign_non_empty_folder(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = cli("run", "--raw", str(raw), "--out", str(out))
    assert code == 2 and err == (
        f"itp-adam: error: {out}: is a non-empty folder without a run.json, so it is not an earlier "
        f"run's output; refusing to replace it; expected {EXPECTED_OUT}\n")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


def test_out_is_a_file_or_inside_one(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    file = tmp_path / "file.txt"
    file.write_text("x")
    code, _, err = cli("run", "--raw", str(raw), "--out", str(file))
    assert code == 2 and err == f"itp-adam: error: {file}: exists and is a file; expected {EXPECTED_OUT}\n"
    code, _, err = cli("run", "--raw", str(raw), "--out", str(file / "out"))
    assert code == 2 and err == (f"itp-adam: error: {file / 'out'}: cannot be created: {file} is a file, "
                                 "not a folder; expected a path whose parent folders are folders\n")
    assert file.read_text() == "x"


def test_out_in_a_read_only_place(forms, tmp_path, monkeypatch):
    raw = write_export(forms, tmp_path / "raw")
    out = tmp_path / "locked" / "out"

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(out.parent))

    monkeypatch.setattr("itp_adam.stages.pipeline.new_beside", denied)  # the staging folder
    code, _, err = cli("run", "--raw", str(raw), "--out", str(out))
    assert code == 2 and err == (f"itp-adam: error: {out}: cannot write there (Permission denied); "
                                 "expected a folder the user can write to\n")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_for_real(forms, tmp_path):
    raw = write_export(forms, tmp_path / "raw")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = cli("run", "--raw", str(raw), "--out", str(locked / "out"))
    finally:
        locked.chmod(0o755)
    assert code == 2 and "cannot write there (Permission denied)" in err
    assert list(locked.iterdir()) == []


def test_failure_writing_output_is_a_message(forms, tmp_path, monkeypatch):
    raw = write_export(forms, tmp_path / "raw")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "adam"))

    monkeypatch.setattr("itp_adam.stages.pipeline._run_into", full)
    code, _, err = cli("run", "--raw", str(raw), "--out", str(tmp_path / "out"))
    assert code == 2 and err == f"itp-adam: error: {tmp_path / 'out' / 'adam'}: No space left on device\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # staging removed
    with pytest.raises(OSError):
        main(["--debug", "run", "--raw", str(raw), "--out", str(tmp_path / "out")])


def test_values_a_transport_file_cannot_hold(forms, tmp_path, monkeypatch):
    # the reader refuses non-ASCII and over-long values; a derived value breaking an XPT v5
    # limit is still a message, not a traceback
    from itp_adam.io.xpt import XptLimitError, XptProblem

    raw = write_export(forms, tmp_path / "raw")
    problem = XptProblem("DM", "USUBJID", "value-length", "1 value(s) longer than 200 bytes")

    def too_long(*args, **kwargs):
        raise XptLimitError([problem])

    monkeypatch.setattr("itp_adam.stages.pipeline._run_into", too_long)
    code, _, err = cli("run", "--raw", str(raw), "--out", str(tmp_path / "out"))
    assert code == 2 and err == (
        "itp-adam: error: values the SAS transport files cannot hold: DM: 1 problem(s) prevent "
        "writing SAS XPORT v5:\n  - DM.USUBJID [value-length]: 1 value(s) longer than 200 bytes\n")


@pytest.mark.parametrize("what", ["nothing", "a text file", "a broken workbook"])
def test_raw_points_at_nothing(tmp_path, what):
    raw = {"nothing": tmp_path / "nothing", "a text file": tmp_path / "export.txt",
           "a broken workbook": tmp_path / "export.xlsx"}[what]
    if what != "nothing":
        raw.write_text("not an export")
    expected = {
        "nothing": ("raw export not found; expected an existing folder of form CSV files, an .xlsx "
                    "workbook or a .zip of either"),
        "a text file": ("not a raw export; expected a folder of form CSV files, one .xlsx "
                        "workbook or a .zip of either"),
        "a broken workbook": "cannot open the workbook (BadZipFile); expected an .xlsx workbook with one "
                             "sheet per form",
    }[what]
    assert refused(raw, tmp_path) == f"itp-adam: error: {raw}: {expected}"


@pytest.mark.parametrize("option", ["--raw", "--sdtm"])
def test_an_out_inside_a_missing_input_is_not_taken_for_an_empty_one(tmp_path, option):
    # the staging folder's parents are made first thing: --out inside the missing input made
    # it, and the run then found every form missing in an empty folder (and left it there)
    given = tmp_path / "export"
    study = ["--study", "cdiscpilot01"] if option == "--sdtm" else []
    code, said, err = cli("run", *study, option, str(given), "--out", str(given / "out"), "--quiet")
    what = ("raw export not found; expected an existing folder of form CSV files, an .xlsx "
            "workbook or a .zip of either" if option == "--raw" else "SDTM folder not found; expected a folder of "
            "SDTM datasets, one file per domain (.xpt, .sas7bdat, .csv, .parquet)")
    assert (code, said, err) == (2, "", f"itp-adam: error: {given}: {what}\n")
    assert list(tmp_path.iterdir()) == []


def test_out_that_is_or_holds_the_current_folder_is_refused(forms, tmp_path, monkeypatch):
    # --out . in an empty folder was published by renaming a new folder into its place: the
    # run said done, and the shell stood in the removed folder, where ls showed nothing
    raw = write_export(forms, tmp_path / "raw")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    expected = ("is the current folder or holds it: the folder is replaced as a whole, which "
                "would leave this shell in a removed folder; expected a folder below the current "
                "one, e.g. --out itp-adam-out\n")
    for command in (["run", "--raw", str(raw), "--quiet"], ["simulate", "--subjects", "3"]):
        code, said, err = cli(*command, "--out", ".")
        assert (code, said, err) == (2, "", f"itp-adam: error: {here}: {expected}")
    assert list(here.iterdir()) == []
    # an earlier run's folder holding the current folder: the same
    (here / "run.json").write_text("{}")
    (here / "adam").mkdir()
    monkeypatch.chdir(here / "adam")
    code, said, err = cli("run", "--raw", str(raw), "--quiet", "--out", str(here))
    assert (code, said, err) == (2, "", f"itp-adam: error: {here}: {expected}")
    assert sorted(p.name for p in here.iterdir()) == ["adam", "run.json"]


def test_a_failed_run_leaves_no_parent_folder_it_made(forms, tmp_path):
    # --out new/deep/out: the staging folder's parents were made, and a failed run left them
    raw = write_export(forms, tmp_path / "raw")
    (tmp_path / "kept").mkdir()  # there before the run: stays, even empty
    for out in (tmp_path / "new" / "deep" / "out", tmp_path / "kept" / "deep" / "out"):
        code, said, err = cli("run", "--raw", str(raw), "--specs", str(tmp_path / "no-specs"),
                              "--out", str(out), "--quiet")
        assert (code, said) == (2, "") and "specs folder not found" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "raw"]
    assert list((tmp_path / "kept").iterdir()) == []
    # the export's problems are listed beside --out: that file's folder is made for it
    exposure = with_value(forms["EXPOSURE"], 3, "EXSTDAT", "32 JAN 2024")
    bad = write_export(forms, tmp_path / "bad", EXPOSURE=exposure)
    code, _, err = cli("run", "--raw", str(bad), "--out", str(tmp_path / "new" / "deep" / "out"),
                       "--quiet")
    assert code == 2 and "column EXSTDAT: invalid value: found '32 JAN 2024'" in err
    assert [p.name for p in (tmp_path / "new" / "deep").iterdir()] == ["out.errors.csv"]
    listed = error_rows(tmp_path / "new" / "deep" / "out.errors.csv")
    assert [(r["row"], r["column"], r["value"]) for r in listed] == [("5", "EXSTDAT", "32 JAN 2024")]


@pytest.mark.parametrize("kept", ["--raw", "--specs"])
def test_an_earlier_run_folder_holding_the_runs_input_is_refused(forms, tmp_path, kept):
    # an earlier run's folder is replaced as a whole: a raw export or specs kept in it were
    # read, then deleted with it when the run published its output
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text("{}")  # an earlier run's folder, as check_out knows one
    raw = write_export(forms, (out if kept == "--raw" else tmp_path) / "raw")
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), out / "specs" if kept == "--specs" else specs)
    specs = out / "specs" if kept == "--specs" else specs
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, said, err = cli("run", "--raw", str(raw), "--specs", str(specs), "--out", str(out),
                          "--quiet")
    given, what = (raw, "raw export (--raw)") if kept == "--raw" else (specs, "specs (--specs)")
    assert (code, said, err) == (2, "", (
        f"itp-adam: error: --out {out} holds the run's {what}, {given}: replacing the folder "
        "with this run's output would delete it; expected an output folder apart from the "
        "run's input and specs\n"))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(InputError, match="raw export not found"):
        main(["--debug", "run", "--raw", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])


# --------------------------------------------------------------------------------------------
# no record disappears without a data-issues entry (issue 7), per form


def test_accounting_helper_finds_a_lost_row(tmp_path):
    # the check below must be able to fail: a raw row in neither the trace nor the log
    specs = load_specs(default_specs_dir())
    folder = tmp_path / "raw"
    folder.mkdir()
    for form in record_forms(specs):
        (folder / f"{form}.csv").write_text('"SUBJID"\n"A"\n"B"\n"C"\n')  # rows 2, 3, 4
    trace = pd.DataFrame({"FORM": sorted(record_forms(specs)) * 2, "ROW": [2] * 8 + [3] * 8})
    log = pd.DataFrame({"form": ["DM", "DM"], "row": [3, 4],
                        "rule": ["exact duplicate row: collapsed to the first",
                                 "subject not in DM: record left out of SDTM"]})
    problems = account_rows(folder, trace, log, specs)
    assert "DM rows [3]: both a record and left out" in problems
    assert "AE rows [4]: lost (no record, no data issue)" in problems
    assert len(problems) == len(record_forms(specs))  # DM: both; the other 7: row 4 lost


def _prepared_sdtm(raw: Path):
    specs = load_specs(default_specs_dir())
    export = read_export(raw, specs.layout)
    with issues.collect() as log:
        sdtm = build_sdtm(specs, prepare_forms(export, specs))
    return specs, trace_table(sdtm, specs), log.frame()


@pytest.mark.parametrize("study", ["shipped", "simulated"])
def test_no_record_disappears(study, tmp_path):
    """Per record form: raw rows = rows with SDTM records + rows reported as left out."""
    raw = shipped_study_dir()
    if study == "simulated":  # another seed and size: the simulator plants its traps anew
        raw = tmp_path / "sim"
        simulate.write_export(simulate.build(120, seed=11), raw, "csv")
    specs, trace, log = _prepared_sdtm(raw)
    assert record_forms(specs) == {"DM", "ITPHX", "BLEED", "EXPOSURE", "LAB", "AE", "CM", "DS"}
    assert account_rows(raw, trace, log, specs) == []
    left = log[log["rule"].str.contains(EXCLUDED)]
    assert len(left) > 0  # the export has rows the rules leave out, so the check is not empty


def test_no_record_disappears_in_the_messy_export(messy):
    specs = load_specs(default_specs_dir())
    trace = pd.read_csv(messy["out"] / "sdtm" / "trace.csv", dtype=str, keep_default_na=False)
    log = pd.read_csv(messy["out"] / "data-issues.csv", dtype=str, keep_default_na=False)
    log = log[log["row"] != ""]
    assert account_rows(messy["raw"], trace, log, specs) == []


# --------------------------------------------------------------------------------------------
# atomic output: a run failing late leaves the previous output as it was


@pytest.fixture(scope="module")
def earlier_run(forms, tmp_path_factory, shipped_out):
    """The slice's raw export, and beside it OUT holding an earlier run's output: a copy of the
    shipped study's run (conftest.py, made once per session), which the runs of these tests,
    on the slice, would replace if they succeeded."""
    raw = write_export(forms, tmp_path_factory.mktemp("atomic") / "raw")
    out = raw.parent / "out"
    shutil.copytree(shipped_out, out)
    assert (out / "run.json").is_file() and (out / "adam" / "adsl.xpt").is_file()
    return raw, out


@pytest.mark.parametrize("failure", [RuntimeError("disk died"), InputError("late problem"),
                                     KeyboardInterrupt()], ids=["crash", "bad input", "interrupt"])
def test_late_failure_keeps_the_previous_output(earlier_run, monkeypatch, failure):
    raw, out = earlier_run
    before = tree_bytes(out)
    reached = []

    def broken(*args, **kwargs):
        reached.append(True)
        raise failure

    monkeypatch.setattr("itp_adam.stages.results.write_results", broken)  # the last stage
    if isinstance(failure, InputError):
        code, _, err = cli("run", "--raw", str(raw), "--out", str(out))
        assert code == 2 and err == "itp-adam: error: late problem\n"
    else:
        with pytest.raises(type(failure)):
            main(["run", "--raw", str(raw), "--out", str(out), "--quiet"])
    assert reached and tree_bytes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out", "raw"]  # no staging folder left


def test_a_failed_background_xpt_write_fails_the_run(earlier_run, monkeypatch):
    """The XPT bytes are written by a background thread (pipeline._XptFiles): its error must
    still stop the run, with the usual message and the previous output untouched."""
    import threading

    from itp_adam.io.xpt import PreparedXpt

    raw, out = earlier_run
    before = tree_bytes(out)
    written = PreparedXpt.write
    failed = []

    def disk_full(self, path):
        if self.dataset == "LB":
            failed.append(threading.current_thread().name)
            raise OSError(28, "No space left on device", str(path))
        return written(self, path)

    monkeypatch.setattr(PreparedXpt, "write", disk_full)
    code, _, err = cli("run", "--raw", str(raw), "--out", str(out))
    assert code == 2 and err.startswith("itp-adam: error: ") and "lb.xpt: No space left on device" in err
    assert failed and failed[0].startswith("itp-adam-xpt")  # it did fail in the background
    assert tree_bytes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out", "raw"]
    assert not [t for t in threading.enumerate() if t.name.startswith("itp-adam-xpt")]


def test_a_terminated_run_leaves_no_staging_folder(tmp_path):
    """SIGTERM (``kill``, a batch scheduler stopping the job) stops ``itp-adam run`` as Ctrl-C
    does: its staging folder beside --out is removed and nothing is published."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "itp_adam", "run", "--out", str(out), "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.tmp-*")) and run.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # inside the run: reading specs or building the datasets
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0, "the run ended before it was terminated"
    assert b"terminated (signal 15)" in err
    assert list(tmp_path.iterdir()) == []  # neither the output nor its staging folder


def test_folders_left_by_a_killed_command_are_named_not_removed(tmp_path):
    """A command killed outright (SIGKILL) cannot remove its staging folder; the next command
    on the same --out names it and its size on stderr (also with --quiet) and leaves it: it
    may belong to a command still running there. Another output's folders and plain files
    are not named."""
    out = tmp_path / "out"
    left = tmp_path / ".out.tmp-k1ll3d"
    (left / "store").mkdir(parents=True)
    (left / "store" / "lb.arrow").write_bytes(b"x" * 2_500_000)
    (left / "dm.xpt").write_bytes(b"y" * 600_000)
    aside = tmp_path / ".out.old-4242"  # an earlier output set aside by publish
    aside.mkdir()
    (tmp_path / ".out2.tmp-abc").mkdir()  # another output's
    (tmp_path / ".out.tmp-file").write_text("a file, not a folder a command made")
    expected = [f"itp-adam: warning: {left} (3.1 MB) was left by a command writing out that "
                "was killed or is still running; delete it when no command is writing there",
                f"itp-adam: warning: {aside} (0.0 MB) was left by a command writing out that "
                "was killed or is still running; delete it when no command is writing there"]
    code, said, err = cli("run", "--out", str(out), "--quiet")
    assert code == 0 and said == "" and err.splitlines() == expected
    assert (out / "run.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".out.old-4242", ".out.tmp-file", ".out.tmp-k1ll3d", ".out2.tmp-abc", "out"]
    assert (left / "store" / "lb.arrow").stat().st_size == 2_500_000
    code, _, err = cli("simulate", "--subjects", "2", "--out", str(tmp_path / "out2"))
    assert code == 0 and err.splitlines() == [
        f"itp-adam: warning: {tmp_path / '.out2.tmp-abc'} (0.0 MB) was left by a command writing "
        "out2 that was killed or is still running; delete it when no command is writing there"]


def test_a_leftover_folder_whose_files_go_meanwhile_is_still_named(tmp_path, monkeypatch):
    """The folder may belong to a command still running, which removes files while they are
    counted: such a file is left out of the size, not an error."""
    from itp_adam.stages.pipeline import leftover_staging

    left = tmp_path / ".out.tmp-running"
    left.mkdir()
    (left / "kept.bin").write_bytes(b"k" * 1000)
    (left / "going.bin").write_bytes(b"g" * 5000)
    lstat = os.lstat

    def gone(path, *args, **kwargs):
        if str(path).endswith("going.bin"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", gone)
    assert leftover_staging(tmp_path / "out") == [(left, 1000)]


def test_a_second_sigterm_does_not_stop_the_removal_of_the_staging_folder(tmp_path, monkeypatch):
    """A large run's staging folder takes seconds to remove; a second SIGTERM meanwhile (a
    second ``kill``, a scheduler repeating its signal) must not stop the removal half way.
    The signal is sent from inside the removal, after its first file."""
    import signal
    import time

    from itp_adam.cli import _stop_on_terminate
    from itp_adam.stages.pipeline import remove_staging, staging_beside

    staging = staging_beside(tmp_path / "out")
    for k in range(5):
        (staging / f"part-{k}").mkdir()
        (staging / f"part-{k}" / "data.bin").write_bytes(b"x" * 100)
    unlink = os.unlink
    sent = []

    def unlink_then_signal(*args, **kwargs):
        unlink(*args, **kwargs)
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # handled here, between two files

    monkeypatch.setattr(os, "unlink", unlink_then_signal)
    previous = _stop_on_terminate()
    try:
        remove_staging(staging)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # the run's handler is back
        with pytest.raises(KeyboardInterrupt, match="terminated"):  # and stops a later part
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent and list(tmp_path.iterdir()) == []
