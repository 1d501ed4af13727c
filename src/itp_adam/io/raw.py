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
  ISO 8601) but must be well formed: complete dates in the layout's ``date_format``
  (``DD MON YYYY`` by default, ``itp_adam.derive.dates.RAW_DATE_FORMATS``) in complete-date
  columns, unknown parts (``UN``/``UNK``, or left out in ISO 8601) allowed in partial-date
  columns, ``HH:MM`` in time columns.

Every problem is collected, not only the first: each bad cell (its file, row, column, value
and what was expected; the first ``MAX_LISTED`` rows per column and check, all of them counted),
each form that cannot be read (file missing, not UTF-8, malformed, without a required column)
across all forms; the read then stops with one :class:`InputErrors` listing them, whose
message is the first problem's, worded as a single error. A form whose file cannot be read,
whose header names a column twice, or whose first row names none of the layout's columns (one
error, naming the row below that does: a title above the header) is not checked further; a
missing required column is reported and the form's other columns are still checked.
Each frame gets ``_ROW``, the row number in the file or sheet (the header is row 1), which
every SDTM record keeps as its link to the raw data. Structural findings that lose nothing
(extra files, sheets or columns, removed byte-order marks) are kept in ``RawExport.notes``
and reported to ``data-issues.csv`` by the SDTM stage.

Speed: the text stays in pyarrow arrays from the parse to the returned ``str`` columns, and the
checks and conversions run once per distinct value of a column (``_Values``), so a column of
millions of rows costs one hash pass plus work on its few thousand distinct values.

Memory: a CSV export read with a :class:`Spill` (a run that builds partitions of a large export,
``docs/partitions.md``) is never held whole: each file is mapped, not read into memory, its text
is parsed a block at a time into an Arrow file, and each checked column that is not that text
as read (numbers, cleaned text) is written to a file of its own; the forms' columns are then
views of those files. The checks are the same, one whole column at a time, so the frames,
problems and notes are those of a read without it.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa  # pandas imports both already
import pyarrow.compute as pc

from ..derive.dates import RAW_DATE_FORMATS, raw_date_text, raw_date_to_iso
from ..errors import InputError, InputErrors
from .arrowfile import mapped, write_batches, write_frame
from .layout import RawLayout

ROW = "_ROW"
BOM = "\ufeff"
MAX_TEXT = 200  # SAS transport v5: at most 200 bytes per character value
NUMBER_RANGE = (1e-15, 1e15)  # non-zero numbers a form collects, safely inside the XPT range
TEXT = pa.large_string()  # how pandas' ``str`` columns hold text: no conversion when wrapped
MAX_LISTED = 1000  # bad rows listed per column and check (all are counted)


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


@dataclass
class ExportInPieces:
    """An export given in pieces (:func:`export_pieces`), not read by the run itself: each
    piece is read and checked by the partition that builds it (``stages/partitions.py``)."""

    source: Path
    pieces: list[Path]
    kind: str = "csv"
    forms: dict[str, pd.DataFrame] = field(default_factory=dict)  # none: read per piece
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[dict] = field(default_factory=list)

    def checksums(self) -> dict[str, str]:
        """SHA-256 of every CSV file of every piece (each read in 1 MiB chunks)."""
        return {str(p): sha256_file(p) for piece in self.pieces
                for p in sorted(piece.iterdir()) if p.is_file() and p.suffix.lower() == ".csv"}


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_not_found(path: Path) -> InputError:
    """The error for a raw export path that does not exist."""
    if Path(path).suffix.lower() == ".zip":
        return InputError("raw export zip not found", file=str(path),
                          expected="an existing .zip of a raw export: its form CSV files or one "
                          ".xlsx workbook")
    return InputError("raw export not found", file=str(path),
                      expected="an existing folder of form CSV files, an .xlsx workbook or a "
                      ".zip of either")


def is_zip(path: Path | None) -> bool:
    """True for an existing ``.zip`` file: an export (``--raw``) or SDTM (``--sdtm``) zipped."""
    return path is not None and Path(path).suffix.lower() == ".zip" and Path(path).is_file()


