"""Reviewer tables as files: one :class:`Table` (what a table shows, whatever the format),
written as RTF (:func:`write_rtf`) and XLSX (:func:`write_xlsx`) with the same rows and words.

A ``Table`` is made by the display engine (``itp_adam.analysis.display``) from a display spec
and the ARD; these writers never compute or round anything, they lay out the texts.

Layout (docs/tables.md):

- letter paper, 1 inch margins, portrait or landscape (``Table.landscape``);
- RTF: the titles and the population line are in the page header, the footnotes, the source
  line and the program line with "Page X of Y" in the page footer, so they are on every page;
  XLSX: titles and population line at the top, footnotes, source and program line under the
  table; printed, the title and header rows repeat on every page (print titles) and the
  footer holds the program line and "Page &P of &N";
- the column header rows repeat at the top of each page (RTF rows marked ``\\trhdr``, which
  Word honours; LibreOffice 7.4 ignores it when it reads RTF); a header cell spanning
  columns is one merged cell, underlined; a line above the header, one under it and one under
  the last body row, no vertical lines;
- column widths are fixed (twips in RTF, characters in XLSX), the relative ``Table.widths``
  scaled to the usable page width, so the layout does not depend on the installed fonts; a
  text too long for its cell wraps inside it;
- a body row is never split across pages; a section heading row (one cell across the table,
  bold) is written whenever ``Table.section`` changes, in RTF kept with the row under it;
- a table without body rows gets one row across the table that reads ``No records.``
  (:data:`NO_RECORDS`).

The RTF is written by this module as plain text (RTF 1.x, ASCII, every character beyond
ASCII as ``\\uN?``), the workbook's XML parts by :mod:`itp_adam.report.xlsx`; both the same
bytes for the same ``Table``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    """A reviewer table, independent of the file format.

    ``widths`` are relative: the writers scale them to the page's usable width, in fixed units
    (twips in RTF, characters in XLSX), so the layout never depends on the installed font; a
    cell's text that does not fit wraps inside its cell."""

    name: str
    """File stem in ``tables/`` (``name.rtf``, ``name.xlsx``)."""
    titles: list[str]
    """Title lines, first the table number (e.g. ``Table 14.3.1``), then the title."""
    population: str
    """The line under the titles, e.g. ``Population: safety (SAFFL = Y), N = 254``."""
    headers: list[list[tuple[str, int]]]
    """Column header rows, top first; each cell is (text, number of columns it spans)."""
    rows: list[list[str]]
    """Body rows, one text per column."""
    widths: list[float]
    """Relative column widths."""
    align: list[str]
    """Per column: ``l`` (left), ``c`` (centre) or ``r`` (right)."""
    footnotes: list[str] = field(default_factory=list)
    source: str = ""
    """The source line: the datasets the table used, the study, the cut-off."""
    program: str = ""
    """Program and run date for the footer, e.g. ``itp-adam 0.1.0, analyses/safety.yaml; run
    2026-12-02 04:31 UTC``."""
    section: list[str] | None = None
    """Per body row: the heading of the section it belongs to (a heading row is written
    whenever it changes), or None for no sections."""
    indent: list[int] | None = None
    """Per body row: indent level of the first column's text (0 none), or None."""
    emphasis: list[bool] | None = None
    """Per body row: shown bold (e.g. a system organ class above its preferred terms), or None."""
    landscape: bool = False

    @property
    def columns(self) -> int:
        return len(self.widths)

    def leaf_header(self) -> list[str]:
        return [text for text, _ in self.headers[-1]]


NO_RECORDS = "No records."
"""The one row, across the table, of a table without body rows."""

TWIPS_PER_INCH = 1440
MARGIN = TWIPS_PER_INCH  # 1 inch on every side
INDENT_TWIPS = 216  # 0.15 inch per indent level of the first column
XLSX_CHARACTERS = {False: 90, True: 120}  # total column width in characters, by landscape


