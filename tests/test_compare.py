"""itp_adam.checks.compare: PROC COMPARE-style comparison on small hand-built frames and files whose
differences are known by construction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from itp_adam.cli import main
from itp_adam.checks.compare import (DatasetMeta, VarMeta, compare_files, compare_folders,
                              compare_frames, read_dataset)
from itp_adam.checks.validate import run_folder_of
from itp_adam.errors import InputError
from itp_adam.io.xpt import write_xpt

NAN = np.nan


def _base() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["S1", "S1", "S2", "S3"],
        "SEQ": [1.0, 2.0, 1.0, 1.0],
        "AVAL": [10.0, 20.0, NAN, 5.0],
        "FLAG": ["Y", "", "N", "Y"],
        "ADT": pd.to_datetime(["2024-01-01", "2024-01-02", None, "2024-03-01"]),
    })


def test_equal_frames_ignore_row_order_missing_kinds_trailing_blanks_and_int_vs_float():
    base = _base()
    other = base.iloc[::-1].reset_index(drop=True).copy()
    other["SEQ"] = other["SEQ"].astype("int64")
    other["FLAG"] = other["FLAG"].astype(object).replace({"": None, "Y": "Y  "})  # None == ""
    other["ADT"] = [d.date() if pd.notna(d) else None for d in other["ADT"]]  # date objects
    result = compare_frames(base, other, ["USUBJID", "SEQ"])
    assert result.equal, result.text()
    assert (result.n_base, result.n_compare, result.n_both) == (4, 4, 4)
    assert result.summary["n_diff"].tolist() == [0, 0, 0]
    assert "RESULT: dataset EQUAL (4 observations, 3 variables compared)" in result.text()


def test_value_differences_are_counted_and_listed_at_their_keys():
    base = _base()
    other = base.copy()
    other.loc[0, "AVAL"] = 12.5            # S1/1: +2.5
    other.loc[2, "AVAL"] = 7.0             # S2/1: missing in base, 7 in compare
    other.loc[3, "AVAL"] = 4.0             # S3/1: -1
    other.loc[1, "FLAG"] = "N"             # S1/2: "" -> N
    other.loc[3, "ADT"] = pd.Timestamp("2024-02-28")  # S3/1: 2 days earlier
    result = compare_frames(base, other, ["USUBJID", "SEQ"], max_diffs=2)
    assert not result.equal
    summary = result.summary.set_index("variable")
    assert summary.loc["AVAL", "n_diff"] == 3 and summary.loc["AVAL", "max_abs_diff"] == 2.5
    assert summary.loc["FLAG", "n_diff"] == 1 and np.isnan(summary.loc["FLAG", "max_abs_diff"])
    assert summary.loc["ADT", "n_diff"] == 1 and summary.loc["ADT", "type"] == "Date"
    assert result.n_records_unequal == 4  # every record has at least one difference
    aval = result.diffs["AVAL"]  # first 2 of 3, in key order
    assert aval[["USUBJID", "SEQ"]].values.tolist() == [["S1", 1.0], ["S2", 1.0]]
    assert aval["BASE"].iloc[0] == 10.0 and aval["COMPARE"].iloc[0] == 12.5
    assert aval["DIFF"].iloc[0] == 2.5 and np.isnan(aval["DIFF"].iloc[1])
    flag = result.diffs["FLAG"]
    assert flag.values.tolist() == [["S1", 2.0, "", "N"]]
    assert result.diffs["ADT"]["DIFF"].tolist() == [-2.0]
    text = result.text()
    assert "Unequal values of AVAL (Num): 3 record(s); first 2" in text
    assert "Unequal values of ADT (Date): 1 record(s); first 1" in text
    assert "2024-03-01 2024-02-28" in " ".join(text.split())  # dates shown as dates


def test_tolerance_is_absolute_and_inclusive():
    base = pd.DataFrame({"K": [1, 2, 3], "X": [1.0, 1.0, NAN]})
    other = pd.DataFrame({"K": [1, 2, 3], "X": [1.5, 1.0 - 0.25, 0.0]})
    assert list(compare_frames(base, other, ["K"], tolerance=0.5).diffs) == ["X"]
    # |0.5| and |-0.25| are within 0.5; NaN vs 0 is never within any tolerance
    assert compare_frames(base, other, ["K"], tolerance=0.5).diffs["X"]["K"].tolist() == [3]
    assert compare_frames(base, other, ["K"], tolerance=0.25).diffs["X"]["K"].tolist() == [1, 3]
    assert compare_frames(base, other, ["K"]).summary["n_diff"].tolist() == [3]


def test_observations_and_variables_only_on_one_side():
    base = _base()
    other = base[base["USUBJID"] != "S2"].drop(columns=["FLAG"]).copy()
    other = pd.concat([other, pd.DataFrame({"USUBJID": ["S9"], "SEQ": [4.0], "AVAL": [1.0],
                                            "ADT": pd.to_datetime(["2024-05-05"])})])
    other["NEWVAR"] = "x"
    result = compare_frames(base, other, ["USUBJID", "SEQ"])
    assert result.only_base.values.tolist() == [["S2", 1.0]]
    assert result.only_compare.values.tolist() == [["S9", 4.0]]
    assert (result.vars_only_base, result.vars_only_compare) == (["FLAG"], ["NEWVAR"])
    assert result.n_both == 3 and not result.diffs and not result.equal
    text = result.text()
    assert "only in base: 1   only in compare: 1" in text
    assert "only in base: FLAG" in text and "only in compare: NEWVAR" in text
    assert "Observations only in compare: 1; first 1" in text


def test_duplicate_keys_are_bad_input_naming_the_values():
    base = _base()
    other = pd.concat([base, base.iloc[[2]]], ignore_index=True)
    with pytest.raises(InputError) as err:
        compare_frames(base, other, ["USUBJID", "SEQ"], compare_source="qc.csv")
    message = str(err.value)
    assert message.startswith("qc.csv, column USUBJID,SEQ: duplicate key values")
    assert "USUBJID=S2, SEQ=1 (2 records)" in message


@pytest.mark.parametrize("keys, options, column", [
    (["USUBJID", "NOPE"], {}, "NOPE"),
    ([], {}, "--keys"),
    (["USUBJID", "SEQ"], {"tolerance": -1.0}, "--tolerance"),
    (["USUBJID", "SEQ"], {"max_diffs": -1}, "--max-diffs"),
])
def test_bad_options_are_input_errors(keys, options, column):
    with pytest.raises(InputError) as err:
        compare_frames(_base(), _base(), keys, **options)
    assert err.value.column == column


def test_a_key_of_different_types_is_bad_input():
    other = _base().assign(SEQ=["1", "2", "1", "1"])
    with pytest.raises(InputError, match="character on one side and numeric on the other"):
        compare_frames(_base(), other, ["USUBJID", "SEQ"])


def _write(path, frame, labels=None, label="Test data", dates=()):
    labels = labels or {c: f"Label of {c}" for c in frame.columns}
    write_xpt(frame, path, "TEST", label, labels, date_columns=dates)


def test_xpt_metadata_differences_type_label_length_format(tmp_path):
    base = pd.DataFrame({"K": [1.0, 2.0], "NAME": ["AB", "CD"], "CODE": ["1", "2"],
                         "DAY": pd.to_datetime(["2024-01-01", "2024-01-02"]), "N": [1.0, 2.0]})
    other = base.copy()
    other["NAME"] = ["AB", "CDEFG"]          # storage length 2 -> 5, and one value differs
    other["CODE"] = [1.0, 2.0]               # Char -> Num
    other["DAY"] = [23376.0, 23377.0]        # same SAS day numbers (2020-01-01 is 21915,
    #                                          + 366 + 3 * 365), no DATE9. format
    labels = {c: f"Label of {c}" for c in base.columns}
    _write(tmp_path / "base.xpt", base)
    _write(tmp_path / "compare.xpt", other, dict(labels, N="Another label"), label="Other label")
    result = compare_files(tmp_path / "base.xpt", tmp_path / "compare.xpt", ["K"])
    found = {(r["variable"], r["attribute"]): (r["base"], r["compare"])
             for r in result.attributes.to_dict("records")}
    assert found == {
        ("(dataset)", "label"): ("Test data", "Other label"),
        ("NAME", "length"): (2, 5),
        ("CODE", "type"): ("Char", "Num"),
        ("CODE", "length"): (1, 8),
        ("DAY", "format"): ("DATE9", ""),
        ("N", "label"): ("Label of N", "Another label"),
    }
    summary = result.summary.set_index("variable")
    assert summary.loc["CODE", "type"] == "type differs"  # values of different types not compared
    assert summary.loc["DAY", "n_diff"] == 0  # a date equals its SAS day number
    assert summary.loc["NAME", "n_diff"] == 1 and not result.equal
    assert "Attribute differences (type, label, length, format)" in result.text()


def test_same_xpt_file_is_equal_and_metadata_is_read(tmp_path):
    frame = _base()
    _write(tmp_path / "a.xpt", frame, dates=["ADT"])
    data, meta = read_dataset(tmp_path / "a.xpt")
    assert meta.name == "TEST" and meta.label == "Test data"
    assert meta.variables["FLAG"] == VarMeta("Char", "Label of FLAG", 1, "")
    assert meta.variables["ADT"] == VarMeta("Num", "Label of ADT", 8, "DATE9")
    assert compare_files(tmp_path / "a.xpt", tmp_path / "a.xpt", ["USUBJID", "SEQ"]).equal
    # the frame itself against its transport file: equal values and types
    assert compare_frames(frame, data, ["USUBJID", "SEQ"]).equal


def test_meta_given_for_frames_is_compared():
    meta = DatasetMeta(label="A", variables={"X": VarMeta("Num", "Value", 8, "")})
    other = DatasetMeta(label="A", variables={"X": VarMeta("Num", "Value (N)", 8, "")})
    frame = pd.DataFrame({"K": [1], "X": [1.0]})
    result = compare_frames(frame, frame, ["K"], base_meta=meta, compare_meta=other)
    assert result.attributes.values.tolist() == [["X", "label", "Value", "Value (N)"]]


def test_csv_takes_the_types_of_the_other_side(tmp_path):
    frame = _base()
    _write(tmp_path / "a.xpt", frame, dates=["ADT"])
    csv = frame.assign(AVAL=["10.00", "2e1", "", "5"], ADT=["2024-01-01", "2024-01-02", "",
                                                           "2024-03-01"])
    csv.to_csv(tmp_path / "a.csv", index=False)
    result = compare_files(tmp_path / "a.xpt", tmp_path / "a.csv", ["USUBJID", "SEQ"])
    assert result.equal, result.text()
    # a CSV value that is not a number makes the column text: a type difference
    csv.assign(AVAL=["10", "x", "", "5"]).to_csv(tmp_path / "b.csv", index=False)
    result = compare_files(tmp_path / "a.xpt", tmp_path / "b.csv", ["USUBJID", "SEQ"])
    assert result.attributes.values.tolist() == [["AVAL", "type", "Num", "Char"]]
    # two CSV files: numbers compare as numbers when both sides convert
    csv.assign(AVAL=["10", "20", "", "5.0"]).to_csv(tmp_path / "c.csv", index=False)
    assert compare_files(tmp_path / "a.csv", tmp_path / "c.csv", ["USUBJID", "SEQ"]).equal


def _compare_qc(tmp_path, lines: list[str]):
    """``lines`` written as the QC file qc.csv, compared with a.xpt on USUBJID and SEQ."""
    (tmp_path / "qc.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return compare_files(tmp_path / "a.xpt", tmp_path / "qc.csv", ["USUBJID", "SEQ"])


def test_a_csv_written_by_r_has_its_na_missing(tmp_path):
    """A QC dataset written by R's write.csv: a missing value is a bare NA, for a number (AVAL
    of S2), text (FLAG of S1/2) and a date (ADT of S2) alike; it equals production's XPT. A
    quoted "NA" is the text NA: the one difference, at its key. Before, every bare NA was the
    text NA: AVAL was a text column against a number (a type difference) and FLAG differed."""
    _write(tmp_path / "a.xpt", _base(), dates=["ADT"])
    lines = ['"USUBJID","SEQ","AVAL","FLAG","ADT"', '"S1",1,10,"Y","2024-01-01"',
             '"S1",2,20,NA,"2024-01-02"', '"S2",1,NA,"N",NA', '"S3",1,5,"Y","2024-03-01"']
    result = _compare_qc(tmp_path, lines)
    assert result.equal, result.text()
    lines[3] = '"S2",1,NA,"NA",NA'
    result = _compare_qc(tmp_path, lines)
    assert list(result.diffs) == ["FLAG"] and result.attributes.empty
    assert result.diffs["FLAG"][["USUBJID", "SEQ", "BASE", "COMPARE"]].values.tolist() == [
        ["S2", 1.0, "N", "NA"]]


def test_a_csv_written_with_blank_missing_values_keeps_na_as_text(tmp_path):
    """A QC dataset written by SAS's PROC EXPORT or pandas: a missing value is a blank field
    (AVAL and ADT of S2) and a text NA bare (FLAG of S1/2; the pilot's REGION1 is NA, North
    America). It equals production's XPT holding the text NA; its NA was read as a missing
    value (306 false differences in REGION1 for the pilot's ADSL)."""
    base = _base().assign(FLAG=["Y", "NA", "N", "Y"])
    _write(tmp_path / "a.xpt", base, dates=["ADT"])
    lines = ["USUBJID,SEQ,AVAL,FLAG,ADT", "S1,1,10,Y,2024-01-01", "S1,2,20,NA,2024-01-02",
             "S2,1,,N,", "S3,1,5,Y,2024-03-01"]
    result = _compare_qc(tmp_path, lines)
    assert result.equal, result.text()


def test_a_csv_exported_from_sas_has_its_dates_as_sas_writes_them(tmp_path):
    """PROC EXPORT writes a date as its format shows it: DATE9. 01JAN2024, DATETIME20.
    02JAN2024:08:30:00 (any case read). Such a QC dataset compares its dates with production's
    (it had a type difference, Num against Char, for every date); a value that is no date
    (31FEB2024) keeps the column text, a type difference as before."""
    base = _base().assign(ADTM=pd.to_datetime(["2024-01-01T00:00:00", "2024-01-02T08:30:00", None,
                                                "2024-03-01T23:59:59"]))
    write_xpt(base, tmp_path / "a.xpt", "TEST", "Test data", {c: c for c in base.columns},
              date_columns=["ADT"], datetime_columns=["ADTM"])
    lines = ["USUBJID,SEQ,AVAL,FLAG,ADT,ADTM", "S1,1,10,Y,01JAN2024,01JAN2024:00:00:00",
             "S1,2,20,,02jan2024,02JAN2024:08:30:00", "S2,1,,N,,",
             "S3,1,5,Y,1MAR2024,01MAR2024:23:59:59"]
    result = _compare_qc(tmp_path, lines)
    assert result.equal, result.text()
    lines[4] = "S3,1,5,Y,31FEB2024,01MAR2024:23:59:58"
    result = _compare_qc(tmp_path, lines)
    assert result.attributes[["variable", "attribute", "base", "compare"]].values.tolist() == [
        ["ADT", "type", "Num", "Char"]]
    assert list(result.diffs) == ["ADTM"]
    assert result.diffs["ADTM"]["USUBJID"].tolist() == ["S3"]


def test_a_sas_data_set_compares_with_its_metadata(tmp_path):
    """A QC programmer's SAS data set (sas7bdat: tests/data/sas7bdat/qcadsl, written by
    ReadStat's writer) compares as an XPT file does: values, dates (DATE9.), types, labels,
    lengths and formats. Production's file here holds the same data with one label changed
    and SAFFL of subject 005 'Y': one attribute difference and one value."""
    from pathlib import Path

    qc = Path(__file__).parent / "data" / "sas7bdat" / "qcadsl.sas7bdat"
    base = pd.DataFrame({"USUBJID": ["TOY-01-001", "TOY-01-002", "TOY-01-005"],
                         "AGE": [34.0, 70.0, 80.0],
                         "TRTSDT": pd.to_datetime(["2024-01-10", "2024-02-01", None]),
                         "SAFFL": ["Y", "Y", "Y"]})
    labels = {"USUBJID": "Unique Subject Identifier", "AGE": "Age in years",
              "TRTSDT": "Date of First Exposure to Treatment", "SAFFL": "Safety Population Flag"}
    write_xpt(base, tmp_path / "adsl.xpt", "ADSL", "QC Subject-Level Analysis", labels,
              date_columns=["TRTSDT"])
    result = compare_files(tmp_path / "adsl.xpt", qc, ["USUBJID"])
    assert result.attributes[["variable", "attribute", "base", "compare"]].values.tolist() == [
        ["AGE", "label", "Age in years", "Age"]]
    assert list(result.diffs) == ["SAFFL"]
    assert result.diffs["SAFFL"][["USUBJID", "BASE", "COMPARE"]].values.tolist() == [
        ["TOY-01-005", "Y", "N"]]


def test_a_transport_library_of_several_datasets_is_bad_input(tmp_path, capsys):
    """A QC file holding two datasets (a SAS transport library): exit 2 naming both, not a
    comparison with the second one's headers and records read as records of the first."""
    _write(tmp_path / "a.xpt", _base(), dates=["ADT"])
    other = pd.DataFrame({"USUBJID": ["S9"], "SEQ": [1.0]})
    write_xpt(other, tmp_path / "b.xpt", "OTHER", "Other", {"USUBJID": "U", "SEQ": "S"})
    (tmp_path / "qc.xpt").write_bytes((tmp_path / "a.xpt").read_bytes()
                                      + (tmp_path / "b.xpt").read_bytes()[3 * 80:])
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "qc.xpt"),
                 "--keys", "USUBJID,SEQ"]) == 2
    assert capsys.readouterr().err.startswith(
        f"itp-adam: error: {tmp_path / 'qc.xpt'}: the file holds 2 datasets (TEST, OTHER): a SAS "
        "transport library; expected one dataset per transport file")