def unpack_export(archive: Path, folder: Path) -> Path:
    """Extract a zipped raw export into ``folder`` (new) and return what to read: the folder
    of its form CSVs (or of its pieces), or its one workbook. The members keep their
    sub-folders; a zip holding one top folder (``export/DM.csv``, as zipping a folder makes
    it) gives that folder. Members other than ``.csv`` and ``.xlsx`` files, and the
    ``__MACOSX`` copies a Mac adds, are not extracted. A member naming a place outside the
    folder (``../x.csv``, an absolute path), a broken zip, or a zip with both CSV files and a
    workbook (which one is the export?) or neither is bad input naming the zip."""
    import shutil
    import zipfile
    from pathlib import PurePosixPath

    expected = ("a .zip of a raw export: the form CSV files (or the pieces' folders), or one "
                ".xlsx workbook")
    kept: list[PurePosixPath] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = PurePosixPath(info.filename)
                if info.is_dir() or name.suffix.lower() not in (".csv", ".xlsx") \
                        or "__MACOSX" in name.parts or name.name.startswith("._"):
                    continue
                if name.is_absolute() or ".." in name.parts or ":" in name.parts[0]:
                    raise InputError(f"member {info.filename} names a place outside the export",
                                     file=str(archive), expected=expected)
                target = folder.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as source, open(target, "xb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                except FileExistsError:  # two members of one name (a zip may hold that)
                    raise InputError(f"member {info.filename} appears twice", file=str(archive),
                                     expected=expected) from None
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as exc:
                    raise InputError(f"cannot extract {info.filename} ({exc})", file=str(archive),
                                     expected=expected) from exc
                kept.append(name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise InputError(f"cannot be read as a zip archive ({exc})", file=str(archive),
                         expected=expected) from exc
    books = [name for name in kept if name.suffix.lower() == ".xlsx"]
    if not kept or (books and len(books) < len(kept)) or len(books) > 1:
        found = (f"{len(kept) - len(books)} CSV file(s) and {len(books)} workbook(s)" if kept
                 else "no CSV file and no workbook")
        raise InputError(f"the zip holds {found}", file=str(archive), expected=expected)
    if books:
        return folder.joinpath(*books[0].parts)
    tops = {name.parts[0] for name in kept}
    if len(tops) == 1 and all(len(name.parts) > 1 for name in kept):
        return folder / next(iter(tops))  # the zipped folder itself
    return folder


def read_export(path: Path, layout: RawLayout, spill: Spill | None = None) -> RawExport:
    """Read a CSV folder or one ``.xlsx`` workbook and check it against the layout.
    ``spill``: a CSV folder's forms are kept in files there while read, not in memory (a
    workbook is read whole: a sheet holds at most about a million rows)."""
    path = Path(path)
    problems = _Problems()
    if path.is_dir():
        raw, files, notes = _read_csv_folder(path, layout, problems, spill)
        kind = "csv"
    elif path.is_file() and path.suffix.lower() == ".xlsx":
        raw, files, notes = _read_workbook(path, layout, problems)
        kind = "xlsx"
    elif path.exists():
        raise InputError("not a raw export", file=str(path),
                         expected="a folder of form CSV files, one .xlsx workbook or a .zip "
                         "of either")
    else:
        raise export_not_found(path)
    forms = {}
    for name, (header, table) in raw.items():
        where = str(files[name]) + ("" if kind == "csv" else f" [sheet {name}]")
        forms[name] = _check_form(header, table, name, layout, where, notes, problems,
                                  spill if kind == "csv" else None)
        raw[name] = None  # its text is no longer needed
    if problems.errors:
        raise InputErrors(problems.errors, problems.count)
    return RawExport(path, kind, forms, files, notes)


def export_pieces(path: Path, layout: RawLayout) -> list[Path]:
    """The pieces of an export given in pieces: the sub-folders of ``path`` that hold the
    layout's subject-form CSV, in name order, when ``path`` is a folder holding no form CSV of
    its own (each piece is an export of some subjects, all of each subject's rows, with the
    layout's forms); ``[]`` for any other export. ``docs/partitions.md``, "An export in pieces"."""
    path = Path(path)
    if not path.is_dir():
        return []
    forms = {f"{name}.CSV" for name in layout.forms}
    entries = list(path.iterdir())
    if any(p.name.upper() in forms for p in entries if p.is_file()):
        return []
    subject_file = f"{layout.subject_form}.CSV"
    return sorted((p for p in entries if p.is_dir() and not p.name.startswith(".")
                   and any(q.name.upper() == subject_file for q in p.iterdir())),
                  key=lambda p: p.name)


@dataclass
class Spill:
    """Where :func:`read_export` keeps a large CSV export's forms while it reads them (and
    ``io.sdtm.read_sdtm`` a large SDTM input's domains, its own way): a folder
    (e.g. in the run's store) of Arrow files, each memory-mapped back once written: per form
    its text as parsed (a block of rows at a time), and each checked column that differs from
    the text as read (numbers, text cleaned of blanks or marks, ``_ROW``). Only the column being
    checked is held in memory; the forms' columns are views of the files (text) or read from
    them (numbers), so the folder must outlive the frames."""

    folder: Path
    files: int = 0

    def new_file(self, form: str, suffix: str = ".arrow") -> Path:
        """A new file of the folder for ``form`` (a form or a domain)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files += 1
        return self.folder / f"{form}-{self.files:04d}{suffix}"

    def text(self, reader, form: str) -> pa.Table:
        """The record batches of ``reader`` (a CSV parse) written to a file and mapped back."""
        return mapped(write_batches(reader, reader.schema, self.new_file(form)))

    def column(self, form: str, values: pd.Series) -> pd.Series:
        """``values`` (a checked column) written to a file and read back, the same pandas type."""
        path = write_frame(pd.DataFrame({"values": values}, copy=False), self.new_file(form))
        return mapped(path).to_pandas(split_blocks=True)["values"]


class _Problems:
    """The problems found so far: the errors listed, in the order found, and how many in all."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []
        self.count = 0

    def add(self, *errors: InputError, count: int | None = None) -> None:
        self.errors += errors
        self.count += len(errors) if count is None else count


# --------------------------------------------------------------------------------------------
# CSV folder


def _read_csv_folder(folder: Path, layout: RawLayout, problems: _Problems,
                     spill: Spill | None = None):
    try:
        listing = list(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list the folder ({exc.strerror})", file=str(folder),
                         expected="a readable folder of form CSV files") from exc
    entries = [p for p in listing if p.suffix.lower() == ".csv"]
    present: dict[str, list[Path]] = {}
    for p in sorted(entries):
        present.setdefault(p.name.upper(), []).append(p)
    if not any(f"{name}.CSV" in present for name in layout.forms):
        # a workbook export in a folder (e.g. `simulate --format xlsx`): point at the workbook
        books = sorted(p for p in listing if p.suffix.lower() == ".xlsx" and p.is_file()
                       and not p.name.startswith("~$"))  # ~$: Excel's lock file
        if books:
            which = f"a workbook {books[0].name}" if len(books) == 1 else \
                f"{len(books)} workbooks ({', '.join(p.name for p in books)})"
            raise InputError(f"the folder holds no form CSVs but holds {which}; pass the workbook "
                             f"itself: --raw {books[0]}", file=str(folder))
    raw, files, notes = {}, {}, []
    expected = f"one CSV file per form: {', '.join(f + '.csv' for f in layout.forms)}"
    for name in layout.forms:
        found = [p for p in present.get(f"{name}.CSV", []) if p.is_file()]
        if not found:
            problems.add(InputError(f"form {name} is missing from the export",
                                    file=str(folder / f"{name}.csv"), expected=expected))
            continue
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            problems.add(InputError(f"form {name} has {len(found)} files ({names}) whose names differ "
                                    "only in case", file=str(folder), expected=expected))
            continue
        try:
            raw[name], found_notes = _read_csv(found[0], name, spill)
        except InputError as exc:  # this form cannot be read; the others still are
            problems.add(exc)
            continue
        files[name] = found[0]
        notes += found_notes
    known = {f"{n}.CSV" for n in layout.forms}
    for extra in sorted(set(present) - known):
        for p in present[extra]:
            notes.append({"form": p.name, "rule": "file not in the layout: ignored", "severity": "NOTE",
                          "value": str(p)})
    return raw, files, notes


def _read_csv(path: Path, form: str, spill: Spill | None = None
              ) -> tuple[tuple[list[str], pa.Table], list[dict]]:
    """One form CSV as its header and a table of text columns (every field kept as written).

    The table's columns are in file order and named ``c0``, ``c1``...: the header may name a
    column twice or not at all, which ``_check_form`` reports. With ``spill`` the file is
    mapped, not read, and the table is parsed into a file of the spill (:class:`Spill`).
    """
    where = str(path)
    try:
        data = pa.memory_map(where).read_buffer() if spill is not None else path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", file=where,
                         expected="a readable CSV file") from exc
    notes = []
    bom = BOM.encode("utf-8")
    marks = 0
    while bytes(data[marks * len(bom):(marks + 1) * len(bom)]) == bom:
        marks += 1
    skipped = marks * len(bom)  # the file is used from there on, without copying it
    if marks > 1:  # one mark is how some programs write UTF-8; more are an artefact
        notes.append({"form": form, "row": 1, "rule": f"{marks} byte-order marks at the start of "
                      "the file: removed", "severity": "NOTE"})
    if not _NOT_BLANK.search(data, skipped):
        raise InputError("the file is empty", file=where, expected="a header row naming the columns")
    first = bytes(_LINE.match(data, skipped).group(0))
    try:
        header_text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(bytes(data[skipped:]), exc, where, skipped) from exc
    header = next(csv.reader([header_text]))
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise InputError("the header is one column: the file is not comma-separated", file=where, row=1,
                         value=header_text[:80], expected="comma-separated columns")
    names = [f"c{i}" for i in range(len(header))]
    if not _ROW_TEXT.search(data, skipped + len(first)):  # a header and no rows
        return (header, pa.table({n: pa.array([], TEXT) for n in names})), notes
    body = pa.py_buffer(data).slice(skipped)
    try:  # pyarrow's multithreaded reader; it does not know the line of a bad row ...
        table = _parse_csv(body, names, threads=True, spill=spill, form=form)[0]
    except pa.ArrowInvalid:  # ... so a failure is read again, serially, to name it
        table, bad_rows, exc = _parse_csv(body, names, threads=False, spill=spill, form=form)
        if exc is not None:
            raise _csv_error(bytes(data[skipped:]), exc, bad_rows, where, skipped) from exc
    return (header, table), notes


_NOT_BLANK = re.compile(rb"\S")  # what bytes.isspace() is not
_LINE = re.compile(rb"[^\r\n]*")
_ROW_TEXT = re.compile(rb"[^\r\n]")  # a byte of a row after the header


SPILL_BLOCK = 16 << 20
"""Bytes of CSV parsed at a time into a :class:`Spill`'s file."""


def _parse_csv(body: pa.Buffer, names: list[str], threads: bool, spill: Spill | None = None,
               form: str = "") -> tuple[pa.Table | None, list, Exception | None]:
    """Parse the rows after the header as text; serially, also the bad rows and the failure.
    With ``spill``, a block at a time into its file (the same table, mapped)."""
    bad_rows: list = []

    def on_bad_row(row) -> str:
        bad_rows.append(row)
        return "error"

    from pyarrow import csv as pacsv

    options = dict(
        parse_options=pacsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_bad_row),
        convert_options=pacsv.ConvertOptions(
            column_types={n: TEXT for n in names}, strings_can_be_null=False,
            quoted_strings_can_be_null=False))
    try:
        if spill is not None:
            table = spill.text(pacsv.open_csv(pa.BufferReader(body), read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=threads, block_size=SPILL_BLOCK),
                **options), form)
        else:
            table = pacsv.read_csv(pa.BufferReader(body), read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=threads), **options)
    except pa.ArrowInvalid as exc:
        if threads:
            raise
        return None, bad_rows, exc
    return table, bad_rows, None