def page_size(landscape: bool) -> tuple[int, int]:
    """(width, height) of a letter page in twips, turned for landscape."""
    width, height = 12240, 15840  # 8.5 x 11 in
    return (height, width) if landscape else (width, height)


def usable_width(landscape: bool) -> int:
    """The width between the margins in twips: 9360 portrait, 12960 landscape."""
    return page_size(landscape)[0] - 2 * MARGIN


def column_edges(widths: list[float], total: int) -> list[int]:
    """The right edges of the columns (cumulative, rounded from the cumulative relative
    widths, so the last edge is ``total`` exactly): ``[1, 1, 2]`` in 9360 -> 2340, 4680, 9360."""
    whole = sum(widths)
    edges, running = [], 0.0
    for w in widths:
        running += w
        edges.append(round(total * running / whole))
    return edges


def check(table: Table) -> None:
    """Raise ValueError when the table's parts do not fit together (a row with another number
    of cells than columns, header spans that do not add up, a per-row list of another length)."""
    n = table.columns
    if n == 0:
        raise ValueError(f"table {table.name!r}: no columns (widths is empty)")
    if any(not w > 0 for w in table.widths):
        raise ValueError(f"table {table.name!r}: widths must be positive, got {table.widths}")
    if len(table.align) != n or any(a not in ("l", "c", "r") for a in table.align):
        raise ValueError(f"table {table.name!r}: align needs one of l, c, r per column "
                         f"({n} columns), got {table.align}")
    if not table.headers:
        raise ValueError(f"table {table.name!r}: no header row")
    for k, row in enumerate(table.headers):
        if any(span < 1 for _, span in row) or sum(span for _, span in row) != n:
            raise ValueError(f"table {table.name!r}: header row {k + 1} spans "
                             f"{sum(span for _, span in row)} columns, not {n}")
    for k, row in enumerate(table.rows):
        if len(row) != n:
            raise ValueError(f"table {table.name!r}: body row {k + 1} has {len(row)} cells, "
                             f"not {n}")
    for name in ("section", "indent", "emphasis"):
        values = getattr(table, name)
        if values is not None and len(values) != len(table.rows):
            raise ValueError(f"table {table.name!r}: {name} has {len(values)} entries for "
                             f"{len(table.rows)} body rows")
    if table.indent is not None and len(table.indent):
        import numpy as np

        levels = np.asarray(table.indent)  # whole columns: a listing has many rows
        if levels.dtype.kind not in "iu" or levels.min() < 0:
            bad = next((level for level in table.indent if isinstance(level, bool)
                        or not isinstance(level, numbers.Integral) or level < 0),
                       max(table.indent))  # else: whole numbers too large for 64 bits
            raise ValueError(f"table {table.name!r}: indent levels are whole numbers from 0, "
                             f"got {bad!r}")


# --------------------------------------------------------------------------------------------
# RTF


def rtf_text(text: str) -> str:
    """Text as RTF: ``\\``, ``{``, ``}`` escaped, a line break as ``\\line``, a tab as
    ``\\tab``, other control characters dropped, every character beyond ASCII as ``\\uN?``
    (N the UTF-16 code unit as a signed 16-bit number, a surrogate pair above U+FFFF)."""
    out = []
    for ch in text.replace("\r\n", "\n"):
        code = ord(ch)
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch in "\n\r":
            out.append("\\line ")
        elif ch == "\t":
            out.append("\\tab ")
        elif code < 32 or code == 127:
            continue
        elif code < 128:
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            for k in range(0, len(units), 2):
                unit = int.from_bytes(units[k:k + 2], "big")
                out.append(f"\\u{unit - 65536 if unit > 32767 else unit}?")
    return "".join(out)


_RULE = "\\brdrs\\brdrw10"  # a single thin line (0.5 pt)
_ALIGN = {"l": "\\ql", "c": "\\qc", "r": "\\qr"}
_BODY_FONT = "\\f0\\fs18"  # Times New Roman 9 pt
_TITLE_FONT = "\\f0\\fs20"  # 10 pt
_NOTE_FONT = "\\f0\\fs16"  # 8 pt, footnotes, source and program line


