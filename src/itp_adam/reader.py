"""Read the sites' raw export, a CSV folder or one Excel workbook, into checked frames.

Every form of ``specs/raw.yaml`` must be there, once, with every required column (any order,
names matched ignoring case and surrounding blanks); otherwise the read stops with an
:class:`InputError` naming the file or sheet and the column. The checks, in the order they
run (``docs/bad-input.md`` lists every case and its test):

* the file: readable, not empty, UTF-8 (a leading byte-order mark is dropped), comma
  separated, every row with as many fields as the header (a truncated file or a stray comma
  stops the read at its row);
* the header: no column named twice; a column without a name must be blank in every row;
* every value of a layout column: printable ASCII text of at most 200 characters (what a SAS
  transport v5 file can hold; a byte-order mark inside the data is removed and noted);
* its type: integer -> ``Int64``, number -> ``Float64`` (finite, 0 or between 1e-15 and
  1e15 in size); dates and times stay text (as collected; the SDTM mapping turns them into
  ISO 8601) but must be well formed: ``DD MON YYYY`` in complete-date columns, with
  ``UN``/``UNK`` parts allowed in partial-date columns, ``HH:MM`` in time columns.

The first bad value stops the read with its file, row, column, value and what was expected.
Each frame gets ``_ROW``, the row number in the file or sheet (the header is row 1), which
every SDTM record keeps as its link to the raw data. Structural findings that lose nothing
(extra files, sheets or columns, removed byte-order marks) are kept in ``RawExport.notes``
and reported to ``data-issues.csv`` by the SDTM stage.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .dates import raw_date_to_iso
from .errors import InputError
from .layout import RawLayout

ROW = "_ROW"
BOM = "\ufeff"
MAX_TEXT = 200  # SAS transport v5: at most 200 bytes per character value
NUMBER_RANGE = (1e-15, 1e15)  # non-zero numbers a form collects, safely inside the XPT range


@dataclass
class RawExport:
    """The checked forms of one export, with where they came from."""

    source: Path
    kind: str  # "csv" or "xlsx"
    forms: dict[str, pd.DataFrame]
    files: dict[str, Path]
    notes: list[dict] = field(default_factory=list)  # structural findings (extra columns, sheets)

    def checksums(self) -> dict[str, str]:
        """SHA-256 of each input file (one workbook counts once)."""
        return {str(p): sha256_file(p) for p in sorted(set(self.files.values()))}


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_export(path: Path, layout: RawLayout) -> RawExport:
    """Read a CSV folder or one ``.xlsx`` workbook and check it against the layout."""
    path = Path(path)
    if path.is_dir():
        raw, files, notes = _read_csv_folder(path, layout)
        kind = "csv"
    elif path.is_file() and path.suffix.lower() == ".xlsx":
        raw, files, notes = _read_workbook(path, layout)
        kind = "xlsx"
    elif path.exists():
        raise InputError("not a raw export", file=str(path),
                         expected="a folder of form CSV files or one .xlsx workbook")
    else:
        raise InputError("raw export not found", file=str(path),
                         expected="an existing folder of form CSV files or an .xlsx workbook")
    forms = {}
    for name, df in raw.items():
        where = str(files[name]) + ("" if kind == "csv" else f" [sheet {name}]")
        forms[name] = _check_form(df, name, layout, where, notes)
    return RawExport(path, kind, forms, files, notes)


# --------------------------------------------------------------------------------------------
# CSV folder


def _read_csv_folder(folder: Path, layout: RawLayout):
    try:
        entries = [p for p in folder.iterdir() if p.suffix.lower() == ".csv"]
    except OSError as exc:
        raise InputError(f"cannot list the folder ({exc.strerror})", file=str(folder),
                         expected="a readable folder of form CSV files") from exc
    present: dict[str, list[Path]] = {}
    for p in sorted(entries):
        present.setdefault(p.name.upper(), []).append(p)
    raw, files, notes = {}, {}, []
    expected = f"one CSV file per form: {', '.join(f + '.csv' for f in layout.forms)}"
    for name in layout.forms:
        found = [p for p in present.get(f"{name}.CSV", []) if p.is_file()]
        if not found:
            raise InputError(f"form {name} is missing from the export", file=str(folder / f"{name}.csv"),
                             expected=expected)
        if len(found) > 1:
            raise InputError(f"form {name} has {len(found)} files ({', '.join(p.name for p in found)}) "
                             "whose names differ only in case", file=str(folder), expected=expected)
        raw[name], found_notes = _read_csv(found[0], name)
        files[name] = found[0]
        notes += found_notes
    known = {f"{n}.CSV" for n in layout.forms}
    for extra in sorted(set(present) - known):
        for p in present[extra]:
            notes.append({"form": p.name, "rule": "file not in the layout: ignored", "severity": "NOTE",
                          "value": str(p)})
    return raw, files, notes


def _read_csv(path: Path, form: str) -> tuple[pd.DataFrame, list[dict]]:
    """One form CSV as text columns named as in its header (every field kept as written)."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", file=where,
                         expected="a readable CSV file") from exc
    notes = []
    bom = BOM.encode("utf-8")
    marks = 0
    while data.startswith(bom, marks * len(bom)):
        marks += 1
    skipped = marks * len(bom)
    data = data[skipped:]
    if marks > 1:  # one mark is how some programs write UTF-8; more are an artefact
        notes.append({"form": form, "row": 1, "rule": f"{marks} byte-order marks at the start of "
                      "the file: removed", "severity": "NOTE"})
    if not data.strip():
        raise InputError("the file is empty", file=where, expected="a header row naming the columns")
    first = re.match(rb"[^\r\n]*", data).group(0)
    try:
        header_text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, exc, where, skipped) from exc
    header = next(csv.reader([header_text]))
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise InputError("the header is one column: the file is not comma-separated", file=where, row=1,
                         value=header_text[:80], expected="comma-separated columns")
    names = [f"c{i}" for i in range(len(header))]
    if not data[len(first):].strip(b"\r\n"):  # a header and no rows
        return pd.DataFrame({name: pd.Series(dtype="str") for name in names}).set_axis(header, axis=1), notes
    bad_rows: list = []

    def on_bad_row(row) -> str:
        bad_rows.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_bad_row),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        if bad_rows:
            row = bad_rows[0]
            raise InputError(
                f"the row has {row.actual_columns} fields, the header {row.expected_columns} "
                "(a truncated file, an unclosed quote or an unquoted comma)", file=where,
                row=row.number if row.number and row.number > 0 else None,
                value=row.text[:80], expected=f"{row.expected_columns} comma-separated fields") from exc
        try:  # the usual other cause; decoding shows where
            data.decode("utf-8")
        except UnicodeDecodeError as decode_exc:
            raise _not_utf8(data, decode_exc, where, skipped) from exc
        raise InputError(f"not a well-formed CSV file ({exc})", file=where) from exc
    frame = table.to_pandas()
    frame.columns = header
    return frame, notes