def _csv_error(data: bytes, exc: Exception, bad_rows: list, where: str, skipped: int) -> InputError:
    """The message for a file pyarrow refused: the first bad row, else the first non-UTF-8 byte."""
    if bad_rows:
        row = bad_rows[0]
        return InputError(
            f"the row has {row.actual_columns} fields, the header {row.expected_columns} "
            "(a truncated file, an unclosed quote or an unquoted comma)", file=where,
            row=row.number if row.number and row.number > 0 else None,
            value=row.text[:80], expected=f"{row.expected_columns} comma-separated fields")
    try:  # the usual other cause; decoding shows where
        data.decode("utf-8")
    except UnicodeDecodeError as decode_exc:
        return _not_utf8(data, decode_exc, where, skipped)
    return InputError(f"not a well-formed CSV file ({exc})", file=where)


def _not_utf8(data: bytes, exc: UnicodeDecodeError, where: str, skipped: int) -> InputError:
    """The first byte that is not UTF-8, by its row and its offset in the file."""
    row = data.count(b"\n", 0, exc.start) + 1
    return InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02X} at offset {exc.start + skipped})",
                      file=where, row=row, expected="a UTF-8 CSV file")


# --------------------------------------------------------------------------------------------
# workbook


def _read_workbook(path: Path, layout: RawLayout, problems: _Problems):
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a broken file
        raise InputError(f"cannot open the workbook ({exc.__class__.__name__})", file=str(path),
                         expected="an .xlsx workbook with one sheet per form") from exc
    written = None  # the workbook as written: only for formulas, merged ranges or error cells
    try:
        written = _as_written(path)
        sheets: dict[str, list[str]] = {}
        for name in wb.sheetnames:
            sheets.setdefault(name.strip().upper(), []).append(name)
        raw, files, notes = {}, {}, []
        for form in layout.forms:
            found = sheets.get(form, [])
            if not found:
                problems.add(InputError(f"sheet {form} is missing from the workbook", file=str(path),
                                        expected=f"one sheet per form: {', '.join(layout.forms)}"))
                continue
            if len(found) > 1:
                problems.add(InputError(f"form {form} has {len(found)} sheets ({', '.join(found)})",
                                        file=str(path),
                                        expected=f"one sheet per form: {', '.join(layout.forms)}"))
                continue
            rows = list(wb[found[0]].iter_rows(values_only=True))
            if not rows or all(v is None for v in rows[0]):
                problems.add(InputError("the sheet is empty", file=f"{path} [sheet {found[0]}]",
                                        expected="a header row naming the columns"))
                continue
            width = max(len(r) for r in rows)
            header = [("" if v is None else str(v)) for v in rows[0]] + [""] * (width - len(rows[0]))
            # one pass over the cells is how openpyxl hands them out
            date_format = layout.date_format
            body = [[_cell_text(v, date_format) for v in r] + [""] * (width - len(r))
                    for r in rows[1:]]
            if written is not None:  # what the values alone do not show
                where = f"{path} [sheet {found[0]}]"
                errors, failed = _as_written_problems(where, header, rows, written[found[0]])
                problems.add(*errors)
                for row, col in failed:  # reported once, not again as a value of its column
                    body[row - 2][col] = ""
            columns = zip(*body) if body else [()] * width
            raw[form] = header, pa.table({f"c{i}": pa.array(values, TEXT)
                                          for i, values in enumerate(columns)})
            files[form] = path
            notes += _number_cells_in_text_columns(form, header, rows[1:], layout)
        for extra in sorted(set(sheets) - set(layout.forms)):
            for name in sheets[extra]:
                notes.append({"form": name, "rule": "sheet not in the layout: ignored", "severity": "NOTE",
                              "value": str(path)})
    finally:
        wb.close()
        if written is not None:
            written.close()
    return raw, files, notes