def test_variable_names_match_in_any_case_as_in_sas(tmp_path, capsys):
    """A QC dataset written by R or Python with lower-case names (usubjid, aval) compares with
    production's upper-case XPT, with keys named in any case: SAS names are case-insensitive
    (the key USUBJID was not found in it before). The one different value is found at its key; two names of one file that
    differ only in case are bad input."""
    frame = _base()
    _write(tmp_path / "a.xpt", frame, dates=["ADT"])
    qc = frame.assign(AVAL=[10.0, 20.0, NAN, 6.0]).rename(columns=str.lower)
    qc.to_parquet(tmp_path / "qc.parquet")
    qc.assign(adt=["2024-01-01", "2024-01-02", "", "2024-03-01"]).to_csv(tmp_path / "qc.csv",
                                                                          index=False)
    for path, keys in ((tmp_path / "qc.parquet", ["USUBJID", "SEQ"]),
                       (tmp_path / "qc.csv", ["usubjid", "Seq"])):  # --keys in any case too
        result = compare_files(tmp_path / "a.xpt", path, keys)
        assert list(result.diffs) == ["AVAL"] and not result.vars_only_compare
        assert result.diffs["AVAL"][["USUBJID", "SEQ", "BASE", "COMPARE"]].values.tolist() == [
            ["S3", 1.0, 5.0, 6.0]]
    qc.assign(AVAL=qc["aval"]).to_parquet(tmp_path / "both.parquet")
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "both.parquet"),
                 "--keys", "USUBJID,SEQ"]) == 2
    assert capsys.readouterr().err == (
        f"itp-adam: error: {tmp_path / 'both.parquet'}, column AVAL: two variables whose names "
        "differ only in case: aval and AVAL; expected one variable per name (SAS names are "
        "case-insensitive)\n")