def _rtf_row(cells: list[tuple[int, str, str]], *, header: bool = False,
             top: bool = False, bottom: list[bool] | None = None, keep_next: bool = False,
             valign: str = "\\clvertalt") -> str:
    """One table row. ``cells``: (right edge in twips, paragraph formatting, RTF text);
    ``bottom``: per cell a line under it; ``top``: a line above every cell."""
    keepn = "\\keepn" if keep_next else ""
    parts = [_rtf_row_start([edge for edge, _, _ in cells], header=header, top=top,
                            bottom=bottom, keep_next=keep_next, valign=valign)]
    for _, formatting, text in cells:
        parts.append(f"\\pard\\plain\\intbl\\widctlpar{keepn}{formatting} {text}\\cell\n")
    parts.append("\\row\n")
    return "".join(parts)


def _rtf_row_start(edges: list[int], *, header: bool = False, top: bool = False,
                   bottom: list[bool] | None = None, keep_next: bool = False,
                   valign: str = "\\clvertalt") -> str:
    """The definition of a table row, before its cells' paragraphs: the row's properties and
    each cell's right edge and lines (see :func:`_rtf_row`)."""
    bottom = bottom or [False] * len(edges)
    parts = ["\\trowd\\trgaph72\\trleft0\\trpaddl72\\trpaddr72\\trpaddfl3\\trpaddfr3"
             "\\trautofit0\\trkeep"]
    if header:
        parts.append("\\trhdr")
    if keep_next:
        parts.append("\\trkeepfollow")
    parts.append(f"\\trftsWidth3\\trwWidth{edges[-1]}\n")
    left = 0
    for edge, under in zip(edges, bottom):
        borders = (f"\\clbrdrt{_RULE}" if top else "") + (f"\\clbrdrb{_RULE}" if under else "")
        parts.append(f"{valign}{borders}\\clftsWidth3\\clwWidth{edge - left}\\cellx{edge}\n")
        left = edge
    return "".join(parts)


