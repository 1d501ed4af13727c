"""The vectorised XPT v5 reader (``io/xpt_read.py``): against pyreadstat, an independent reader,
and against values worked out by hand. The files are built byte by byte here (``xpt_bytes``,
from TS-140's layout), not by the package's writer, so that every kind of record can be made:
short numbers, special missing values, blank records, NUL bytes, bytes that are not UTF-8."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from itp_adam.errors import InputErrors
from itp_adam.io.sdtm import read_sdtm
from itp_adam.io.xpt_read import XptFormatError, XptRecords
from itp_adam.paths import shipped_input, study_dir

_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")


def xpt_bytes(variables: list[tuple], records: bytes, name: str = "T", label: str = "A label") -> bytes:
    """An XPT v5 file: ``variables`` as (name, "Num" or "Char", length, label, format, width,
    decimals), ``records`` the observations' bytes (blank-padded here to 80-byte records)."""

    def record(text: str) -> bytes:
        return text.ljust(80).encode("ascii")

    def header(kind: str, *numbers: int) -> bytes:
        return record(f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!"
                      + "".join(f"{n:05d}" for n in (numbers + (0,) * 6)[:6]))

    stamp = "01JAN26:00:00:00"
    namestrs, position = bytearray(), 0
    for number, (var, kind, length, var_label, form, width, decimals) in enumerate(variables, 1):
        namestrs += _NAMESTR.pack(1 if kind == "Num" else 2, 0, length, number,
                                  var.ljust(8).encode(), var_label.ljust(40).encode(),
                                  form.ljust(8).encode(), width, decimals, 0, b"", b" " * 8, 0, 0,
                                  position, b"")
        position += length
    return b"".join([
        header("LIBRARY"), record(f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{'9.4':<8}{'X64':<8}{'':<24}{stamp}"),
        record(stamp), header("MEMBER", 0, 0, 0, 160, 0, 140), header("DSCRPTR"),
        record(f"{'SAS':<8}{name:<8}{'SASDATA':<8}{'9.4':<8}{'X64':<8}{'':<24}{stamp}"),
        record(f"{stamp}{'':16}{label:<40}{'':8}"), header("NAMESTR", 0, len(variables)),
        bytes(namestrs) + b" " * (-len(namestrs) % 80), header("OBS"),
        records + b" " * (-len(records) % 80)])


def ours(path: Path) -> dict[str, list]:
    records = XptRecords(path)
    try:
        return {name: values.tolist() if isinstance(values, np.ndarray) else values.to_pylist()
                for name, values in records.columns().items()}
    finally:
        records.close()


def theirs(path: Path) -> dict[str, list]:
    frame, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    return {name: [v.rstrip() for v in frame[name].fillna("").astype(str)]
            if meta.readstat_variable_types[name] == "string" else frame[name].astype(float).tolist()
            for name in frame.columns}


def same(a: dict[str, list], b: dict[str, list]) -> bool:
    """Equal column by column, NaN equal to NaN."""
    return a.keys() == b.keys() and all(
        pd.Series(a[k], dtype=object).equals(pd.Series(b[k], dtype=object))
        or np.array_equal(np.asarray(a[k], float), np.asarray(b[k], float), equal_nan=True)
        for k in a)


def test_the_pilot_files_are_read_as_pyreadstat_reads_them(tmp_path):
    with zipfile.ZipFile(shipped_input(study_dir("cdiscpilot01"), "sdtm")) as zf:
        zf.extractall(tmp_path)
    files = sorted(tmp_path.rglob("*.xpt"))
    assert len(files) == 10
    for path in files:
        records = XptRecords(path)
        _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
        assert records.name == meta.table_name and records.label == meta.file_label
        assert [v.name for v in records.variables] == meta.column_names
        assert [v.label for v in records.variables] == [meta.column_names_to_labels[n] or ""
                                                        for n in meta.column_names]
        assert {v.name: v.length for v in records.variables} == meta.variable_storage_width
        assert {v.name: v.type for v in records.variables} == {
            n: "Char" if t == "string" else "Num" for n, t in meta.readstat_variable_types.items()}
        records.close()
        mine, other = ours(path), theirs(path)
        assert len(next(iter(mine.values()))) > 0
        assert same(mine, other), path.name


# Values worked out by hand. IBM 370 double: sign bit, 7-bit exponent excess 64 (base 16),
# 56-bit fraction: 0x41 10 00.. = +0.0625 * 16 = 1.0; 0x42 64 .. = 0x64/256 * 256 = 100.0;
# 0xC1 18 .. = -(0x18/256) * 16 = -1.5; 0x40 80 .. = 0.5; 0x41 08 .. (not normalised) =
# 8/256 * 16 = 0.5; zero is all zeros; a missing value is ".", "A"-"Z" or "_", then zeros.
NUMBERS = [("41 10", 1.0), ("42 64", 100.0), ("C1 18", -1.5), ("40 80", 0.5), ("00", 0.0),
           ("2E", np.nan), ("41", np.nan), ("5A", np.nan), ("5F", np.nan), ("41 08", 0.5)]


@pytest.mark.parametrize("length", [8, 5, 3])
def test_numbers_by_hand(tmp_path, length):
    records = b"".join(bytes.fromhex(hexa).ljust(length, b"\0") for hexa, _ in NUMBERS)
    path = tmp_path / "n.xpt"
    path.write_bytes(xpt_bytes([("N", "Num", length, "n", "", 0, 0)], records))
    expected = [value for _, value in NUMBERS]
    assert np.array_equal(ours(path)["N"], expected, equal_nan=True)
    # pyreadstat reads the same, but for the unnormalised number (SAS never writes one)
    assert np.array_equal(theirs(path)["N"][:-1], expected[:-1], equal_nan=True)


@pytest.mark.parametrize("length", [8, 5, 3])
def test_random_numbers_as_pyreadstat_reads_them(tmp_path, length):
    # normalised IBM numbers of every exponent and fraction, 56 fraction bits cut to IEEE's 53
    rng = np.random.default_rng(length)
    raw = rng.integers(0, 256, size=(5000, length), dtype=np.uint8)
    raw[:, 1] |= np.where(raw[:, 1] >> 4 == 0, 0x10, 0).astype(np.uint8)  # first hex digit > 0
    path = tmp_path / "r.xpt"
    path.write_bytes(xpt_bytes([("N", "Num", length, "n", "", 0, 0)], raw.tobytes()))
    mine = np.asarray(ours(path)["N"])
    assert np.isfinite(mine).all()  # a normalised fraction is never zero: no missing value
    assert np.array_equal(mine, np.asarray(theirs(path)["N"]))


CHAR = [("A", "Char", 6, "a", "$", 6, 0)]


@pytest.mark.parametrize("records, expected", [
    (b"ab    " + b"  lead" + b"      ", ["ab", "  lead"]),  # trailing blank record: padding
    (b"      " + b"x     ", ["", "x"]),  # a blank record before another: a record
    (b"ab\0\0  " + b"cd  \0 ", ["ab", "cd"]),  # a NUL byte ends a value
    (b"      ", []),  # one blank record within the last 80 bytes: padding
    (b"", []),  # no records
    ("d\u00e9j\u00e0".encode().ljust(6), ["d\u00e9j\u00e0"]),  # UTF-8 text
])
def test_text_and_record_counts_by_hand(tmp_path, records, expected):
    path = tmp_path / "c.xpt"
    path.write_bytes(xpt_bytes(CHAR, records))
    assert ours(path) == {"A": expected}
    assert theirs(path) == {"A": expected}


def test_a_blank_record_longer_than_80_bytes_is_a_record(tmp_path):
    # padding is shorter than 80 bytes, so a blank record of 100 bytes is a record (pyreadstat
    # 1.3.8 reads it so; 1.3.6 drops every trailing blank record)
    path = tmp_path / "c.xpt"
    path.write_bytes(xpt_bytes([("A", "Char", 100, "a", "", 0, 0)], b"x".ljust(100) + b" " * 100))
    assert ours(path) == {"A": ["x", ""]}


def test_stretches_put_together_are_the_whole(tmp_path):
    rng = np.random.default_rng(7)
    text = [rng.choice(list(b"AB C"), size=5).astype(np.uint8).tobytes() for _ in range(997)]
    numbers = np.round(rng.normal(size=997), 3)
    from itp_adam.io.xpt import ibm_doubles

    ibm = ibm_doubles(numbers).astype(">u8")  # the package's writer's conversion
    raw = b"".join(t + ibm[k:k + 1].tobytes() for k, t in enumerate(text))
    path = tmp_path / "s.xpt"
    path.write_bytes(xpt_bytes([("T", "Char", 5, "t", "", 0, 0), ("V", "Num", 8, "v", "", 0, 0)], raw))
    records = XptRecords(path)
    whole = records.columns()
    cuts = [0, 1, 250, 251, 700, 997]
    parts = [records.columns(a, b) for a, b in zip(cuts, cuts[1:])]
    assert sum(len(p["V"]) for p in parts) == 997
    assert np.array_equal(np.concatenate([p["V"] for p in parts]), whole["V"])
    assert sum((p["T"].to_pylist() for p in parts), []) == whole["T"].to_pylist()
    assert np.array_equal(whole["V"], numbers)  # IEEE -> IBM -> IEEE is exact
    assert whole["T"].to_pylist() == [t.decode().rstrip(" ") for t in text]
    records.close()


def test_metadata_by_hand(tmp_path):
    path = tmp_path / "m.xpt"
    path.write_bytes(xpt_bytes([("AESTDT", "Num", 8, "Start Date", "DATE", 9, 0),
                                ("AVAL", "Num", 8, "Analysis Value", "BEST", 8, 2),
                                ("AETERM", "Char", 4, "Reported Term", "", 0, 0)],
                               bytes(16) + b"x   ", name="ADAE", label="Adverse Events"))
    records = XptRecords(path)
    assert (records.name, records.label, records.rows) == ("ADAE", "Adverse Events", 1)
    assert [(v.name, v.type, v.length, v.position, v.label, v.format) for v in records.variables] == [
        ("AESTDT", "Num", 8, 0, "Start Date", "DATE9."),
        ("AVAL", "Num", 8, 8, "Analysis Value", "BEST8.2"),
        ("AETERM", "Char", 4, 16, "Reported Term", "")]
    records.close()


def _folder(tmp_path: Path, ae_records: bytes) -> Path:
    folder = tmp_path / "sdtm"
    folder.mkdir()
    variables = [("STUDYID", "Char", 4, "Study", "", 0, 0), ("USUBJID", "Char", 6, "Subject", "", 0, 0),
                 ("AETERM", "Char", 6, "Term", "", 0, 0)]
    (folder / "ae.xpt").write_bytes(xpt_bytes(variables, ae_records, name="AE"))
    return folder


def test_bytes_that_are_not_utf8_are_named(tmp_path):
    folder = _folder(tmp_path, b"ST01S1    HEAD  " + b"ST01S2    caf\xe9  ")
    with pytest.raises(InputErrors) as found:
        read_sdtm(folder, ["AE"])
    message = str(found.value.errors[0])
    assert str(folder / "ae.xpt") in message
    assert "record 2, variable AETERM: b'caf\\xe9' is not UTF-8 text" in message


def test_version_8_is_read_by_pyreadstat(tmp_path):
    folder = tmp_path / "sdtm"
    folder.mkdir()
    frame = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["1", "2"], "AESEQ": [1.0, np.nan]})
    pyreadstat.write_xport(frame, str(folder / "ae.xpt"), file_format_version=8)
    with pytest.raises(XptFormatError):
        XptRecords(folder / "ae.xpt")
    ae = read_sdtm(folder, ["AE"]).datasets["AE"]
    assert ae["USUBJID"].tolist() == ["1", "2"]
    assert np.array_equal(ae["AESEQ"], [1.0, np.nan], equal_nan=True)
