"""Reading the raw export: both forms, any column order, and clear errors naming the place."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from itp_adam import simulate
from itp_adam.errors import InputError
from itp_adam.layout import load_layout
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.reader import read_export


@pytest.fixture(scope="module")
def layout():
    return load_layout(default_specs_dir())


@pytest.fixture()
def export(tmp_path):
    """A writable copy of the shipped CSV export."""
    dst = tmp_path / "raw"
    shutil.copytree(shipped_study_dir(), dst)
    return dst


def test_reads_every_form_with_its_types(layout):
    raw = read_export(shipped_study_dir(), layout)
    assert set(raw.forms) == set(layout.forms)
    dm = raw.forms["DM"]
    assert len(dm) == 168  # 167 subjects, one row entered twice
    assert str(dm["AGE"].dtype) == "Int64"
    assert str(raw.forms["EXPOSURE"]["DOSE"].dtype) == "Float64"
    # _ROW is the line in the file: header is line 1
    first = pd.read_csv(shipped_study_dir() / "DM.csv", dtype=str, nrows=1)
    assert dm.loc[0, "_ROW"] == 2 and dm.loc[0, "SUBJID"] == first.loc[0, "SUBJID"]


def test_workbook_and_csv_folder_read_the_same(layout, tmp_path):
    study = simulate.build(60, seed=3)
    simulate.write_export(study, tmp_path / "c", "csv")
    simulate.write_export(study, tmp_path / "x", "xlsx")
    a = read_export(tmp_path / "c", layout)
    b = read_export(tmp_path / "x" / "raw-export.xlsx", layout)
    assert a.kind == "csv" and b.kind == "xlsx"
    for name in layout.forms:
        pd.testing.assert_frame_equal(a.forms[name], b.forms[name], check_dtype=True)


def test_column_order_and_bom_do_not_matter(layout, export):
    dm = pd.read_csv(export / "DM.csv", dtype=str, keep_default_na=False)
    dm[dm.columns[::-1]].to_csv(export / "DM.csv", index=False, encoding="utf-8-sig")
    raw = read_export(export, layout)
    assert raw.forms["DM"]["SUBJID"].tolist() == dm["SUBJID"].tolist()


def test_missing_form_file(layout, export):
    (export / "BLEED.csv").unlink()
    with pytest.raises(InputError, match=r"BLEED\.csv: form BLEED is missing"):
        read_export(export, layout)


def test_missing_sheet(layout, tmp_path):
    from openpyxl import load_workbook

    simulate.write_export(simulate.build(30, seed=3), tmp_path, "xlsx")
    path = tmp_path / "raw-export.xlsx"
    wb = load_workbook(path)
    del wb["CM"]
    wb.save(path)
    with pytest.raises(InputError, match=r"raw-export\.xlsx: sheet CM is missing"):
        read_export(path, layout)


def test_missing_column_names_file_and_column(layout, export):
    lab = pd.read_csv(export / "LAB.csv", dtype=str, keep_default_na=False)
    lab.rename(columns={"LBORRESU": "LBORRESUNIT"}).to_csv(export / "LAB.csv", index=False)
    with pytest.raises(InputError) as err:
        read_export(export, layout)
    assert "LAB.csv" in str(err.value) and "column LBORRESU" in str(err.value)
    assert err.value.column == "LBORRESU"


@pytest.mark.parametrize(("form", "column", "bad", "expected"), [
    ("DM", "AGE", "forty", "a whole number"),
    ("EXPOSURE", "DOSE", "5 mg", "a number"),
    ("DM", "ICDAT", "31 FEB 2024", "a complete date"),
    ("DM", "ICDAT", "2024-02-03", "a complete date"),
    ("DM", "ICDAT", "UN FEB 2024", "a complete date"),
    ("AE", "AESTDAT", "03 UNK 2024", "UN UNK YYYY"),
    ("LAB", "LBTIM", "25:10", "HH:MM"),
])
def test_bad_value_names_row_column_value(layout, export, form, column, bad, expected):
    df = pd.read_csv(export / f"{form}.csv", dtype=str, keep_default_na=False)
    df.loc[4, column] = bad  # data row 5 = line 6 of the file
    df.to_csv(export / f"{form}.csv", index=False)
    with pytest.raises(InputError) as err:
        read_export(export, layout)
    msg = str(err.value)
    assert f"{form}.csv" in msg and "row 6" in msg and f"column {column}" in msg
    assert repr(bad) in msg and expected in msg


def test_empty_file(layout, export):
    (export / "DS.csv").write_text("")
    with pytest.raises(InputError, match=r"DS\.csv: the file is empty"):
        read_export(export, layout)


def test_extra_column_is_noted_not_lost(layout, export):
    cm = pd.read_csv(export / "CM.csv", dtype=str, keep_default_na=False)
    cm["CMDOSE"] = "1"
    cm.to_csv(export / "CM.csv", index=False)
    raw = read_export(export, layout)
    assert {"form": "CM", "column": "CMDOSE", "rule": "column not in the layout: ignored",
            "severity": "NOTE"} in raw.notes


def test_raw_path_that_does_not_exist(layout, tmp_path):
    with pytest.raises(InputError, match="raw export not found"):
        read_export(tmp_path / "nothing", layout)