def rtf_document(table: Table) -> str:
    """The RTF of ``table`` as a string of ASCII characters (see :func:`write_rtf`)."""
    check(table)
    width, height = page_size(table.landscape)
    usable = usable_width(table.landscape)
    edges = column_edges(table.widths, usable)
    n = table.columns
    out = [
        "{\\rtf1\\ansi\\ansicpg1252\\deff0\\uc1\n",
        "{\\fonttbl{\\f0\\froman\\fprq2\\fcharset0 Times New Roman;}"
        "{\\f1\\fmodern\\fprq1\\fcharset0 Courier New;}}\n",
        "{\\colortbl;\\red0\\green0\\blue0;}\n",
        f"\\paperw{width}\\paperh{height}\\margl{MARGIN}\\margr{MARGIN}\\margt{MARGIN}"
        f"\\margb{MARGIN}" + ("\\landscape" if table.landscape else "") + "\\widowctrl\n",
        f"\\sectd\\pgwsxn{width}\\pghsxn{height}\\marglsxn{MARGIN}\\margrsxn{MARGIN}"
        f"\\margtsxn{MARGIN}\\margbsxn{MARGIN}\\headery720\\footery720"
        + ("\\lndscpsxn" if table.landscape else "") + "\n",
    ]
    # page header: the titles (bold) and the population line, then one empty line
    out.append("{\\header\n")
    for text in table.titles:
        out.append(f"\\pard\\plain\\qc\\keepn{_TITLE_FONT}\\b {rtf_text(text)}\\par\n")
    if table.population:
        out.append(f"\\pard\\plain\\qc\\keepn{_TITLE_FONT} {rtf_text(table.population)}\\par\n")
    out.append(f"\\pard\\plain\\qc{_BODY_FONT}\\par\n}}\n")
    # page footer: footnotes, source line, program line with Page X of Y at the right
    out.append("{\\footer\n")
    out.append(f"\\pard\\plain\\ql{_NOTE_FONT}\\par\n")
    for text in table.footnotes:
        out.append(f"\\pard\\plain\\ql{_NOTE_FONT} {rtf_text(text)}\\par\n")
    if table.source:
        out.append(f"\\pard\\plain\\ql{_NOTE_FONT} {rtf_text(table.source)}\\par\n")
    out.append(f"\\pard\\plain\\ql\\tqr\\tx{usable}{_NOTE_FONT} {rtf_text(table.program)}"
               "\\tab Page {\\field{\\*\\fldinst PAGE}{\\fldrslt 1}} of "
               "{\\field{\\*\\fldinst NUMPAGES}{\\fldrslt 1}}\\par\n}\n")
    # column header rows, repeated on every page
    for k, row in enumerate(table.headers):
        last = k == len(table.headers) - 1
        cells, bottom, start = [], [], 0
        for text, span in row:
            align = "\\ql" if start == 0 and span == 1 else "\\qc"
            if not last and span > 1 and text.strip():
                # underlined by a paragraph border, which stops at the cell's padding, so
                # that the lines under spanned cells side by side stay apart
                align += f"\\brdrb{_RULE}\\brsp20"
            cells.append((edges[start + span - 1], f"{align}{_BODY_FONT}", rtf_text(text)))
            bottom.append(last)
            start += span
        out.append(_rtf_row(cells, header=True, top=k == 0, bottom=bottom,
                            valign="\\clvertalb"))
    out.append(_rtf_body(table, edges))  # body rows
    out.append("\\pard\\plain\\f0\\fs2\\par\n}\n")  # a paragraph after the table, 1 pt high
    return "".join(out)


def _rtf_body(table: Table, edges: list[int]) -> str:
    """The body rows of ``table`` as RTF, with a section heading row (bold, kept with the row
    under it) wherever the section changes. Made a column at a time, like the workbook's body
    (:func:`_xlsx_body`): each column's distinct texts made RTF once, a cell's paragraph
    formatting from the few combinations of alignment, indent level and bold, the rows put
    together on whole arrays of strings. A table without body rows: the one row across it
    that reads :data:`NO_RECORDS`."""
    if not table.rows:
        return _rtf_row([(edges[-1], f"\\qc{_BODY_FONT}", rtf_text(NO_RECORDS))], bottom=[True])
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from ..derive.columns import codes_text, concat_text, text_bytes

    count, n = len(table.rows), table.columns
    texts, heading, strong, levels = _body_arrays(table)
    parts: list = []  # per row: each cell's paragraph formatting and text
    for j in range(n):
        level = levels if j == 0 else np.zeros(count, dtype=np.int64)
        kinds, kind = np.unique(level * 2 + strong, return_inverse=True)
        starts = [f"\\pard\\plain\\intbl\\widctlpar{_ALIGN[table.align[j]]}"
                  + (f"\\li{INDENT_TWIPS * (k >> 1)}" if k >> 1 else "") + _BODY_FONT
                  + ("\\b" if k & 1 else "") + " " for k in kinds.tolist()]
        codes, distinct = pd.factorize(texts[:, j], use_na_sentinel=False)
        parts += [starts[0] if len(starts) == 1 else codes_text(starts, kind.reshape(-1)),
                  codes_text([rtf_text(t) for t in distinct], codes), "\\cell\n"]
    # each row's definition (its cells' edges and lines) before its cells; a line under the last
    rows = concat_text([_rtf_row_start(edges), *parts, "\\row\n"])
    last = concat_text([_rtf_row_start(edges, bottom=[True] * n),
                        *(part if isinstance(part, str) else part.slice(count - 1) for part in parts),
                        "\\row\n"])
    rows = pa.concat_arrays([rows.slice(0, count - 1), last])
    headings = [_rtf_row([(edges[-1], f"\\ql{_BODY_FONT}\\b", rtf_text(table.section[i]))],
                         bottom=[False], keep_next=True) for i in np.flatnonzero(heading).tolist()]
    body, _ = _with_headings(rows, headings, heading)
    return text_bytes(body).decode("ascii")


