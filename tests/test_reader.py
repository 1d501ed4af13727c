"""Reading the raw export: both forms, any column order, and clear errors naming the place."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from itp_adam import simulate
from itp_adam.errors import InputError, InputErrors
from itp_adam.io.layout import load_layout
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.io.raw import read_export


@pytest.fixture(scope="module")
def layout():
    return load_layout(default_specs_dir())


@pytest.fixture(scope="module")
def small_workbook(tmp_path_factory):
    """A 30-subject simulated study written as one workbook, once per module; the tests that
    break it work on their own copy (``_workbook_copy``)."""
    folder = tmp_path_factory.mktemp("small-workbook")
    simulate.write_export(simulate.build(30, seed=3), folder, "xlsx")
    return folder / "raw-export.xlsx"


def _workbook_copy(small_workbook, tmp_path):
    path = tmp_path / "raw-export.xlsx"
    shutil.copyfile(small_workbook, path)
    return path


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


def test_date_and_time_cells_excel_made_read_as_the_text_they_were(layout, small_workbook,
                                                                     tmp_path):
    """A workbook saved by Excel holds date and time cells where the export had text (Excel
    recognises '12 APR 2023' and '14:30' when it opens a CSV): every complete date of a date
    or pdate column and every time of a time column is turned into such a cell here (by
    openpyxl, from the text with strptime), and the forms read are those of the text workbook.
    A date cell with a time of day is not a raw date: reported, with its value."""
    import datetime as dt

    from openpyxl import load_workbook

    MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
    want = read_export(small_workbook, layout)
    path = _workbook_copy(small_workbook, tmp_path)
    book = load_workbook(path)
    converted = 0
    for form, spec in layout.forms.items():
        sheet = book[form]
        header = [c.value for c in sheet[1]]
        for name, column in spec.columns.items():
            if column.type not in ("date", "pdate", "time") or name not in header:
                continue
            for (cell,) in sheet.iter_rows(min_row=2, min_col=header.index(name) + 1,
                                           max_col=header.index(name) + 1):
                text = cell.value
                try:
                    if column.type == "time":
                        cell.value = dt.datetime.strptime(text, "%H:%M").time()
                    else:
                        day, month, year = text.split(" ")  # DD MON YYYY, not the locale's
                        cell.value = dt.datetime(int(year), MONTHS.index(month) + 1, int(day))
                except (AttributeError, TypeError, ValueError):  # blank, partial, bad: kept
                    continue
                converted += 1
    book.save(path)
    assert converted > 1000  # the cells really are dates and times now
    got = read_export(path, layout)
    for form in layout.forms:
        pd.testing.assert_frame_equal(got.forms[form], want.forms[form], check_dtype=True)

    book = load_workbook(path)
    header = [c.value for c in book["AE"][1]]
    book["AE"].cell(row=2, column=header.index("AESTDAT") + 1).value = dt.datetime(2024, 5, 6, 10, 30)
    book.save(path)
    with pytest.raises(InputErrors) as raised:
        read_export(path, layout)
    assert "[sheet AE], row 2, column AESTDAT: invalid value: found '2024-05-06 10:30:00'" \
        in str(raised.value)


def test_number_cells_in_a_text_column_are_a_warning(layout, small_workbook, tmp_path):
    """Excel reads a site id '03' as the number 3 (and an id '01-10' as a date): the text
    column SITEID then holds number cells, which read as '3' (the zero is gone for good) and
    are reported once for the column, with their count, the first row and its value; a date
    cell in the text column AETERM too; number columns (AGE) are not reported."""
    import datetime as dt

    from openpyxl import load_workbook

    want = read_export(small_workbook, layout)
    path = _workbook_copy(small_workbook, tmp_path)
    book = load_workbook(path)
    header = [c.value for c in book["DM"][1]]
    for name in ("SITEID", "AGE"):
        for (cell,) in book["DM"].iter_rows(min_row=2, min_col=header.index(name) + 1,
                                            max_col=header.index(name) + 1):
            cell.value = int(cell.value)
    ae = [c.value for c in book["AE"][1]]
    book["AE"].cell(row=3, column=ae.index("AETERM") + 1).value = dt.datetime(2026, 1, 10)
    book.save(path)
    got = read_export(path, layout)
    sites = want.forms["DM"]["SITEID"]
    assert got.forms["DM"]["SITEID"].tolist() == [str(int(site)) for site in sites]
    assert got.forms["DM"]["AGE"].tolist() == want.forms["DM"]["AGE"].tolist()
    noted = [n for n in got.notes if n.get("column") in ("SITEID", "AGE", "AETERM")]
    rule = ("number or date cell(s) in a text column: kept as the cell reads; what Excel "
            "changed ('03' read as 3, '7.50' as 7.5, '01-10' as a date) cannot be restored, so "
            "check against the source")
    assert noted == [
        {"form": "DM", "column": "SITEID", "row": 2, "value": str(int(sites[0])),
         "severity": "WARNING", "rule": f"{len(sites)} {rule}"},
        {"form": "AE", "column": "AETERM", "row": 3, "value": "10 JAN 2026", "severity": "WARNING",
         "rule": f"1 {rule}"}]
    from itp_adam import issues
    from itp_adam.stages.sdtm import report_reader_notes

    with issues.collect() as log:  # into data-issues.csv as a warning, the others as info
        report_reader_notes(noted + [{"form": "X", "rule": "sheet not in the layout: ignored",
                                "severity": "NOTE"}])
    assert log.frame()["severity"].tolist() == ["warning", "warning", "info"]


def test_column_order_and_bom_do_not_matter(layout, export):
    dm = pd.read_csv(export / "DM.csv", dtype=str, keep_default_na=False)
    dm[dm.columns[::-1]].to_csv(export / "DM.csv", index=False, encoding="utf-8-sig")
    raw = read_export(export, layout)
    assert raw.forms["DM"]["SUBJID"].tolist() == dm["SUBJID"].tolist()


def test_missing_form_file(layout, export):
    (export / "BLEED.csv").unlink()
    with pytest.raises(InputError, match=r"BLEED\.csv: form BLEED is missing"):
        read_export(export, layout)


def test_missing_sheet(layout, small_workbook, tmp_path):
    from openpyxl import load_workbook

    path = _workbook_copy(small_workbook, tmp_path)
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


def test_problems_of_every_form_collected_structure_first(layout, export):
    # today's single message was the first problem met: files are read (and refused) before
    # any form's values are checked, so the list starts with the files' problems
    (export / "BLEED.csv").unlink()
    ae = (export / "AE.csv").read_bytes()
    (export / "AE.csv").write_bytes(ae.replace(b'\n"', b'\n"\xe9', 1))  # Latin-1 on row 2
    dm = pd.read_csv(export / "DM.csv", dtype=str, keep_default_na=False)
    dm.loc[0, "AGE"] = "forty"
    dm.to_csv(export / "DM.csv", index=False)
    with pytest.raises(InputErrors) as err:
        read_export(export, layout)
    found = [(e.file, e.row, e.column, e.message) for e in err.value.errors]
    assert found[0] == (str(export / "BLEED.csv"), None, None, "form BLEED is missing from the export")
    assert found[1][:3] == (str(export / "AE.csv"), 2, None) and found[1][3].startswith("not UTF-8 text (byte 0xE9")
    assert found[2:] == [(str(export / "DM.csv"), 2, "AGE", "invalid value")]
    assert err.value.count == 3 and str(err.value) == str(err.value.errors[0])
    assert err.value.file == str(export / "BLEED.csv")  # the first error's attributes


def test_a_bad_cell_is_reported_once_and_the_rows_listed_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr("itp_adam.io.raw.MAX_LISTED", 3)
    layout = one_form_layout({"I": {"type": "integer", "min": 0}, "D": {"type": "date"}})
    folder = write_form(tmp_path / "raw", ["I,D", "1,03 NOV 2024", "-2.5,C\u00e9ph", "x,31 FEB 2024", "x,",
                                           "-1,", "x,", "x,", "1e300,"])
    with pytest.raises(InputErrors) as err:
        read_export(folder, layout)
    # -2.5: not a whole number, not also below the minimum; 'Céph': non-ASCII, not also no date;
    # five rows of I are no whole number, three listed (MAX_LISTED), all counted
    assert [(e.row, e.column, e.message, e.value) for e in err.value.errors] == [
        (3, "I", "invalid value (and 4 more in this column)", "-2.5"),
        (4, "I", "invalid value", "x"),
        (5, "I", "invalid value", "x"),
        (9, "I", "number out of range", "1e300"),
        (6, "I", "number below the minimum", "-1"),
        (3, "D", "a non-ASCII character U+00E9 in the value", "C\u00e9ph"),
        (4, "D", "invalid value", "31 FEB 2024"),
    ]
    assert err.value.count == 9


def test_workbook_problems_of_every_sheet_collected(layout, small_workbook, tmp_path):
    from openpyxl import load_workbook

    path = _workbook_copy(small_workbook, tmp_path)
    wb = load_workbook(path)
    del wb["CM"], wb["BLEED"]
    wb["DM"]["F2"] = "forty"  # column F is AGE
    wb.save(path)
    assert [c.value for c in wb["DM"][1]][5] == "AGE"
    with pytest.raises(InputErrors) as err:
        read_export(path, layout)
    assert [(e.file, e.row, e.column, e.message) for e in err.value.errors] == [
        (str(path), None, None, "sheet BLEED is missing from the workbook"),
        (str(path), None, None, "sheet CM is missing from the workbook"),
        (f"{path} [sheet DM]", 2, "AGE", "invalid value"),
    ]


def test_formula_cells_without_a_computed_value_are_bad_input(layout, small_workbook, tmp_path):
    """A workbook written by a program (openpyxl here, R's openxlsx alike) stores a formula
    without its value until a spreadsheet calculates it; such a cell read as blank, the value
    lost without a trace (an AGE gone from DM). Now one error per column, with the count, the
    first cell and its formula, every sheet's in one pass. Once calculated (the value stored
    beside the formula, as Excel and LibreOffice save it), the cell reads as its value."""
    import re
    import zipfile

    from openpyxl import load_workbook

    path = _workbook_copy(small_workbook, tmp_path)
    wb = load_workbook(path)
    assert [c.value for c in wb["DM"][1]][5] == "AGE"  # column F
    wb["DM"]["F2"], wb["DM"]["F4"] = "=40+5", "=2*30"
    lab = [c.value for c in wb["LAB"][1]]
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[lab.index("LBORRES")]
    wb["LAB"][f"{letter}3"] = '="12"'
    wb.save(path)
    with pytest.raises(InputErrors) as err:
        read_export(path, layout)
    assert [(e.file, e.row, e.column, e.value, e.message[:60]) for e in err.value.errors] == [
        (f"{path} [sheet DM]", 2, "AGE", "=40+5",
         "2 formula cell(s) without a computed value, the first F2: th"),
        (f"{path} [sheet LAB]", 3, "LBORRES", '="12"',
         f"1 formula cell(s) without a computed value, the first {letter}3: th")]
    # the values stored beside the formulas, as a spreadsheet saves a calculated workbook
    calculated = tmp_path / "calculated.xlsx"
    stored = {b"40+5": b"45", b"2*30": b"60", b'"12"': b"12"}
    with zipfile.ZipFile(path) as book, zipfile.ZipFile(calculated, "w") as out:
        for item in book.infolist():
            data = book.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb"<f>([^<]*)</f><v></v>",
                              lambda m: b"<f>" + m[1] + b"</f><v>" + stored[
                                  m[1].replace(b"&quot;", b'"')] + b"</v>", data)
            out.writestr(item, data)
    want, got = read_export(small_workbook, layout), read_export(calculated, layout)
    assert got.forms["DM"]["AGE"].tolist()[:3] == [45, want.forms["DM"]["AGE"][1], 60]
    assert got.forms["LAB"]["LBORRES"][1] == "12"
    # a formula whose stored value is an error (a lookup that found nothing): an error cell
    failing = tmp_path / "failing.xlsx"
    with zipfile.ZipFile(calculated) as book, zipfile.ZipFile(failing, "w") as out:
        for item in book.infolist():
            data = book.read(item)
            if item.filename.startswith("xl/worksheets/") and b'<c r="F4"><f>2*30</f>' in data:
                data = data.replace(b'<c r="F4"><f>2*30</f><v>60</v>',
                                    b'<c r="F4" t="e"><f>2*30</f><v>#N/A</v>')
                assert b"#N/A" in data
            out.writestr(item, data)
    with pytest.raises(InputErrors) as err:
        read_export(failing, layout)
    assert [(e.row, e.column, e.value) for e in err.value.errors] == [(4, "AGE", "#N/A")]


def test_spreadsheet_error_cells_are_bad_input(layout, small_workbook, tmp_path):
    """A cell holding a spreadsheet error (#N/A of a lookup that found nothing, #DIV/0!) read
    as that text: in a text column (CMTRT) it was kept as if it were the treatment's name. Now
    one error per column, with the count, the first cell and the error; a number column's
    error cell is not reported a second time as an invalid number."""
    from openpyxl import load_workbook

    path = _workbook_copy(small_workbook, tmp_path)
    wb = load_workbook(path)
    cm = [c.value for c in wb["CM"][1]]
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[cm.index("CMTRT")]
    wb["CM"][f"{letter}3"], wb["CM"][f"{letter}5"] = "#N/A", "#N/A"
    wb["DM"]["F2"] = "#DIV/0!"  # AGE
    wb.save(path)
    assert wb["CM"][f"{letter}3"].data_type == "e"  # openpyxl writes it as an error value
    with pytest.raises(InputErrors) as err:
        read_export(path, layout)
    assert [(e.file, e.row, e.column, e.value, e.message) for e in err.value.errors] == [
        (f"{path} [sheet DM]", 2, "AGE", "#DIV/0!", "1 cell(s) holding a spreadsheet error, the "
         "first F2: a formula that failed or an error typed in, not a value"),
        (f"{path} [sheet CM]", 3, "CMTRT", "#N/A", f"2 cell(s) holding a spreadsheet error, the "
         f"first {letter}3: a formula that failed or an error typed in, not a value")]


def test_merged_cells_below_the_header_are_bad_input(layout, small_workbook, tmp_path):
    """A merged range holds its value in its first cell only (a sample date merged over the
    rows of one visit, a subject id over its records): the other rows read as blank, the date
    or the id lost without a trace. One error per sheet names the ranges, the first by its row
    and column; a merge within the header row alone is left to the header's own checks."""
    from openpyxl import load_workbook

    path = _workbook_copy(small_workbook, tmp_path)
    wb = load_workbook(path)
    lab = [c.value for c in wb["LAB"][1]]
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[lab.index("LBDAT")]
    wb["LAB"].merge_cells(f"{letter}2:{letter}4")
    wb["LAB"].merge_cells("A6:A7")
    wb.save(path)
    with pytest.raises(InputErrors) as err:
        read_export(path, layout)
    assert [(e.file, e.row, e.column, e.value) for e in err.value.errors] == [
        (f"{path} [sheet LAB]", 2, "LBDAT", f"{letter}2:{letter}4, A6:A7")]
    assert err.value.errors[0].message.startswith(
        f"2 merged cell range(s), the first {letter}2:{letter}4: a merged range holds")


def test_a_zipped_export_is_unpacked_to_what_to_read(tmp_path):
    """io.raw.unpack_export: the forms' folder (the zip's one top folder, else the zip's root),
    or its one workbook; a member outside the folder, CSV files beside a workbook, two
    workbooks, or no export at all are bad input naming the zip."""
    import zipfile

    from itp_adam.io.raw import unpack_export

    def zipped(name: str, members: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        return path

    assert unpack_export(zipped("a.zip", {"x/DM.csv": b"1", "x/AE.csv": b"2"}),
                         tmp_path / "a") == tmp_path / "a" / "x"
    assert (tmp_path / "a" / "x" / "AE.csv").read_bytes() == b"2"
    assert unpack_export(zipped("b.zip", {"DM.csv": b"1", "x/notes.txt": b""}),
                         tmp_path / "b") == tmp_path / "b"
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["DM.csv"]  # not the notes
    assert unpack_export(zipped("c.zip", {"in/raw.xlsx": b"PK", "__MACOSX/in/._raw.xlsx": b""}),
                         tmp_path / "c") == tmp_path / "c" / "in" / "raw.xlsx"
    for name, members, said in (
            ("d.zip", {"../DM.csv": b"1"}, "member ../DM.csv names a place outside the export"),
            ("e.zip", {"DM.csv": b"1", "raw.xlsx": b"PK"},
             "the zip holds 1 CSV file(s) and 1 workbook(s)"),
            ("f.zip", {"a.xlsx": b"PK", "b.xlsx": b"PK"},
             "the zip holds 0 CSV file(s) and 2 workbook(s)"),
            ("g.zip", {"notes.txt": b""}, "the zip holds no CSV file and no workbook")):
        with pytest.raises(InputError) as err:
            unpack_export(zipped(name, members), tmp_path / name.replace(".zip", ""))
        assert (err.value.file, err.value.message) == (str(tmp_path / name), said)
    (tmp_path / "h.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"h\.zip: cannot be read as a zip archive"):
        unpack_export(tmp_path / "h.zip", tmp_path / "h")


# --------------------------------------------------------------------------------------------
# The checks run once per distinct value of a column (reader._Values); the results must be
# those of checking every row: these tests write small forms with repeated values by hand.


def one_form_layout(columns: dict[str, dict]):
    """A layout with one form F whose columns are given as ``{name: {type:..., ...}}``."""
    from itp_adam.io.layout import RawLayout

    return RawLayout.model_validate({"study_id": "X", "subject_form": "F", "subject_column": next(iter(columns)),
                                     "forms": {"F": {"label": "f", "columns": columns}}})


def write_form(folder, lines: list[str]):
    folder.mkdir()
    (folder / "F.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_repeated_values_are_cleaned_and_converted_row_by_row(tmp_path):
    layout = one_form_layout({
        "T": {"type": "text"}, "N": {"type": "number"}, "I": {"type": "integer", "min": 0},
        "D": {"type": "pdate"}, "H": {"type": "time"},
        "Q": {"type": "text", "required": False}, "R": {"type": "number", "required": False},
    })
    bom = "\ufeff"
    folder = write_form(tmp_path / "raw", [
        "T,N,I,D,H",
        " a ,1.5,3,03 NOV 2024,08:30",       # row 2
        "a, 1.5 , 3 , 03 NOV 2024 ,",         # row 3: the same values with blanks around
        f"{bom}b,,,UN NOV 2024,08:30",       # row 4: a mark inside a value
        f"a,2,{bom}3,,23:59",                # row 5
        " a ,1.5,3,03 NOV 2024,08:30",       # row 6: row 2 again
    ])
    raw = read_export(folder, layout)
    f = raw.forms["F"]
    assert list(f.columns) == ["_ROW", "T", "N", "I", "D", "H", "Q", "R"]
    assert f["_ROW"].tolist() == [2, 3, 4, 5, 6]
    assert f["T"].tolist() == ["a", "a", "b", "a", "a"]
    assert f["N"].tolist() == [1.5, 1.5, pd.NA, 2.0, 1.5]
    assert f["I"].tolist() == [3, 3, pd.NA, 3, 3]
    assert f["D"].tolist() == ["03 NOV 2024", "03 NOV 2024", "UN NOV 2024", "", "03 NOV 2024"]
    assert f["H"].tolist() == ["08:30", "", "08:30", "23:59", "08:30"]
    assert f["Q"].tolist() == [""] * 5 and f["R"].isna().all()  # optional columns not in the file
    assert [str(t) for t in f.dtypes] == ["int64", "str", "Float64", "Int64", "str", "str", "str",
                                          "Float64"]
    marks = [n for n in raw.notes if "byte-order mark" in n["rule"]]
    assert marks == [
        {"form": "F", "column": "T", "row": 4, "rule": "byte-order mark inside 1 value(s): removed",
         "severity": "NOTE"},
        {"form": "F", "column": "I", "row": 5, "rule": "byte-order mark inside 1 value(s): removed",
         "severity": "NOTE"},
    ]


@pytest.mark.parametrize(("ctype", "values", "message"), [
    # the first bad row, its value, and the other bad rows counted (not the distinct values)
    ("integer", ["1", "x", "2", "y", "x", "1"], "row 3, column C: invalid value (and 2 more in this "
     "column): found 'x'; expected a whole number"),
    ("number", ["1", "7", " -1 ", "-1", "-2"], "row 4, column C: number below the minimum (and 2 more "
     "in this column): found '-1'; expected at least 0 (raw.yaml min)"),
    ("number", ["1", "inf", "1e300", "inf"], "row 3, column C: number out of range (and 2 more in this "
     "column): found 'inf'"),
    ("time", ["08:30", "8.30", "08:30", "8.30"], "row 3, column C: invalid value (and 1 more in this "
     "column): found '8.30'; expected a time HH:MM (24 h) or blank"),
    ("date", ["03 NOV 2024", "", "UN NOV 2024", "03 NOV 2024", "un nov 2024"], "row 4, column C: invalid "
     "value (and 1 more in this column): found 'UN NOV 2024'; expected a complete date"),
    ("text", ["ok", "ok", "C\u00e9ph", "x", "C\u00e9ph"], "row 4, column C: a non-ASCII character U+00E9 "
     "in the value: found 'Céph'"),
    ("text", ["ok", "B" * 201, "B" * 201], "row 3, column C: value of 201 characters: found 'BBBB"),
])
def test_first_bad_row_of_repeated_values(tmp_path, ctype, values, message):
    layout = one_form_layout({"C": {"type": ctype, "min": 0} if ctype == "number" else {"type": ctype}})
    folder = write_form(tmp_path / "raw", ["C", *values])
    with pytest.raises(InputError) as err:
        read_export(folder, layout)
    assert message in str(err.value)


def test_value_in_a_column_without_a_name_is_found_among_repeats(tmp_path):
    layout = one_form_layout({"C": {"type": "text"}})
    folder = write_form(tmp_path / "raw", ["C,", "a,", "a, ", "b,z", "a,z"])
    with pytest.raises(InputError) as err:
        read_export(folder, layout)
    assert "row 4, column #2: value in a column without a header name: found 'z'" in str(err.value)


def test_bad_row_deep_in_a_large_file_is_named(tmp_path):
    # a file of several pyarrow blocks (1 MiB each) is parsed by several threads, which do not
    # know line numbers: the failure is read again serially to name the row
    lines = ["A,B"] + ["some text,more text"] * 150_000
    lines[120_000] = "some text,more,text"  # line 120,001 of the file
    folder = write_form(tmp_path / "raw", lines)
    with pytest.raises(InputError) as err:
        read_export(folder, one_form_layout({"A": {"type": "text"}, "B": {"type": "text"}}))
    assert str(err.value).startswith(f"{folder / 'F.csv'}, row 120001: the row has 3 fields, the header 2")


# --------------------------------------------------------------------------------------------
# A large export read into files (io.raw.Spill): the same forms, notes and problems


def _read_both(path, layout, spill_folder):
    """``read_export`` in memory and with a Spill: (forms, notes, files) or the InputError's
    problems, for each."""
    from itp_adam.io.raw import Spill

    out = []
    for spill in (None, Spill(spill_folder)):
        try:
            raw = read_export(path, layout, spill)
        except InputError as exc:
            errors = exc.errors if isinstance(exc, InputErrors) else [exc]
            out.append(("refused", [str(e) for e in errors], getattr(exc, "count", 1)))
        else:
            out.append(("read", raw.forms, raw.notes, raw.files))
        if spill is not None:
            out.append(spill.files)
    return out


def _same_read(path, layout, spill_folder):
    whole, spilled, files = _read_both(path, layout, spill_folder)
    assert whole[0] == spilled[0]
    if whole[0] == "refused":
        assert whole[1:] == spilled[1:]
    else:
        assert sorted(whole[1]) == sorted(spilled[1])
        for name in whole[1]:  # values, pandas types, row numbers, column order
            pd.testing.assert_frame_equal(spilled[1][name], whole[1][name], check_exact=True)
        assert whole[2:] == spilled[2:]
    return whole, files


def test_a_read_into_files_gives_the_same_forms(layout, tmp_path, monkeypatch):
    # blocks of 64 KiB, so that the larger forms are parsed into files of several batches
    monkeypatch.setattr("itp_adam.io.raw.SPILL_BLOCK", 1 << 16)
    whole, files = _same_read(shipped_study_dir(), layout, tmp_path / "spill")
    assert whole[0] == "read" and (shipped_study_dir() / "LAB.csv").stat().st_size > 4 << 16
    # per form its text and _ROW, and each number column (text read as is is the file's)
    numbers = sum(c.type in ("integer", "number") for form in layout.forms.values()
                  for c in form.columns.values())
    assert files >= 2 * len(layout.forms) + numbers
    assert len(list((tmp_path / "spill").glob("*.arrow"))) == files


def test_a_read_into_files_finds_the_same_problems(layout, export, tmp_path, monkeypatch):
    monkeypatch.setattr("itp_adam.io.raw.SPILL_BLOCK", 1 << 16)
    (export / "BLEED.csv").unlink()  # a missing form
    ae = (export / "AE.csv").read_bytes()
    (export / "AE.csv").write_bytes(ae.replace(b'\n"', b'\n"\xe9', 1))  # Latin-1 on row 2
    lab = pd.read_csv(export / "LAB.csv", dtype=str, keep_default_na=False)
    far = [5, len(lab) // 2, len(lab) - 3]  # in the first, a middle and the last block
    bad = lab.copy()
    bad.loc[far, "LBORNRHI"] = ["high", "1e300", "-3"]  # invalid, out of range, below min
    bad.loc[far[1] + 1, "LBORRES"] = "n\u00e9g"  # non-ASCII
    bad.loc[far[1] + 2, "LBORRESU"] = "\ufeffg/L"  # a byte-order mark inside a value (a note)
    bad.to_csv(export / "LAB.csv", index=False)
    dm = (export / "DM.csv").read_bytes()
    (export / "DM.csv").write_bytes("\ufeff\ufeff".encode() + dm)  # two marks (a note)
    whole, _ = _same_read(export, layout, tmp_path / "spill")
    assert whole[0] == "refused" and whole[2] == 6  # BLEED, AE's encoding, four LAB cells
    assert sum(text.startswith(str(export / "LAB.csv")) for text in whole[1]) == 4
    # the same export without its problems reads the same too, notes included
    shutil.copyfile(shipped_study_dir() / "BLEED.csv", export / "BLEED.csv")
    shutil.copyfile(shipped_study_dir() / "AE.csv", export / "AE.csv")
    bad.loc[far, "LBORNRHI"] = lab.loc[far, "LBORNRHI"]
    bad.loc[far[1] + 1, "LBORRES"] = lab.loc[far[1] + 1, "LBORRES"]
    bad.to_csv(export / "LAB.csv", index=False)
    whole, _ = _same_read(export, layout, tmp_path / "spill-2")
    assert whole[0] == "read"
    rules = [note["rule"] for note in whole[2]]
    assert "2 byte-order marks at the start of the file: removed" in rules
    assert "byte-order mark inside 1 value(s): removed" in rules


@pytest.mark.parametrize("lines", [
    [],  # an empty file
    ["A,B"],  # a header only
    ["A,B,", "x,1,", "y,2,3"],  # a value in a column without a name
    ["A,A", "x,1"],  # a column named twice
    ["A;B", "x;1"],  # not comma-separated
    ["A,B"] + ["some text,1"] * 30_000 + ["more,1,2"] + ["x,1"] * 10,  # a bad row in a later block
], ids=["empty", "header only", "unnamed column", "named twice", "semicolons", "bad row"])
def test_a_read_into_files_refuses_a_bad_file_as_in_memory(tmp_path, monkeypatch, lines):
    monkeypatch.setattr("itp_adam.io.raw.SPILL_BLOCK", 1 << 16)
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "F.csv").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    layout = one_form_layout({"A": {"type": "text"}, "B": {"type": "integer"}})
    whole, _ = _same_read(folder, layout, tmp_path / "spill")
    assert whole[0] == ("read" if lines == ["A,B"] else "refused")