# what a sheet's XML holds that the values alone do not show: <f>, <f t="shared" .../>, <x:f>
# (a formula), <mergeCell ref=.../> (a merged range) and <c ... t="e"> (an error value, #N/A)
_WRITTEN_TAG = re.compile(rb'<(?:\w+:)?(?:f[\s>/]|mergeCell[\s>/]|c\s[^>]*\bt="e")')


def _as_written(path: Path):
    """The workbook opened a second time as it is written (formula cells reading as their
    formulas, merged ranges listed, error cells typed), when a sheet holds a formula, a merged
    range or an error value; None otherwise, the usual case (a scan of the sheets' XML, no
    second reading)."""
    import zipfile

    from openpyxl import load_workbook

    with zipfile.ZipFile(path) as book:
        sheets = [name for name in book.namelist()
                  if name.startswith("xl/worksheets/") and name.endswith(".xml")]
        if not any(_WRITTEN_TAG.search(book.read(name)) for name in sheets):
            return None
    return load_workbook(path, data_only=False)


def _merged_cells(where: str, header: list[str], ranges) -> list[InputError]:
    """One error for a sheet with merged ranges below its header: a merged range holds its
    value in its first cell only, the others read as blank (a date merged over the rows of
    one visit, a subject id over its records), so the rows below the first would lose it."""
    body = sorted((r for r in ranges if r.max_row >= 2 and r.size["rows"] * r.size["columns"] > 1),
                  key=lambda r: (r.min_row, r.min_col))
    if not body:
        return []
    first = body[0]
    name = header[first.min_col - 1].strip() if first.min_col <= len(header) else ""
    return [InputError(
        f"{len(body)} merged cell range(s), the first {first.coord}: a merged range holds its "
        "value in its first cell only, the other cells would read as blank", file=where,
        row=first.min_row, column=name or None, value=", ".join(r.coord for r in body[:5]),
        expected="one value in each cell: unmerge the cells and fill the value into each row")]