def _not_utf8(data: bytes, exc: UnicodeDecodeError, where: str, skipped: int) -> InputError:
    """The first byte that is not UTF-8, by its row and its offset in the file."""
    row = data.count(b"\n", 0, exc.start) + 1
    return InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02X} at offset {exc.start + skipped})",
                      file=where, row=row, expected="a UTF-8 CSV file")


# --------------------------------------------------------------------------------------------
# workbook


def _read_workbook(path: Path, layout: RawLayout):
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a broken file
        raise InputError(f"cannot open the workbook ({exc.__class__.__name__})", file=str(path),
                         expected="an .xlsx workbook with one sheet per form") from exc
    try:
        sheets: dict[str, list[str]] = {}
        for name in wb.sheetnames:
            sheets.setdefault(name.strip().upper(), []).append(name)
        raw, files, notes = {}, {}, []
        for form in layout.forms:
            found = sheets.get(form, [])
            if not found:
                raise InputError(f"sheet {form} is missing from the workbook", file=str(path),
                                 expected=f"one sheet per form: {', '.join(layout.forms)}")
            if len(found) > 1:
                raise InputError(f"form {form} has {len(found)} sheets ({', '.join(found)})", file=str(path),
                                 expected=f"one sheet per form: {', '.join(layout.forms)}")
            rows = list(wb[found[0]].iter_rows(values_only=True))
            if not rows or all(v is None for v in rows[0]):
                raise InputError("the sheet is empty", file=f"{path} [sheet {found[0]}]",
                                 expected="a header row naming the columns")
            width = max(len(r) for r in rows)
            header = [("" if v is None else str(v)) for v in rows[0]] + [""] * (width - len(rows[0]))
            # one pass over the cells is how openpyxl hands them out
            body = [[_cell_text(v) for v in r] + [""] * (width - len(r)) for r in rows[1:]]
            raw[form] = pd.DataFrame(body, columns=header, dtype="str")
            files[form] = path
        for extra in sorted(set(sheets) - set(layout.forms)):
            for name in sheets[extra]:
                notes.append({"form": name, "rule": "sheet not in the layout: ignored", "severity": "NOTE",
                              "value": str(path)})
    finally:
        wb.close()
    return raw, files, notes