def test_parquet_is_read_with_its_types(tmp_path):
    _base().to_parquet(tmp_path / "a.parquet")
    other = _base()
    other.loc[3, "AVAL"] = 6.0
    result = compare_frames(*[read_dataset(tmp_path / "a.parquet")[0], other], ["USUBJID", "SEQ"])
    assert result.diffs["AVAL"]["DIFF"].tolist() == [1.0]


def test_folders_match_datasets_by_name_and_list_the_unmatched(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    _write(tmp_path / "b" / "ds1.xpt", _base())
    _base().to_csv(tmp_path / "c" / "DS1.csv", index=False)
    _write(tmp_path / "b" / "only.xpt", _base())
    _base().to_parquet(tmp_path / "c" / "extra.parquet")
    (tmp_path / "c" / "notes.txt").write_text("not a dataset")
    result = compare_folders(tmp_path / "b", tmp_path / "c", ["USUBJID", "SEQ"])
    assert [c.name for c in result.comparisons] == ["TEST"]
    assert result.comparisons[0].equal, result.comparisons[0].text()
    assert (result.only_base, result.only_compare) == (["only.xpt"], ["extra.parquet"])
    assert not result.equal
    assert "datasets only in base: only.xpt" in result.text()


def test_a_name_twice_in_a_csv_header_is_bad_input(tmp_path, capsys):
    """A CSV file whose header names AVAL twice: which one is the variable is unknown, so
    exit 2 naming the file and the variable (a traceback, AttributeError, before)."""
    _write(tmp_path / "a.xpt", _base(), dates=["ADT"])
    (tmp_path / "qc.csv").write_text("USUBJID,SEQ,AVAL,AVAL\nS1,1,10,10\n", encoding="utf-8")
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "qc.csv"),
                 "--keys", "USUBJID,SEQ"]) == 2
    assert capsys.readouterr().err == (
        f"itp-adam: error: {tmp_path / 'qc.csv'}, column AVAL: two variables named AVAL; "
        "expected one variable per name (SAS names are case-insensitive)\n")