def _body_arrays(table: Table):
    """The body of ``table`` (at least one row) as arrays, for the writers that lay it out a
    column at a time: ``(texts, heading, strong, levels)``, the texts as a (rows, columns)
    array; per row, whether a section heading row comes above it (where ``table.section``
    changes, the first row too, and the new section is not empty), whether it is bold, and
    its first column's indent level."""
    import numpy as np

    count = len(table.rows)
    texts = np.empty((count, table.columns), dtype=object)
    texts[:] = table.rows
    heading = np.zeros(count, dtype=bool)
    if table.section is not None:
        sections = np.array(table.section, dtype=object)
        heading[0] = True
        heading[1:] = sections[1:] != sections[:-1]
        heading &= sections != ""
    strong = np.zeros(count, dtype=bool) if table.emphasis is None \
        else np.array(table.emphasis, dtype=bool)
    levels = np.zeros(count, dtype=np.int64) if table.indent is None \
        else np.array(table.indent, dtype=np.int64)
    return texts, heading, strong, levels


def _with_headings(rows, headings: list[str], heading):
    """The body rows (a text array, one per row) with the section heading rows (one text per
    True in ``heading``) each put above its row: ``(texts, places)``, ``places`` each text's
    position among the body's rows (0 the first)."""
    import numpy as np
    import pyarrow as pa

    from ..derive.columns import TEXT

    place = np.arange(len(heading)) + np.cumsum(heading)  # a heading takes the place above
    every = np.concatenate([place, place[heading] - 1])
    order = np.argsort(every, kind="stable")
    texts = pa.concat_arrays([rows, pa.array(headings, type=TEXT)]).take(pa.array(order))
    return texts, every[order]


def write_rtf(table: Table, path: Path) -> None:
    """Write ``table`` as an RTF file (ASCII, RTF 1.x for Word and LibreOffice).

    The titles and the population line are in the page header, the footnotes, the source line
    and the program line with "Page X of Y" (PAGE and NUMPAGES fields) in the page footer, so
    they are on every page. The column header rows are table rows marked ``\\trhdr`` (repeated
    on every page); a spanned header cell is one cell whose right edge is that of its last
    column. Widths are fixed in twips: ``table.widths`` scaled to the usable width (6.5 in
    portrait, 9 in landscape). A line above the header, under the header (and under a spanned
    header cell with text), and under the last body row; no vertical lines. Body rows are
    ``\\trkeep`` (never split across pages), a section heading row is ``\\trkeepfollow`` and
    ``\\keepn`` (kept with the row under it). A table without body rows has one row across the
    table that reads :data:`NO_RECORDS`. The same table gives the same bytes."""
    Path(path).write_bytes(rtf_document(table).encode("ascii"))


# --------------------------------------------------------------------------------------------
# XLSX (report/xlsx.py)


def sheet_title(name: str) -> str:
    """The sheet name for a table: the characters Excel refuses (``[]:*?/\\``) as ``_``, at
    most 31 characters, ``Table`` when nothing is left."""
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31]
    return cleaned or "Table"


def column_characters(widths: list[float], landscape: bool) -> list[float]:
    """Column widths in characters: ``widths`` scaled to a total of 120 (landscape) or 90
    (portrait), rounded to 0.01."""
    whole = sum(widths)
    total = XLSX_CHARACTERS[landscape]
    return [round(total * w / whole, 2) for w in widths]


def _footer_text(text: str) -> str:
    """Text for an Excel header/footer section, where ``&`` starts a code."""
    return text.replace("&", "&&")


