"""Raw dates in the format a study's raw.yaml declares (``date_format``).

The expected ISO dates are worked out by hand from the format's definition (docs/specs.md,
"raw.yaml"): an unknown day or month is written ``UN`` (``UNK`` for a month name) and
truncated, ISO 8601 leaves unknown parts out from the right. The end-to-end test builds the shipped
study from its export with every date rewritten in another format (by plain string operations
here, not by the package): the SDTM and ADaM datasets must be those of the shipped study.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import get_args

import pandas as pd
import pytest

from itp_adam import issues
from itp_adam.derive.dates import RAW_DATE_FORMATS, raw_date_text, raw_date_to_iso
from itp_adam.errors import InputErrors
from itp_adam.io.layout import DateFormat, RawLayout
from itp_adam.io.raw import read_export
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.spec.model import SpecError, load_raw_layout, load_specs
from itp_adam.stages.adam import build_adam
from itp_adam.stages.sdtm import build_sdtm, prepare_forms

FORMATS = ["DD MON YYYY", "DD-MON-YYYY", "DDMONYYYY", "YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY",
           "DD.MM.YYYY"]

# per format: (raw value, ISO 8601 or None for invalid); 3 Nov 2024, Nov 2024, 2019
CASES = {
    "DD MON YYYY": [("03 NOV 2024", "2024-11-03"), ("UN NOV 2024", "2024-11"), ("UN UNK 2019", "2019"),
                    ("03 UNK 2024", None), ("31 FEB 2024", None), ("2024-11-03", None)],
    "DD-MON-YYYY": [("03-NOV-2024", "2024-11-03"), ("un-nov-2024", "2024-11"), ("UN-UNK-2019", "2019"),
                    ("03-UNK-2024", None), ("03 NOV 2024", None), ("03-11-2024", None)],
    "DDMONYYYY": [("03NOV2024", "2024-11-03"), ("UNNOV2024", "2024-11"), ("UNUNK2019", "2019"),
                  ("29FEB2023", None), ("3NOV2024", None)],
    "YYYY-MM-DD": [("2024-11-03", "2024-11-03"), ("2024-11", "2024-11"), ("2019", "2019"),
                   ("2024-11-3", None), ("2024-13", None), ("2024-02-30", None), ("2024-UN-UN", None),
                   ("2024-11-03T10:00", None), ("20241103", None)],
    "DD/MM/YYYY": [("03/11/2024", "2024-11-03"), ("UN/11/2024", "2024-11"), ("UN/UN/2019", "2019"),
                   ("03/UN/2024", None), ("11/13/2024", None), ("UN/UNK/2024", None), ("3/11/2024", None)],
    "MM/DD/YYYY": [("11/03/2024", "2024-11-03"), ("11/UN/2024", "2024-11"), ("UN/UN/2019", "2019"),
                   ("UN/03/2024", None), ("13/11/2024", None), ("02/30/2024", None)],
    "DD.MM.YYYY": [("03.11.2024", "2024-11-03"), ("UN.11.2024", "2024-11"), ("UN.UN.2019", "2019"),
                   ("03.UN.2024", None), ("03/11/2024", None)],
}


def test_the_closed_list_is_the_same_in_the_layout_model_and_the_converter() -> None:
    assert list(RAW_DATE_FORMATS) == FORMATS
    assert list(get_args(DateFormat)) == FORMATS
    assert RawLayout.model_validate({"study_id": "X", "subject_form": "F", "subject_column": "S", "forms": {
        "F": {"label": "f", "columns": {"S": {"type": "text"}}}}}).date_format == "DD MON YYYY"


@pytest.mark.parametrize("date_format", FORMATS)
def test_raw_date_to_iso_in_each_format(date_format: str) -> None:
    raw, iso = zip(*CASES[date_format], ("", ""), (" ", ""))  # blank: unknown, not an error
    result, invalid = raw_date_to_iso(pd.Series(raw, index=range(10, 10 + len(raw))), date_format)
    assert result.index.tolist() == list(range(10, 10 + len(raw)))
    assert result.tolist() == [i or "" for i in iso]
    assert invalid.tolist() == [i is None for i in iso]


def test_unknown_format_name_is_refused_with_the_list() -> None:
    with pytest.raises(ValueError, match=r"unknown raw date format 'YYYYMMDD'; one of: DD MON YYYY, "
                                         r"DD-MON-YYYY, DDMONYYYY, YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, DD\.MM\.YYYY"):
        raw_date_to_iso(pd.Series(["20241103"]), "YYYYMMDD")


def test_unknown_format_in_raw_yaml_is_a_spec_error_with_file_line_and_the_list(tmp_path: Path) -> None:
    text = (default_specs_dir() / "raw.yaml").read_text(encoding="utf-8")
    assert "\ndate_format: DD MON YYYY\n" in text
    (tmp_path / "raw.yaml").write_text(text.replace("\ndate_format: DD MON YYYY\n", "\ndate_format: DD/MM/YY\n"),
                                       encoding="utf-8")
    line = text.splitlines().index("date_format: DD MON YYYY") + 1
    with pytest.raises(SpecError) as caught:
        load_raw_layout(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'raw.yaml'}, line {line}: date_format: Input should be 'DD MON YYYY', 'DD-MON-YYYY', "
        "'DDMONYYYY', 'YYYY-MM-DD', 'DD/MM/YYYY', 'MM/DD/YYYY' or 'DD.MM.YYYY' (found 'DD/MM/YY')")


# --- the reader -----------------------------------------------------------------------------------


def _layout(date_format: str) -> RawLayout:
    return RawLayout.model_validate({
        "study_id": "X", "subject_form": "A", "subject_column": "S", "date_format": date_format,
        "forms": {"A": {"label": "a", "columns": {"S": {"type": "text"}, "D": {"type": "date"}}},
                  "B": {"label": "b", "columns": {"S": {"type": "text"}, "P": {"type": "pdate"}}}}})


def _write(folder: Path, forms: dict[str, list[str]]) -> Path:
    folder.mkdir()
    for name, lines in forms.items():
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_reader_keeps_dates_of_the_declared_format_as_collected(tmp_path: Path) -> None:
    folder = _write(tmp_path / "raw", {"A": ["S,D", "1,03/11/2024", "2, 29/02/2024 "],
                                       "B": ["S,P", "1,UN/11/2024", "1,UN/UN/2019", "2,", "2,01/01/2025"]})
    export = read_export(folder, _layout("DD/MM/YYYY"))
    assert export.forms["A"]["D"].tolist() == ["03/11/2024", "29/02/2024"]  # text, stripped
    assert export.forms["B"]["P"].tolist() == ["UN/11/2024", "UN/UN/2019", "", "01/01/2025"]


def test_reader_reports_every_bad_date_of_every_form_with_the_expected_format(tmp_path: Path) -> None:
    # '03 NOV 2024' is the default format, not the declared one; 'UN/11/2024' is partial in a
    # complete-date column; 13 is no month; 03/UN: a known day of an unknown month
    folder = _write(tmp_path / "raw", {"A": ["S,D", "1,03/11/2024", "2,03 NOV 2024", "3,UN/11/2024"],
                                       "B": ["S,P", "1,UN/13/2024", "2,03/UN/2024", "3,UN/UN/2024"]})
    with pytest.raises(InputErrors) as caught:
        read_export(folder, _layout("DD/MM/YYYY"))
    complete = "a complete date DD/MM/YYYY, e.g. 03/11/2024"
    partial = "a date DD/MM/YYYY, UN/MM/YYYY, UN/UN/YYYY or blank"
    assert [(Path(e.file).name, e.row, e.column, e.value, e.expected) for e in caught.value.errors] == [
        ("A.csv", 3, "D", "03 NOV 2024", complete),
        ("A.csv", 4, "D", "UN/11/2024", complete),
        ("B.csv", 2, "P", "UN/13/2024", partial),
        ("B.csv", 3, "P", "03/UN/2024", partial),
    ]
    assert str(caught.value) == (f"{folder / 'A.csv'}, row 3, column D: invalid value (and 1 more in this "
                                 f"column): found '03 NOV 2024'; expected {complete}")


@pytest.mark.parametrize(("date_format", "complete", "partial"), [
    ("DD MON YYYY", "a complete date DD MON YYYY, e.g. 03 NOV 2024",
     "a date DD MON YYYY, UN MON YYYY, UN UNK YYYY or blank"),
    ("YYYY-MM-DD", "a complete date YYYY-MM-DD, e.g. 2024-11-03", "a date YYYY-MM-DD, YYYY-MM, YYYY or blank"),
    ("MM/DD/YYYY", "a complete date MM/DD/YYYY, e.g. 11/03/2024",
     "a date MM/DD/YYYY, MM/UN/YYYY, UN/UN/YYYY or blank"),
    ("DDMONYYYY", "a complete date DDMONYYYY, e.g. 03NOV2024", "a date DDMONYYYY, UNMONYYYY, UNUNKYYYY or blank"),
])
def test_messages_name_the_declared_format(tmp_path: Path, date_format: str, complete: str,
                                           partial: str) -> None:
    folder = _write(tmp_path / "raw", {"A": ["S,D", "1,1 Nov 2024"], "B": ["S,P", "1,Nov 2024"]})
    with pytest.raises(InputErrors) as caught:
        read_export(folder, _layout(date_format))
    assert [e.expected for e in caught.value.errors] == [complete, partial]


# --- a whole study in another format: the same SDTM and ADaM --------------------------------------

MONTHS = {"JAN": "01", "FEB": "02", "MAR": "03", "APR": "04", "MAY": "05", "JUN": "06", "JUL": "07",
          "AUG": "08", "SEP": "09", "OCT": "10", "NOV": "11", "DEC": "12", "UNK": "UN"}


def _to_format(text: str, date_format: str) -> str:
    """A ``DD MON YYYY`` raw date (``UN``/``UNK`` parts) written in ``date_format``, by hand."""
    if not text:
        return text
    day, mon, year = text.split()
    if date_format == "DD/MM/YYYY":
        return f"{day}/{MONTHS[mon]}/{year}"
    assert date_format == "YYYY-MM-DD"
    return year if mon == "UNK" else f"{year}-{MONTHS[mon]}" if day == "UN" else f"{year}-{MONTHS[mon]}-{day}"


@pytest.mark.parametrize(("date_format", "complete"), [("DD/MM/YYYY", r"\d\d/\d\d/\d{4}"),
                                                       ("YYYY-MM-DD", r"\d{4}-\d\d-\d\d")])
def test_the_shipped_study_in_another_date_format_gives_the_same_sdtm_and_adam(
        tmp_path: Path, shipped, date_format: str, complete: str) -> None:
    """The shipped export with every date and pdate column rewritten in ``date_format``, and
    raw.yaml saying so: the raw rules, SDTM, ADaM and data issues (but the raw values they
    quote) are those of the shipped study (``shipped``: built from the export as shipped)."""
    specs_dir = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs_dir)
    text = (specs_dir / "raw.yaml").read_text(encoding="utf-8")
    assert text.count("\ndate_format: DD MON YYYY\n") == 1
    (specs_dir / "raw.yaml").write_text(text.replace("\ndate_format: DD MON YYYY\n",
                                                     f"\ndate_format: {date_format}\n"), encoding="utf-8")
    specs = load_specs(specs_dir)
    assert specs.layout.date_format == date_format
    raw = tmp_path / "raw"
    raw.mkdir()
    partial = 0
    for name, form in specs.layout.forms.items():
        frame = pd.read_csv(shipped_study_dir() / f"{name}.csv", dtype=str, keep_default_na=False)
        for column, spec in form.columns.items():
            if spec.type in ("date", "pdate"):
                partial += int(frame[column].str.startswith("UN ").sum())
                frame[column] = [_to_format(v, date_format) for v in frame[column]]
        frame.to_csv(raw / f"{name}.csv", index=False)
    assert partial > 10  # partial dates are converted too
    assert pd.read_csv(raw / "DM.csv", dtype=str)["ICDAT"].str.fullmatch(complete).all()

    export = read_export(raw, specs.layout)
    with issues.collect() as log:
        forms = prepare_forms(export, specs)
        sdtm = build_sdtm(specs, forms)
        adam = build_adam(specs, sdtm)
    for built, expected, datasets in ((sdtm, shipped.sdtm, specs.sdtm), (adam, shipped.adam, specs.adam)):
        assert sorted(built) == sorted(datasets)
        for name, spec in datasets.items():
            names = [v.name for v in spec.variables]
            pd.testing.assert_frame_equal(built[name][names], expected[name][names], obj=name)
    assert len(sdtm["DM"]) == 167 and sdtm["DM"]["BRTHDTC"].str.len().eq(4).any()  # a year only
    found = log.frame()
    assert len(found) == len(shipped.issues) > 100
    pd.testing.assert_frame_equal(found.drop(columns="value"), shipped.issues.drop(columns="value"))


@pytest.mark.parametrize("date_format", sorted(RAW_DATE_FORMATS))
def test_a_date_cell_is_written_as_the_formats_own_example(date_format):
    """An Excel date cell of 3 November 2024 becomes the text of the format's example, which
    the table writes by hand for messages (03 NOV 2024, 11/03/2024, ...)."""
    assert raw_date_text(dt.date(2024, 11, 3), date_format) == \
        RAW_DATE_FORMATS[date_format]["example"]
