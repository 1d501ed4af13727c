"""Read the sites' raw export, a CSV folder or one Excel workbook, into checked frames.

Every form of ``specs/raw.yaml`` must be there with every required column (any order, names
matched ignoring case and surrounding blanks); otherwise the read stops with an
:class:`InputError` naming the file or sheet and the column. Values are checked against their
column type and converted: integer -> ``Int64``, number -> ``Float64``; dates and times stay
text (as collected; the SDTM mapping turns them into ISO 8601) but must be well formed:
``DD MON YYYY`` in complete-date columns, with ``UN``/``UNK`` parts allowed in partial-date
columns, ``HH:MM`` in time columns. The first bad value stops the read with its file, row,
column, value and what was expected. Each frame gets ``_ROW``, the row number in the file or
sheet (the header is row 1), which every SDTM record keeps as its link to the raw data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .dates import raw_date_to_iso
from .errors import InputError
from .layout import RawLayout

ROW = "_ROW"


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
        forms[name] = _check_form(df, name, layout, str(files[name]) + ("" if kind == "csv" else f" [sheet {name}]"), notes)
    return RawExport(path, kind, forms, files, notes)


def _read_csv_folder(folder: Path, layout: RawLayout):
    present = {p.name.upper(): p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv"}
    raw, files, notes = {}, {}, []
    for name in layout.forms:
        p = present.get(f"{name}.CSV")
        if p is None:
            raise InputError(f"form {name} is missing from the export", file=str(folder / f"{name}.csv"),
                             expected=f"one CSV file per form: {', '.join(f + '.csv' for f in layout.forms)}")
        try:
            # utf-8-sig drops a byte-order mark; every value is read as text, blanks stay ""
            df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start})", file=str(p), expected="a UTF-8 CSV file") from exc
        except pd.errors.EmptyDataError as exc:
            raise InputError("the file is empty", file=str(p), expected="a header row naming the columns") from exc
        except pd.errors.ParserError as exc:
            raise InputError(f"not a well-formed CSV file ({exc})", file=str(p)) from exc
        raw[name], files[name] = df, p
    known = {f"{n}.CSV" for n in layout.forms}
    for extra in sorted(set(present) - known):
        notes.append({"form": extra, "rule": "file not in the layout: ignored", "severity": "NOTE",
                      "value": str(present[extra])})
    return raw, files, notes


def _read_workbook(path: Path, layout: RawLayout):
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a broken file
        raise InputError(f"cannot open the workbook ({exc.__class__.__name__})", file=str(path),
                         expected="an .xlsx workbook with one sheet per form") from exc
    sheets = {name.strip().upper(): name for name in wb.sheetnames}
    raw, files, notes = {}, {}, []
    for form in layout.forms:
        sheet = sheets.get(form)
        if sheet is None:
            raise InputError(f"sheet {form} is missing from the workbook", file=str(path),
                             expected=f"one sheet per form: {', '.join(layout.forms)}")
        rows = list(wb[sheet].iter_rows(values_only=True))
        if not rows or all(v is None for v in rows[0]):
            raise InputError("the sheet is empty", file=f"{path} [sheet {sheet}]",
                             expected="a header row naming the columns")
        header = ["" if v is None else str(v) for v in rows[0]]
        body = [["" if v is None else _cell_text(v) for v in r] for r in rows[1:]]
        raw[form] = pd.DataFrame(body, columns=header, dtype=str)
        files[form] = path
    for extra in sorted(set(sheets) - set(layout.forms)):
        notes.append({"form": sheets[extra], "rule": "sheet not in the layout: ignored", "severity": "NOTE",
                      "value": str(path)})
    wb.close()
    return raw, files, notes


def _cell_text(v) -> str:
    """A cell as the text the capture system wrote (numbers typed in Excel lose '.0')."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


_EXPECT = {
    "integer": "a whole number",
    "number": "a number",
    "date": "a complete date DD MON YYYY, e.g. 03 NOV 2024",
    "pdate": "a date DD MON YYYY, UN MON YYYY, UN UNK YYYY or blank",
    "time": "a time HH:MM (24 h) or blank",
}


def _check_form(df: pd.DataFrame, name: str, layout: RawLayout, where: str, notes: list) -> pd.DataFrame:
    spec = layout.forms[name]
    df = df.rename(columns=lambda c: str(c).strip().upper())
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise InputError("column appears twice", file=where, column=dup)
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
        text = df[col].astype("str").str.strip().to_numpy()
        out[col] = _convert(pd.Series(text, dtype="str"), cs.type, where, col)
    return out


def _convert(text: pd.Series, ctype: str, where: str, col: str) -> pd.Series:
    blank = text == ""
    if ctype == "text":
        return text
    if ctype in ("integer", "number"):
        num = pd.to_numeric(text.where(~blank, None), errors="coerce")
        bad = ~blank & num.isna()
        if ctype == "integer":
            bad |= ~blank & num.notna() & (num % 1 != 0)
        _raise_first(bad, text, where, col, _EXPECT[ctype])
        return num.astype("Int64" if ctype == "integer" else "Float64")
    if ctype in ("date", "pdate"):
        iso, invalid = raw_date_to_iso(text)
        bad = invalid.to_numpy() & ~blank.to_numpy()
        if ctype == "date":
            bad |= ~blank.to_numpy() & (iso.str.len().to_numpy() != 10)
        _raise_first(pd.Series(bad), text, where, col, _EXPECT[ctype])
        return text
    if ctype == "time":
        ok = text.str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d")
        _raise_first(~blank & ~ok, text, where, col, _EXPECT[ctype])
        return text
    raise AssertionError(ctype)


def _raise_first(bad: pd.Series, text: pd.Series, where: str, col: str, expected: str) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        more = int(bad.sum()) - 1
        msg = "invalid value" + (f" (and {more} more in this column)" if more else "")
        raise InputError(msg, file=where, row=i + 2, column=col, value=text.iloc[i], expected=expected)