def test_a_runs_trace_is_not_a_dataset_of_its_sdtm_folder(tmp_path, capsys):
    """``compare OUT/sdtm qc/`` with a QC folder of datasets only: the run's sdtm/trace.csv
    (beside OUT/run.json) is the records' trace, not a dataset, so it is named as not compared
    and the folders are equal (exit 0); it made them NOT EQUAL, 'only in base: trace.csv'. In a
    folder that is not a run's, a trace.csv is a dataset like any CSV file."""
    sdtm, qc = tmp_path / "out" / "sdtm", tmp_path / "qc"
    sdtm.mkdir(parents=True)
    qc.mkdir()
    _write(sdtm / "ds1.xpt", _base())
    pd.DataFrame({"DOMAIN": ["DS1"], "USUBJID": ["S1"], "SEQ": [1], "FORM": ["X"],
                  "ROW": [2]}).to_csv(sdtm / "trace.csv", index=False)
    _base().to_csv(qc / "DS1.csv", index=False)
    (tmp_path / "out" / "run.json").write_text("{}")
    result = compare_folders(sdtm, qc, ["USUBJID", "SEQ"])
    assert result.equal, result.text()
    assert result.not_datasets == [str(sdtm / "trace.csv")] and result.only_base == []
    assert f"  not datasets, not compared: {sdtm / 'trace.csv'}\n" in result.text()
    assert main(["compare", str(sdtm), str(qc), "--keys", "USUBJID,SEQ"]) == 0
    capsys.readouterr()
    (tmp_path / "out" / "run.json").unlink()  # not a run's folder: trace.csv is a dataset
    result = compare_folders(sdtm, qc, ["USUBJID", "SEQ"])
    assert (result.only_base, result.not_datasets, result.equal) == (["trace.csv"], [], False)