def _as_written_problems(where: str, header: list[str], values: list[tuple],
                         sheet) -> tuple[list[InputError], list[tuple[int, int]]]:
    """The errors of a sheet that its values alone do not show, from ``sheet`` (the same
    sheet as written, :func:`_as_written`; ``values``: its rows as read, computed values), and
    the (row, column) of the error-value cells, 1-based row and 0-based column:

    - merged ranges below the header (:func:`_merged_cells`);
    - formula cells without a computed value: a workbook written by a program (openpyxl, R's
      openxlsx) and never calculated by a spreadsheet stores the formula only, and the cell
      would read as blank, its value lost (a formula with its value reads as the value);
    - cells holding a spreadsheet error (``#N/A``, ``#DIV/0!``, a formula that failed or an
      error typed in): it would read as that text, as if it were the value.

    One error per column for each kind, with the count, the first cell and what it holds."""
    from openpyxl.utils import get_column_letter

    kinds = {"formula": ("formula cell(s) without a computed value", "the workbook was written "
                         "by a program and never calculated, so the cells would read as blank",
                         "values: open and save the workbook in Excel or LibreOffice (which store "
                         "each formula's value), or export values instead of formulas"),
             "error": ("cell(s) holding a spreadsheet error", "a formula that failed or an error "
                       "typed in, not a value", "the value, or a blank cell for a value not known")}
    first: dict[tuple[str, int], tuple[int, str]] = {}
    counts: dict[tuple[str, int], int] = {}
    failed: list[tuple[int, int]] = []
    for row, (read, cells) in enumerate(zip(values, sheet.iter_rows()), start=1):
        for col, cell in enumerate(cells):
            value = read[col] if col < len(read) else None
            if cell.data_type == "e" or (cell.data_type == "f" and value in _ERROR_VALUES):
                kind, shown = "error", str(value if cell.data_type == "f" else cell.value)
                if row > 1:
                    failed.append((row, col))
            elif cell.data_type == "f" and value is None:
                formula = cell.value if isinstance(cell.value, str) else getattr(cell.value,
                                                                                 "text", "")
                kind, shown = "formula", str(formula)
            else:
                continue
            first.setdefault((kind, col), (row, shown))
            counts[kind, col] = counts.get((kind, col), 0) + 1
    errors = _merged_cells(where, header, sheet.merged_cells.ranges)
    for (kind, col), (row, shown) in sorted(first.items(), key=lambda item: item[0][1]):
        what, why, expected = kinds[kind]
        name = header[col].strip() if col < len(header) and header[col].strip() else None
        errors.append(InputError(
            f"{counts[kind, col]} {what}, the first {get_column_letter(col + 1)}{row}: {why}",
            file=where, row=row, column=name, value=shown[:80], expected=expected))
    return errors, failed