XLSX_FIT = 1.6
"""Characters of 9 pt Times New Roman that fit in one unit of an Excel column width (the
width of a "0" of the default font, Calibri 11): about 1.75 in LibreOffice, taken a little
lower to be on the safe side; 10 pt text fits ``XLSX_FIT * 0.9``, 8 pt ``XLSX_FIT * 9 / 8``."""


def wrapped_lines(text: str, width: float, points: float = 9, indent: int = 0) -> int:
    """How many lines ``text`` takes in a wrapped cell ``width`` characters wide: an estimate,
    from which the writer sets each row's height (LibreOffice does not size a row to its
    wrapped text when it opens the file, Excel never does for merged cells). Words are wrapped
    greedily, a word longer than a line is broken; an indent level takes 3 characters."""
    capacity = max(1, int(width * XLSX_FIT * 9 / points) - 3 * indent - 1)
    lines = 0
    for paragraph in text.split("\n"):
        count, used = 1, 0
        for word in paragraph.split(" "):
            size = len(word)
            while size > capacity:  # a word longer than the line is broken
                if used:
                    count, used = count + 1, 0
                size -= capacity
                count += 1
            if used and used + 1 + size > capacity:
                count, used = count + 1, size
            else:
                used += (1 if used else 0) + size
        lines += count
    return lines


def write_xlsx(table: Table, path: Path) -> None:
    """Write ``table`` as an XLSX workbook of one sheet (``sheet_title(table.name)``).

    From the top: the title lines (bold, 10 pt) and the population line, each merged across
    the table and centred; an empty row; the header rows (bold, centred, wrapped, a spanned
    cell merged, a line above the first and under the last header row and under a spanned cell
    with text); the body rows (a bold section heading row merged across the table whenever the
    section changes, the first column indented by ``table.indent`` levels, bold rows for
    ``table.emphasis``, the alignment of each column, text wrapped); an empty row, then the
    footnotes, the source and the program line (8 pt), each merged across the table and
    wrapped. Column widths are fixed (:func:`column_characters`) and every row's height is set
    from its text (:func:`wrapped_lines`). Printed: letter paper in the table's orientation,
    fit to one page wide, the title and header rows repeated on every page (print titles), the
    program line at the left and "Page &P of &N" at the right of the footer. The panes are
    frozen under the header. A table without body rows has one row across the table that
    reads :data:`NO_RECORDS`."""
    import numpy as np

    from .xlsx import Workbook

    check(table)
    n = table.columns
    characters = column_characters(table.widths, table.landscape)
    total = sum(characters)
    book = Workbook()
    sheet = book.sheet(sheet_title(table.name))
    font = "Times New Roman"
    plain, bold = (font, 9, False), (font, 9, True)
    horizontal = {"l": "left", "c": "center", "r": "right"}
    line_height = {8: 11.0, 9: 12.0, 10: 13.5}  # points per line of text, by font size

    def across(line: int, text: str, cell_font, align: str, under: bool = False) -> str:
        """The row of ``text`` in a cell merged across the table, high enough for its lines."""
        cells = [(1, sheet.style(cell_font, under=under, alignment=(align, "top", True, 0)), text)]
        cells += [(c, sheet.style(under=True), "") for c in range(2, n + 1) if under]
        if n > 1:
            sheet.merge(line, 1, n)
        size = cell_font[1]
        return sheet.row_xml(line, cells, line_height[size] * wrapped_lines(text, total, size))

    def put(line: int, xml: str) -> None:
        sheet.add(np.array([line]), [xml])

    line = 1
    for text in table.titles:
        put(line, across(line, text, (font, 10, True), "center"))
        line += 1
    if table.population:
        put(line, across(line, table.population, (font, 10, False), "center"))
        line += 1
    line += 1
    for k, row in enumerate(table.headers):
        last = k == len(table.headers) - 1
        column, lines, cells = 1, 1, []
        for text, span in row:
            underline = last or (span > 1 and text.strip() != "")
            align = "left" if column == 1 and span == 1 else "center"
            cells.append((column, sheet.style(bold, k == 0, underline, (align, "bottom", True, 0)),
                          text))
            cells += [(c, sheet.style(None, k == 0, underline), "")  # a merged cell's borders
                      for c in range(column + 1, column + span)]     # are its cells'
            if span > 1:
                sheet.merge(line, column, column + span - 1)
            lines = max(lines, wrapped_lines(text, sum(characters[column - 1:column - 1 + span])))
            column += span
        sheet.row(line, cells, line_height[9] * lines)
        line += 1
    sheet.frozen_under = line - 1  # the panes frozen under the header
    sheet.print_rows = (1, line - 1)  # titles and header on every printed page
    if table.rows:
        line = _xlsx_body(sheet, table, line, characters, horizontal, bold, plain, across)
    else:
        put(line, across(line, NO_RECORDS, plain, "center", under=True))
        line += 1
    line += 1
    for text in [*table.footnotes, table.source, table.program]:
        if text:
            put(line, across(line, text, (font, 8, False), "left"))
            line += 1
    sheet.widths = characters
    sheet.landscape = table.landscape
    # the footer: program line at the left, page numbers at the right, 8 pt (Excel: 255 in all)
    sheet.footer = f"&L&8 {_footer_text(table.program[:200])}&R&8 Page &P of &N"
    book.save(path)