def test_cli_exit_status_0_equal_1_different_2_bad_input(tmp_path, capsys):
    _write(tmp_path / "a.xpt", _base())
    other = _base()
    other.loc[0, "FLAG"] = "N"
    _write(tmp_path / "b.xpt", other)
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "a.xpt"),
                 "--keys", "USUBJID,SEQ"]) == 0
    assert "RESULT: TEST EQUAL" in capsys.readouterr().out
    report = tmp_path / "report.txt"
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "b.xpt"), "--keys", "USUBJID",
                 "SEQ", "--max-diffs", "1", "--report", str(report)]) == 1
    printed = capsys.readouterr().out
    assert "Unequal values of FLAG (Char): 1 record(s); first 1" in printed
    assert report.read_text() == printed
    # an earlier report is replaced; a file of the user's is not, and it is said before comparing
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "a.xpt"), "--keys", "USUBJID,SEQ",
                 "--report", str(report)]) == 0
    assert report.read_text() == capsys.readouterr().out and "RESULT: TEST EQUAL" in report.read_text()
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "a.xpt"), "--keys", "USUBJID,SEQ",
                 "--report", str(mine)]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err == (
        f"itp-adam: error: {mine}: exists and was not written by itp-adam compare; not replaced; "
        "expected a new file name, or an earlier report of itp-adam compare\n")
    assert mine.read_text() == "my notes\n"
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "missing.xpt"),
                 "--keys", "USUBJID"]) == 2
    assert "missing.xpt: no such file or folder" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "b.xpt"),
                 "--keys", "USUBJID,VISIT"]) == 2
    assert "column VISIT: key variable not in the dataset" in capsys.readouterr().err
    (tmp_path / "bad.xpt").write_text("not a transport file")
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "bad.xpt"),
                 "--keys", "USUBJID"]) == 2
    assert "bad.xpt: cannot be read as a SAS transport file" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path), "--keys", "USUBJID"]) == 2
    assert "is a folder but the other argument is a file" in capsys.readouterr().err