# the error values a spreadsheet cell may hold (Excel's; LibreOffice writes the same in .xlsx)
_ERROR_VALUES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
                           "#GETTING_DATA", "#SPILL!", "#CALC!"})


def _number_cells_in_text_columns(form: str, header: list[str], body: list[tuple],
                                  layout: RawLayout) -> list[dict]:
    """A warning per text column of the layout that holds number or date cells: the workbook
    went through Excel, which reads '03' as 3, '7.50' as 7.5 and '01-10' as a date when it
    opens a CSV file, and what it changed cannot be restored (a site id 03 is then 3)."""
    columns = layout.forms[form].columns
    notes = []
    for index, name in enumerate(header):
        name = name.strip().upper()
        if name not in columns or columns[name].type != "text":
            continue
        rows = [row for row, cells in enumerate(body, start=2) if index < len(cells)
                and isinstance(cells[index], (int, float, dt.date, dt.time))
                and not isinstance(cells[index], bool)]
        if rows:
            notes.append({"form": form, "column": name, "row": rows[0],
                          "value": _cell_text(body[rows[0] - 2][index], layout.date_format),
                          "rule": f"{len(rows)} number or date cell(s) in a text column: kept as "
                          "the cell reads; what Excel changed ('03' read as 3, '7.50' as 7.5, "
                          "'01-10' as a date) cannot be restored, so check against the source",
                          "severity": "WARNING"})
    return notes


def _cell_text(v, date_format: str) -> str:
    """A cell as the text the capture system wrote. A workbook saved by Excel holds what Excel
    recognised when the export was opened: numbers (``47.0`` is ``47``), dates (a date cell,
    at midnight, is the date written in the study's ``date_format``: ``12 APR 2023``) and
    times (``14:30``). A date cell with a time of day keeps it, and is then not a date of the
    raw format (reported by the column's check)."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        if v.time() == dt.time(0) and v.tzinfo is None:
            return raw_date_text(v.date(), date_format)
        return str(v)
    if isinstance(v, dt.date):
        return raw_date_text(v, date_format)
    if isinstance(v, dt.time) and not v.second and not v.microsecond:
        return f"{v.hour:02d}:{v.minute:02d}"
    return str(v)


# --------------------------------------------------------------------------------------------
# checks of one form


_EXPECT = {
    "integer": "a whole number",
    "number": "a number",
    "time": "a time HH:MM (24 h) or blank",
}


def expected_date(ctype: str, date_format: str) -> str:
    """What a ``date`` or ``pdate`` column holds in ``date_format``, for messages:
    ``a complete date DD MON YYYY, e.g. 03 NOV 2024``, ``a date DD MON YYYY, UN MON YYYY,
    UN UNK YYYY or blank``."""
    form = RAW_DATE_FORMATS[date_format]
    if ctype == "date":
        return f"a complete date {date_format}, e.g. {form['example']}"
    return f"a date {date_format}, {form['partial']} or blank"
_TEXT = r"[\x20-\x7e]*"  # printable ASCII


HEADER_SEARCH_ROWS = 10
"""Rows below the first searched for the layout's column names when the first has none."""


def _no_header(header: list[str], table: pa.Table, where: str, columns) -> InputError:
    """The error of a form whose first row names none of the layout's columns; when a row
    just below does (a title or blank rows above the header), it says which."""
    top = [table.column(i).slice(0, HEADER_SEARCH_ROWS).to_pylist()
           for i in range(table.num_columns)]
    rows = [[str(cells[r] or "").strip().upper() for cells in top]
            for r in range(min(HEADER_SEARCH_ROWS, table.num_rows))]
    below = next((r for r, cells in enumerate(rows) if any(c in columns for c in cells)), None)
    found = ", ".join(str(c).strip() for c in header if str(c).strip())[:80] or "blank cells"
    hint = ("" if below is None else
            f"; row {below + 2} does: a title or blank rows above the header? (the header is row 1)")
    return InputError(f"the header row names none of the layout's columns{hint}", file=where,
                      row=1, value=found, expected=f"columns {', '.join(columns)}")