def _xlsx_body(sheet, table: Table, line: int, characters: list[float], horizontal: dict,
               bold, plain, across) -> int:
    """Add the body rows of ``table`` from row ``line`` on, with a section heading row
    wherever the section changes; returns the row after them. Made a column at a time: each
    column's distinct texts escaped and measured once, its styles from the few combinations
    of bold, indent level and the line under the last row."""
    import numpy as np
    import pandas as pd

    from .xlsx import xml_text

    count, n = len(table.rows), table.columns
    texts, heading, strong, levels = _body_arrays(table)
    lines = line + np.arange(count) + np.cumsum(heading)  # a heading takes the row above
    under = np.zeros(count, dtype=bool)
    under[-1] = True  # a line under the last body row
    height_lines = np.ones(count, dtype=np.int64)
    columns = []
    for j in range(n):
        level = levels if j == 0 else np.zeros(count, dtype=np.int64)
        kinds, kind = np.unique(level * 4 + strong * 2 + under, return_inverse=True)
        styles = np.array([sheet.style(bold if k & 2 else plain, under=bool(k & 1),
                                       alignment=(horizontal[table.align[j]], "top", True, int(k >> 2)))
                           for k in kinds.tolist()], dtype=np.int64)[kind.reshape(-1)]
        codes, distinct = pd.factorize(texts[:, j], use_na_sentinel=False)
        step = int(level.max()) + 1  # the distinct (text, indent level) pairs, measured once
        pairs, pair = np.unique(codes * step + level, return_inverse=True)
        wrapped = np.array([wrapped_lines(distinct[p // step], characters[j], indent=p % step)
                            for p in pairs.tolist()], dtype=np.int64)
        height_lines = np.maximum(height_lines, wrapped[pair.reshape(-1)])
        columns.append((styles, codes, [xml_text(t) for t in distinct]))
    xml = sheet.rows_xml(lines, 12.0 * height_lines, columns)
    at = np.flatnonzero(heading)
    headings = [across(int(row), table.section[i], bold, "left")
                for row, i in zip((lines[at] - 1).tolist(), at.tolist())]
    body, places = _with_headings(xml, headings, heading)
    sheet.add(line + places, body)
    return int(lines[-1]) + 1


def write_tables(tables: list[Table], folder: Path) -> list[Path]:
    """Write every table as ``folder/<name>.rtf`` and ``.xlsx``; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        for suffix, writer in ((".rtf", write_rtf), (".xlsx", write_xlsx)):
            path = folder / f"{table.name}{suffix}"
            writer(table, path)
            written.append(path)
    return written