def test_without_keys_or_spec_records_match_by_observation_number(tmp_path, capsys):
    _write(tmp_path / "a.xpt", _base())
    other = _base().iloc[[1, 0, 2, 3]].reset_index(drop=True)  # first two records swapped
    _write(tmp_path / "b.xpt", other.iloc[:3])
    assert main(["compare", str(tmp_path / "a.xpt"), str(tmp_path / "b.xpt")]) == 1
    printed = capsys.readouterr().out
    assert "keys:    _OBS_ (observation number" in printed
    result = compare_files(tmp_path / "a.xpt", tmp_path / "b.xpt")
    assert result.only_base.values.tolist() == [[4.0]]
    assert result.diffs["SEQ"][["_OBS_", "BASE", "COMPARE"]].values.tolist() == [[1, 1, 2], [2, 2, 1]]


def test_cli_default_keys_come_from_the_dataset_spec(tmp_path, capsys):
    adsl = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["S-1", "S-2"], "AGE": [40.0, 50.0]})
    write_xpt(adsl, tmp_path / "adsl.xpt", "ADSL", "Subject-Level Analysis Dataset",
              {"STUDYID": "Study", "USUBJID": "Subject", "AGE": "Age"})
    assert main(["compare", str(tmp_path / "adsl.xpt"), str(tmp_path / "adsl.xpt")]) == 0
    assert "keys:    STUDYID USUBJID" in capsys.readouterr().out