def _check_form(header: list[str], table: pa.Table, name: str, layout: RawLayout, where: str,
                notes: list, problems: _Problems, spill: Spill | None = None
                ) -> pd.DataFrame | None:
    """The form's layout columns, checked and converted, after ``_ROW``; every problem found is
    added to ``problems`` (the frame is then of no use, and None if the header names a column
    twice). ``spill``: each column that is not the text as read goes to a file of it as soon
    as it is checked."""
    keep = None if spill is None else (lambda values: spill.column(name, values))
    spec = layout.forms[name]
    written, header = header, [str(c).replace(BOM, "").strip().upper() for c in header]
    if spec.columns and not any(c in spec.columns for c in header):
        problems.add(_no_header(written, table, where, spec.columns))
        return None  # no column to check: one problem, not one per cell
    unnamed = [i for i, c in enumerate(header) if c == ""]
    for i in unnamed:
        values = _Values.of(table.column(i))
        values = values.replace(values.distinct.str.strip())
        _report(values.distinct.ne("").to_numpy(dtype=bool), values, problems,
                lambda row, value, more, i=i: InputError(
                    "value in a column without a header name", file=where, row=row + 2,
                    column=f"#{i + 1}", value=value, expected="a name in the header row"))
    named = [i for i in range(len(header)) if header[i] != ""]
    if unnamed:
        notes.append({"form": name, "column": "", "rule": f"{len(unnamed)} blank column(s) without a "
                      "header name: ignored", "severity": "NOTE"})
    names = [header[i] for i in named]
    seen = pd.Index(names)
    if seen.duplicated().any():  # which of the two holds the data is unknown: no further checks
        problems.add(*[InputError("column appears twice", file=where, column=str(c))
                       for c in seen[seen.duplicated()].unique()])
        return None
    position = dict(zip(names, named))
    problems.add(*[InputError(f"required column {col} is missing", file=where, column=col,
                              expected=f"columns {', '.join(spec.columns)}")
                   for col, cs in spec.columns.items() if col not in position and cs.required])
    for extra in [c for c in names if c not in spec.columns]:
        notes.append({"form": name, "column": extra, "rule": "column not in the layout: ignored",
                      "severity": "NOTE"})
    n = table.num_rows
    rows = pd.Series(np.arange(2, n + 2, dtype="int64"))
    out = {ROW: rows if keep is None else keep(rows)}
    for col, cs in spec.columns.items():
        # an optional column the export leaves out is blank in every row (a missing required
        # one too, reported above, so that the other columns are still checked)
        column = table.column(position[col]) if col in position else pa.nulls(n, TEXT).fill_null("")
        values, reported = _clean_text(_Values.of(column, keep), name, col, where, notes, problems)
        out[col] = _convert(values, cs.type, where, col, problems, cs.min, reported,
                            layout.date_format)
    return pd.DataFrame(out, copy=False)


@dataclass
class _Values:
    """One column as its distinct values and, per row, the position of its value among them.

    The checks and conversions run on the distinct values (a few hundred or thousand among
    millions of rows) with the same pandas string operations as on whole columns, so every
    value is judged exactly as it would be alone; results go back to the rows by ``codes``.
    """

    column: pa.ChunkedArray | pa.Array  # the rows' values as read
    read: pd.Series  # ``str``, the distinct values as read, in the order of first appearance
    codes: np.ndarray  # per row, the position of its value in ``read`` and ``distinct``
    distinct: pd.Series  # ``read`` once cleaned (two values may become one)
    keep: Callable[[pd.Series], pd.Series] | None = None  # a Spill's: a new column to its file
    source: pa.ChunkedArray | pa.Array | None = None  # with ``keep``: the column as given (mapped)

    @classmethod
    def of(cls, column: pa.ChunkedArray | pa.Array,
           keep: Callable[[pd.Series], pd.Series] | None = None) -> _Values:
        """``keep``: where a column made from these rows goes (:meth:`Spill.column`); a column
        as read is then the given one (the mapped file's text), not a copy."""
        from ..derive.columns import encode

        source = column if keep is not None else None
        if isinstance(column, pa.ChunkedArray) and keep is None:
            # the rows as one array for text(); an empty column may have no chunk
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        # chunk by chunk with one dictionary: a Spill's mapped column (blocks of rows) is
        # never copied into memory whole
        codes, distinct = encode(column)
        read = distinct.to_pandas()
        return cls(column, read, codes, read, keep, source)

    def replace(self, distinct: pd.Series) -> _Values:
        """The same rows with new distinct values (position for position)."""
        return dataclasses.replace(self, distinct=distinct)

    def first(self, flagged: np.ndarray) -> tuple[int, int] | None:
        """The first row whose distinct value is flagged and how many rows are, or None."""
        if not flagged.any():
            return None
        rows = flagged[self.codes]
        return int(np.argmax(rows)), int(rows.sum())

    def value(self, row: int) -> str:
        """The (cleaned) value of a row."""
        return self.distinct.iloc[self.codes[row]]

    def text(self) -> pd.Series:
        """The rows as a ``str`` column; the column as read if cleaning changed no value."""
        if self.distinct.equals(self.read):
            return (self.source if self.source is not None else self.column).to_pandas()
        return self._kept(pd.Series(self.distinct.array.take(self.codes)))

    def numbers(self, distinct: pd.Series, dtype: str) -> pd.Series:
        """The rows of per-distinct-value floats as a column of ``dtype``."""
        return self._kept(pd.Series(distinct.astype(dtype).array.take(self.codes)))

    def _kept(self, values: pd.Series) -> pd.Series:
        return values if self.keep is None else self.keep(values)