def _cell_text(v) -> str:
    """A cell as the text the capture system wrote (numbers typed in Excel lose '.0')."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# --------------------------------------------------------------------------------------------
# checks of one form


_EXPECT = {
    "integer": "a whole number",
    "number": "a number",
    "date": "a complete date DD MON YYYY, e.g. 03 NOV 2024",
    "pdate": "a date DD MON YYYY, UN MON YYYY, UN UNK YYYY or blank",
    "time": "a time HH:MM (24 h) or blank",
}
_TEXT = r"[\x20-\x7e]*"  # printable ASCII


def _check_form(df: pd.DataFrame, name: str, layout: RawLayout, where: str, notes: list) -> pd.DataFrame:
    spec = layout.forms[name]
    header = [str(c).replace(BOM, "").strip().upper() for c in df.columns]
    df = df.set_axis(range(len(header)), axis=1)
    unnamed = [i for i, c in enumerate(header) if c == ""]
    for i in unnamed:
        text = df[i].astype("str").str.strip()
        if text.ne("").any():
            row = int(np.flatnonzero(text.ne("").to_numpy())[0])
            raise InputError("value in a column without a header name", file=where, row=row + 2,
                             column=f"#{i + 1}", value=text.iloc[row], expected="a name in the header row")
    named = [i for i in range(len(header)) if header[i] != ""]
    if unnamed:
        notes.append({"form": name, "column": "", "rule": f"{len(unnamed)} blank column(s) without a "
                      "header name: ignored", "severity": "NOTE"})
    names = [header[i] for i in named]
    seen = pd.Index(names)
    if seen.duplicated().any():
        raise InputError("column appears twice", file=where, column=str(seen[seen.duplicated()][0]))
    df = df[named].set_axis(names, axis=1)
    for col, cs in spec.columns.items():
        if col not in df.columns:
            if cs.required:
                raise InputError(f"required column {col} is missing", file=where, column=col,
                                 expected=f"columns {', '.join(spec.columns)}")
            df[col] = ""
    for extra in [c for c in df.columns if c not in spec.columns]:
        notes.append({"form": name, "column": extra, "rule": "column not in the layout: ignored",
                      "severity": "NOTE"})
    out = pd.DataFrame({ROW: np.arange(2, len(df) + 2, dtype="int64")})
    for col, cs in spec.columns.items():
        text = _clean_text(df[col], name, col, where, notes)
        out[col] = _convert(text, cs.type, where, col, cs.min)
    return out


def _clean_text(values: pd.Series, form: str, col: str, where: str, notes: list) -> pd.Series:
    """Stripped text, byte-order marks removed (noted); non-printable, non-ASCII or over-long
    values stop the read."""
    text = pd.Series(values.astype("str").to_numpy(), dtype="str")
    marked = text.str.contains(BOM, regex=False).to_numpy(dtype=bool)
    if marked.any():
        text = text.str.replace(BOM, "", regex=False)
        notes.append({"form": form, "column": col, "row": int(np.flatnonzero(marked)[0]) + 2,
                      "rule": f"byte-order mark inside {int(marked.sum())} value(s): removed",
                      "severity": "NOTE"})
    text = text.str.strip()
    bad = ~text.str.fullmatch(_TEXT).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        char = next(c for c in text.iloc[i] if not ("\x20" <= c <= "\x7e"))
        kind = "a control character" if ord(char) < 0x20 or ord(char) == 0x7f else "a non-ASCII character"
        raise InputError(f"{kind} U+{ord(char):04X} in the value", file=where, row=i + 2, column=col,
                         value=text.iloc[i][:80],
                         expected="printable ASCII text (SAS transport v5 files hold ASCII only)")
    long = (text.str.len() > MAX_TEXT).to_numpy(dtype=bool)
    if long.any():
        i = int(np.flatnonzero(long)[0])
        raise InputError(f"value of {len(text.iloc[i])} characters", file=where, row=i + 2, column=col,
                         value=text.iloc[i][:40] + "...",
                         expected=f"at most {MAX_TEXT} characters (the SAS transport v5 limit)")
    return text


def _convert(text: pd.Series, ctype: str, where: str, col: str, minimum: float | None = None) -> pd.Series:
    blank = text == ""
    if ctype == "text":
        return text
    if ctype in ("integer", "number"):
        num = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
        size = np.abs(num.to_numpy(dtype="float64", na_value=np.nan))
        given = ~blank.to_numpy(dtype=bool)
        bad = given & np.isnan(size)
        if ctype == "integer":
            bad |= given & ~bad & (np.nan_to_num(size) % 1 != 0)
        _raise_first(bad, text, where, col, _EXPECT[ctype])
        low, high = NUMBER_RANGE
        size = np.nan_to_num(size)
        _raise_first(given & (size != 0) & ((size < low) | (size >= high)), text, where, col,
                     f"0 or a size from {low:g} to below {high:g} (inf, nan and such sizes are "
                     "no collected value)", message="number out of range")
        if minimum is not None:
            _raise_first(given & (num.to_numpy(dtype="float64", na_value=np.nan) < minimum), text,
                         where, col, f"at least {minimum:g} (raw.yaml min)", message="number below the minimum")
        return num.astype("Int64" if ctype == "integer" else "Float64")
    if ctype in ("date", "pdate"):
        iso, invalid = raw_date_to_iso(text)
        bad = invalid.to_numpy() & ~blank.to_numpy()
        if ctype == "date":
            bad |= ~blank.to_numpy() & (iso.str.len().to_numpy() != 10)
        _raise_first(bad, text, where, col, _EXPECT[ctype])
        return text
    if ctype == "time":
        ok = text.str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d")
        _raise_first(~blank & ~ok, text, where, col, _EXPECT[ctype])
        return text
    raise AssertionError(ctype)


def _raise_first(bad, text: pd.Series, where: str, col: str, expected: str,
                 message: str = "invalid value") -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        more = int(bad.sum()) - 1
        msg = message + (f" (and {more} more in this column)" if more else "")
        raise InputError(msg, file=where, row=i + 2, column=col, value=text.iloc[i], expected=expected)