def test_cli_keys_of_a_runs_dataset_come_from_the_specs_that_made_it(pilot_out, capsys):
    """The pilot's ADAE without --keys or --study: the pilot's keys, as its adae.yaml writes
    them (USUBJID AESEQ), not the default study's (STUDYID USUBJID AESEQ; for ADLB they name
    SRCSEQ, which the pilot has not, and the comparison stopped with exit 2). A folder of a
    run's datasets (``OUT/adam``) belongs to its run folder too."""
    adae = pilot_out / "adam" / "adae.xpt"
    assert main(["compare", str(adae), str(adae)]) == 0
    assert "keys:    USUBJID AESEQ\n" in capsys.readouterr().out
    assert run_folder_of(pilot_out / "adam") == run_folder_of(adae) == pilot_out.absolute()
    assert run_folder_of(pilot_out.parent) is None


def test_dates_before_1960_and_datetimes_compare(tmp_path):
    base = pd.DataFrame({"K": [1, 2], "D": pd.to_datetime(["1950-06-01", "2024-01-01"])})
    other = pd.DataFrame({"K": [1, 2], "D": [dt.date(1950, 6, 1), dt.date(2024, 1, 3)]})
    result = compare_frames(base, other, ["K"])
    assert result.diffs["D"][["K", "DIFF"]].values.tolist() == [[2, 2.0]]
