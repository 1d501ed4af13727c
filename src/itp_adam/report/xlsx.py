"""A small SpreadsheetML (XLSX) writer: sheets of text and number cells, written as their XML parts.

The reviewer tables (:func:`itp_adam.report.tables.write_xlsx`) need text cells with a few
styles (font size and weight, a line above or under, alignment, indent, wrap), merged cells,
row heights, column widths, frozen panes, print titles, page setup and a footer. openpyxl did
this one Python object per cell (about 300 microseconds a cell: a 140,000-row listing took
40 s); here the rows are XML text, and a body of many rows is made a column at a time
(:meth:`Sheet.rows_xml`), so a listing of every adverse event costs about what its RTF costs.

The file is the same bytes for the same sheet (no save time, fixed times in the ZIP), and
holds only what a spreadsheet application needs: ``[Content_Types].xml``, the relationships,
``xl/workbook.xml`` (the sheet and its print titles), ``xl/styles.xml`` and the sheet. Text is
written as inline strings (as openpyxl wrote it); characters XML 1.0 cannot hold (control
characters other than tab and line feed) are left out, as the RTF writer leaves them out.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same sheet
ZIP_LEVEL = 6
"""zlib level of the parts (listings' sheet XML shrinks about 20x)."""


def xml_text(text: str) -> str:
    """``text`` as XML character data: ``&``, ``<``, ``>`` escaped, a CR LF as LF, characters
    XML 1.0 cannot hold left out."""
    text = text.replace("\r\n", "\n").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _NOT_XML.sub("", text)


def xml_attribute(text: str) -> str:
    """``text`` inside a double-quoted XML attribute."""
    return xml_text(text).replace('"', "&quot;")


def column_letter(column: int) -> str:
    """The letters of a column numbered from 1: 1 -> A, 26 -> Z, 27 -> AA."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def points(value: float) -> str:
    """A number of points or characters as the XML writes it: 12.0 -> 12, 13.5 -> 13.5."""
    return f"{value:.10g}"


Font = tuple[str, float, bool]
"""(name, size in points, bold)."""
Alignment = tuple[str, str, bool, int]
"""(horizontal, vertical, wrap text, indent level)."""


class Workbook:
    """A workbook: its sheets and the cell styles they share, saved as one file (:meth:`save`).

    A cell's style is a number from :meth:`style`; sheets are added with :meth:`sheet`."""

    def __init__(self) -> None:
        self.fonts: list[Font] = [("Calibri", 11, False)]  # 0: the workbook's default font
        self.borders: list[tuple[bool, bool]] = [(False, False)]  # (line above, line under)
        self.xfs: list[tuple[int, int, Alignment | None]] = [(0, 0, None)]
        # (kind, value) -> its number in the list of its kind; the defaults above are 0
        self._ids: dict[tuple, int] = {("font", self.fonts[0]): 0, ("border", self.borders[0]): 0,
                                       ("xf", self.xfs[0]): 0}
        self.sheets: list[Sheet] = []

    def sheet(self, title: str) -> Sheet:
        """A new sheet after the others (Excel: at most 31 characters, none of ``\\/?*[]:``)."""
        added = Sheet(title, self)
        self.sheets.append(added)
        return added

    def style(self, font: Font | None = None, above: bool = False, under: bool = False,
              alignment: Alignment | None = None) -> int:
        """The number of the cell style with this font (None: the default), lines and
        alignment (None: none), added when new."""
        font_id = 0 if font is None else self._id("font", font, self.fonts)
        border_id = self._id("border", (above, under), self.borders)
        return self._id("xf", (font_id, border_id, alignment), self.xfs)

    def _id(self, kind: str, value, listed: list) -> int:
        """The number of ``value`` in ``listed`` (its kind's list), appended when new."""
        key = (kind, value)
        found = self._ids.get(key)
        if found is None:
            listed.append(value)
            found = self._ids[key] = len(listed) - 1
        return found

    # -- the parts -------------------------------------------------------------------------

    def styles_xml(self) -> str:
        fonts = "".join(f'<font>{"<b/>" if bold else ""}<sz val="{points(size)}"/>'
                        f'<name val="{xml_attribute(name)}"/></font>'
                        for name, size, bold in self.fonts)
        borders = "".join("<border><left/><right/>"
                          + ('<top style="thin"/>' if above else "<top/>")
                          + ('<bottom style="thin"/>' if under else "<bottom/>")
                          + "<diagonal/></border>" for above, under in self.borders)
        xfs = []
        for font, border, alignment in self.xfs:
            head = (f'<xf numFmtId="0" fontId="{font}" fillId="0" borderId="{border}" xfId="0"'
                    + (' applyFont="1"' if font else "") + (' applyBorder="1"' if border else ""))
            if alignment is None:
                xfs.append(head + "/>")
                continue
            horizontal, vertical, wrap, indent = alignment
            xfs.append(head + ' applyAlignment="1"><alignment'
                       f' horizontal="{horizontal}" vertical="{vertical}"'
                       + (' wrapText="1"' if wrap else "")
                       + (f' indent="{indent}"' if indent else "") + "/></xf>")
        return (f'{_XML}<styleSheet xmlns="{_MAIN}">'
                f'<fonts count="{len(self.fonts)}">{fonts}</fonts>'
                '<fills count="2"><fill><patternFill patternType="none"/></fill>'
                '<fill><patternFill patternType="gray125"/></fill></fills>'
                f'<borders count="{len(self.borders)}">{borders}</borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                "</styleSheet>")

    def workbook_xml(self) -> str:
        sheets, names = [], []
        for k, sheet in enumerate(self.sheets):
            sheets.append(f'<sheet name="{xml_attribute(sheet.title)}" sheetId="{k + 1}" r:id="rId{k + 1}"/>')
            if sheet.print_rows is not None:
                quoted = "'" + sheet.title.replace("'", "''") + "'"
                first, last = sheet.print_rows
                names.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{k}">'
                             f"{xml_text(quoted)}!${first}:${last}</definedName>")
        defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
        return (f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/></bookViews>'
                f'<sheets>{"".join(sheets)}</sheets>{defined}</workbook>')

    def save(self, path: str | Path) -> None:
        """Write the workbook to ``path`` (a ZIP of its XML parts, deflated)."""
        kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        count = len(self.sheets)
        worksheets = [f"worksheets/sheet{k}.xml" for k in range(1, count + 1)]
        parts = {
            "[Content_Types].xml": (
                f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{kinds}.sheet.main+xml"/>'
                + "".join(f'<Override PartName="/xl/{name}" ContentType="{kinds}.worksheet+xml"/>'
                          for name in worksheets)
                + f'<Override PartName="/xl/styles.xml" ContentType="{kinds}.styles+xml"/></Types>'),
            "_rels/.rels": (
                f'{_XML}<Relationships xmlns="{_PACKAGE_REL}"><Relationship Id="rId1" '
                f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
            "xl/workbook.xml": self.workbook_xml(),
            "xl/_rels/workbook.xml.rels": (
                f'{_XML}<Relationships xmlns="{_PACKAGE_REL}">'
                + "".join(f'<Relationship Id="rId{k}" Type="{_REL}/worksheet" Target="{name}"/>'
                          for k, name in enumerate(worksheets, start=1))
                + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                "</Relationships>"),
            "xl/styles.xml": self.styles_xml(),
            **{f"xl/{name}": sheet.sheet_xml() for name, sheet in zip(worksheets, self.sheets)},
        }
        with zipfile.ZipFile(path, "w") as book:
            for name, text in parts.items():
                book.writestr(zipfile.ZipInfo(name, _ZIP_TIME),
                              text if isinstance(text, bytes) else text.encode("utf-8"),
                              compress_type=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL)


class Sheet:
    """One worksheet of a :class:`Workbook` (:meth:`Workbook.sheet`), built top row first.

    Rows are added in increasing order: one with :meth:`row`, or many with :meth:`add`, their
    XML made by :meth:`row_xml` (a few cells, given one by one) and :meth:`rows_xml` (many rows
    of the same columns, given as whole columns). Cell styles are the workbook's
    (:meth:`style`)."""

    def __init__(self, title: str, book: Workbook) -> None:
        self.title = title
        self.book = book
        self.parts: list[bytes] = []  # the rows' XML, in order (UTF-8)
        self.merges: list[str] = []
        self.last_line = 0
        self.last_column = 0
        self.widths: list[float] = []
        self.frozen_under: int | None = None
        self.print_rows: tuple[int, int] | None = None
        self.landscape = False
        self.footer = ""

    def style(self, font: Font | None = None, above: bool = False, under: bool = False,
              alignment: Alignment | None = None) -> int:
        """The workbook's :meth:`Workbook.style`."""
        return self.book.style(font, above, under, alignment)

    def row(self, line: int, cells: Sequence[tuple[int, int, str | int | float]],
            height: float | None = None) -> None:
        """Add row ``line`` (after the rows so far): :meth:`row_xml`."""
        self.add(np.array([line]), [self.row_xml(line, cells, height)])

    def row_xml(self, line: int, cells: Sequence[tuple[int, int, str | int | float]],
                height: float | None = None) -> str:
        """The XML of row ``line`` (from 1): its cells as (column from 1, style, value: a text,
        or a number written as a number; an empty text writes a styled cell without a value),
        its height in points (None: the default)."""
        xml = "".join(_cell(f"{column_letter(column)}{line}", style, value)
                      for column, style, value in cells)
        self.last_column = max([self.last_column, *(column for column, _, _ in cells)])
        return f'<row r="{line}"{_height(height)}>{xml}</row>'

    def rows_xml(self, lines: np.ndarray, heights: np.ndarray,
                 columns: Sequence[tuple[np.ndarray, np.ndarray, Sequence[str]]]) -> pa.Array:
        """The XML of many rows of the same columns, one per entry of ``lines``: their heights
        in points, and per column from A on, (per row the cell's style; per row the code of
        its text; the distinct texts as XML character data, :func:`xml_text`; an empty text:
        a styled cell without a value). Put together a column at a time by pyarrow
        (``columns.concat_text``); a text array, one row's XML per entry."""
        from ..derive.columns import codes_text, concat_text

        line_text = pa.array(np.asarray(lines, dtype=np.int64)).cast(pa.string())
        distinct, which = np.unique(np.asarray(heights, dtype=float), return_inverse=True)
        parts: list = ['<row r="', line_text, '" ht="',
                       codes_text([points(h) for h in distinct], which.reshape(-1)),
                       '" customHeight="1">']
        for k, (styles, codes, texts) in enumerate(columns, start=1):
            kinds, kind = np.unique(np.asarray(styles, dtype=np.int64), return_inverse=True)
            start = ['<c r="', column_letter(k), line_text, '" s="',
                     codes_text([str(style) for style in kinds.tolist()], kind.reshape(-1))]
            filled = pa.array(np.asarray([text != "" for text in texts], dtype=bool)[codes])
            parts.append(pc.if_else(filled, concat_text(
                [*start, '" t="inlineStr"><is><t xml:space="preserve">', codes_text(texts, codes),
                 "</t></is></c>"]), concat_text([*start, '"/>'])))
        self.last_column = max(self.last_column, len(columns))
        return concat_text([*parts, "</row>"])

    def add(self, lines: np.ndarray, xml: pa.Array | Sequence[str]) -> None:
        """Add rows made by :meth:`row_xml` or :meth:`rows_xml`: ``lines`` increasing, after
        the rows so far; ``xml`` their XML, a text each."""
        from ..derive.columns import TEXT, text_bytes

        if not len(lines):
            return
        if lines[0] <= self.last_line or (len(lines) > 1 and not (np.diff(lines) > 0).all()):
            raise ValueError(f"sheet rows must be added in order (after row {self.last_line})")
        self.parts.append(text_bytes(xml if isinstance(xml, pa.Array) else pa.array(xml, type=TEXT)))
        self.last_line = int(lines[-1])

    def merge(self, line: int, first: int, last: int) -> None:
        """Merge columns ``first`` .. ``last`` (from 1) of row ``line``."""
        self.merges.append(f'<mergeCell ref="{column_letter(first)}{line}:{column_letter(last)}{line}"/>')

    # -- the parts -------------------------------------------------------------------------

    def sheet_xml(self) -> bytes:
        pane = ""
        if self.frozen_under:
            top = f"A{self.frozen_under + 1}"
            pane = (f'<pane ySplit="{self.frozen_under}" topLeftCell="{top}" activePane="bottomLeft" '
                    f'state="frozen"/><selection pane="bottomLeft" activeCell="{top}" sqref="{top}"/>')
        cols = "".join(f'<col min="{k}" max="{k}" width="{points(w)}" customWidth="1"/>'
                       for k, w in enumerate(self.widths, start=1))
        last = f"{column_letter(max(self.last_column, 1))}{max(self.last_line, 1)}"
        merges = (f'<mergeCells count="{len(self.merges)}">{"".join(self.merges)}</mergeCells>'
                  if self.merges else "")
        orientation = "landscape" if self.landscape else "portrait"
        head = (f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
                '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
                f'<dimension ref="A1:{last}"/>'
                f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>'
                '<sheetFormatPr defaultRowHeight="15"/>'
                + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>")
        tail = ("</sheetData>" + merges
                + '<pageMargins left="1" right="1" top="1" bottom="1" header="0.5" footer="0.5"/>'
                f'<pageSetup paperSize="1" orientation="{orientation}" fitToWidth="1" fitToHeight="0"/>'
                f"<headerFooter><oddFooter>{xml_text(self.footer)}</oddFooter></headerFooter>"
                "</worksheet>")
        return b"".join([head.encode("utf-8"), *self.parts, tail.encode("utf-8")])


def _cell(ref: str, style: int, value: str | int | float) -> str:
    if isinstance(value, bool):
        return f'<c r="{ref}" s="{style}" t="b"><v>{int(value)}</v></c>'
    if not isinstance(value, str):  # a number
        if not math.isfinite(value):
            raise ValueError(f"cell {ref}: a spreadsheet number cannot be {value}")
        return f'<c r="{ref}" s="{style}"><v>{value!r}</v></c>'
    text = value
    if not text:
        return f'<c r="{ref}" s="{style}"/>'
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{xml_text(text)}</t></is></c>'


def _height(height: float | None) -> str:
    return "" if height is None else f' ht="{points(height)}" customHeight="1"'