def _clean_text(values: _Values, form: str, col: str, where: str, notes: list,
                problems: _Problems) -> tuple[_Values, np.ndarray]:
    """Stripped text, byte-order marks removed (noted); non-printable, non-ASCII or over-long
    values are reported, and flagged (per distinct value) in the array returned with the text."""
    text = values.distinct
    marked = values.first(text.str.contains(BOM, regex=False).to_numpy(dtype=bool))
    if marked:
        text = text.str.replace(BOM, "", regex=False)
        notes.append({"form": form, "column": col, "row": marked[0] + 2,
                      "rule": f"byte-order mark inside {marked[1]} value(s): removed",
                      "severity": "NOTE"})
    values = values.replace(text.str.strip())
    text = values.distinct
    odd = ~text.str.fullmatch(_TEXT).to_numpy(dtype=bool)

    def odd_char(row: int, value: str, more: int) -> InputError:
        char = next(c for c in value if not ("\x20" <= c <= "\x7e"))
        kind = "a control character" if ord(char) < 0x20 or ord(char) == 0x7f else "a non-ASCII character"
        return InputError(f"{kind} U+{ord(char):04X} in the value", file=where, row=row + 2, column=col,
                          value=value[:80],
                          expected="printable ASCII text (SAS transport v5 files hold ASCII only)")

    _report(odd, values, problems, odd_char)
    long = (text.str.len() > MAX_TEXT).to_numpy(dtype=bool) & ~odd
    _report(long, values, problems, lambda row, value, more: InputError(
        f"value of {len(value)} characters", file=where, row=row + 2, column=col, value=value[:40] + "...",
        expected=f"at most {MAX_TEXT} characters (the SAS transport v5 limit)"))
    return values, odd | long


def _convert(values: _Values, ctype: str, where: str, col: str, problems: _Problems,
             minimum: float | None = None, reported: np.ndarray | None = None,
             date_format: str = "DD MON YYYY") -> pd.Series:
    """The checked column as its type's pandas column (text, dates and times stay ``str``;
    dates are checked against ``date_format``, raw.yaml's).

    Bad values are added to ``problems``, each check judging only the values no earlier check
    (nor ``_clean_text``: ``reported``) flagged, so a cell is reported once; a column with a
    bad value is returned as text, unconverted (the read stops anyway)."""
    text = values.distinct
    blank = text == ""
    judged = ~blank.to_numpy(dtype=bool)
    if reported is not None:
        judged &= ~reported
    failed = reported is not None and bool(reported.any())

    def check(bad, expected: str, message: str = "invalid value") -> None:
        nonlocal judged, failed
        bad = judged & np.asarray(bad, dtype=bool)
        if _report(bad, values, problems, lambda row, value, more: InputError(
                message + (f" (and {more} more in this column)" if more else ""), file=where,
                row=row + 2, column=col, value=value, expected=expected)):
            judged &= ~bad
            failed = True

    if ctype == "text":
        return values.text()
    if ctype in ("integer", "number"):
        num = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
        size = np.abs(num.to_numpy(dtype="float64", na_value=np.nan))
        bad = np.isnan(size)
        if ctype == "integer":
            bad |= np.nan_to_num(size) % 1 != 0
        check(bad, _EXPECT[ctype])
        low, high = NUMBER_RANGE
        size = np.nan_to_num(size)
        check((size != 0) & ((size < low) | (size >= high)),
              f"0 or a size from {low:g} to below {high:g} (inf, nan and such sizes are "
              "no collected value)", message="number out of range")
        if minimum is not None:
            check(num.to_numpy(dtype="float64", na_value=np.nan) < minimum,
                  f"at least {minimum:g} (raw.yaml min)", message="number below the minimum")
        if failed:
            return values.text()
        return values.numbers(num, "Int64" if ctype == "integer" else "Float64")
    if ctype in ("date", "pdate"):
        iso, invalid = raw_date_to_iso(text, date_format)
        bad = invalid.to_numpy(dtype=bool)
        if ctype == "date":
            bad = bad | (iso.str.len().to_numpy() != 10)
        check(bad, expected_date(ctype, date_format))
        return values.text()
    if ctype == "time":
        check(~text.str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d").to_numpy(dtype=bool), _EXPECT[ctype])
        return values.text()
    raise AssertionError(ctype)


def _report(flagged: np.ndarray, values: _Values, problems: _Problems, error) -> bool:
    """Add the rows whose distinct value is ``flagged`` to ``problems``: the first
    ``MAX_LISTED`` as ``error(row, value, more)`` (``more``: the column's other flagged rows, on
    the first row listed, else 0; ``row`` counts data rows from 0), all of them counted.
    Returns whether any row was flagged."""
    if not flagged.any():
        return False
    rows = np.flatnonzero(flagged[values.codes])
    listed = [error(int(row), values.value(int(row)), len(rows) - 1 if k == 0 else 0)
              for k, row in enumerate(rows[:MAX_LISTED])]
    problems.add(*listed, count=len(rows))
    return True
