"""The package's first writers of a reviewer table, which laid out the body one row and one
cell at a time (until 2026-12): kept here as the second implementation the tests compare the
package's column-at-a-time writers with (``tables._rtf_body``, ``tables._xlsx_body`` and
``itp_adam.report.xlsx``). The RTF body must be the same bytes; the workbook, written then
with openpyxl (one object per cell), must read back the same with openpyxl."""

from __future__ import annotations

from pathlib import Path

from itp_adam.report.tables import (_ALIGN, _BODY_FONT, INDENT_TWIPS, NO_RECORDS, Table,
                                    _footer_text, _rtf_row, check, column_characters,
                                    rtf_text, sheet_title, wrapped_lines)


def _body(table: Table):
    """The body as (kind, row index, texts): a ``section`` heading when the section changes
    (an empty heading writes no row), the ``row`` itself, or the one ``empty`` row."""
    if not table.rows:
        yield "empty", -1, [NO_RECORDS]
        return
    current = None
    for i, row in enumerate(table.rows):
        if table.section is not None and table.section[i] != current:
            current = table.section[i]
            if current:
                yield "section", i, [current]
        yield "row", i, row


def rtf_body_by_rows(table: Table, edges: list[int]) -> str:
    """The RTF of ``table``'s body rows (``edges``: the columns' right edges in twips), one row
    and one cell at a time, as ``rtf_document`` made them until 2026-12."""
    n = table.columns
    out = []
    # body rows
    body = list(_body(table))
    for m, (kind, i, texts) in enumerate(body):
        last = m == len(body) - 1
        if kind == "row":
            cells = []
            for j, text in enumerate(texts):
                formatting = _ALIGN[table.align[j]]
                if j == 0 and table.indent is not None and table.indent[i] > 0:
                    formatting += f"\\li{INDENT_TWIPS * table.indent[i]}"
                formatting += _BODY_FONT
                if table.emphasis is not None and table.emphasis[i]:
                    formatting += "\\b"
                cells.append((edges[j], formatting, rtf_text(text)))
            out.append(_rtf_row(cells, bottom=[last] * n))
        else:  # a section heading (bold, kept with the next row) or the "No records." row
            bold = "\\b" if kind == "section" else ""
            align = "\\ql" if kind == "section" else "\\qc"
            out.append(_rtf_row([(edges[-1], f"{align}{_BODY_FONT}{bold}", rtf_text(texts[0]))],
                                bottom=[last], keep_next=kind == "section" and not last))
    return "".join(out)


def write_xlsx_openpyxl(table: Table, path: Path) -> None:
    """The table as the package wrote it with openpyxl (see the module docstring)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.page import PageMargins

    check(table)
    n = table.columns
    characters = column_characters(table.widths, table.landscape)
    total = sum(characters)
    book = Workbook()
    sheet = book.active
    sheet.title = sheet_title(table.name)
    thin = Side(style="thin")
    font = "Times New Roman"
    plain, bold = Font(name=font, size=9), Font(name=font, size=9, bold=True)
    horizontal = {"l": "left", "c": "center", "r": "right"}
    line_height = {8: 11.0, 9: 12.0, 10: 13.5}  # points per line of text, by font size

    def height(line: int, lines: int, points: int) -> None:
        sheet.row_dimensions[line].height = line_height[points] * lines

    def across(line: int, text: str, cell_font: Font, align: str) -> None:
        """``text`` in a cell merged across the table, the row high enough for its lines."""
        cell = sheet.cell(line, 1, text)
        cell.font = cell_font
        cell.alignment = Alignment(horizontal=align, vertical="top", wrap_text=True)
        if n > 1:
            sheet.merge_cells(start_row=line, start_column=1, end_row=line, end_column=n)
        points = int(cell_font.sz)
        height(line, wrapped_lines(text, total, points), points)

    line = 1
    for text in table.titles:
        across(line, text, Font(name=font, size=10, bold=True), "center")
        line += 1
    if table.population:
        across(line, table.population, Font(name=font, size=10), "center")
        line += 1
    line += 1
    for k, row in enumerate(table.headers):
        last = k == len(table.headers) - 1
        column, lines = 1, 1
        for text, span in row:
            underline = last or (span > 1 and text.strip() != "")
            for c in range(column, column + span):  # a merged cell's borders are its cells'
                sheet.cell(line, c).border = Border(top=thin if k == 0 else None,
                                                    bottom=thin if underline else None)
            cell = sheet.cell(line, column, text)
            cell.font = bold
            cell.alignment = Alignment(horizontal="left" if column == 1 and span == 1
                                       else "center", vertical="bottom", wrap_text=True)
            if span > 1:
                sheet.merge_cells(start_row=line, start_column=column, end_row=line,
                                  end_column=column + span - 1)
            lines = max(lines, wrapped_lines(text, sum(characters[column - 1:column - 1 + span])))
            column += span
        height(line, lines, 9)
        line += 1
    header_end = line - 1
    sheet.freeze_panes = sheet.cell(line, 1)
    body = list(_body(table))
    aligned: dict[tuple[str, int], Alignment] = {}  # one object per style: openpyxl hashes
    # a cell's style objects to find their ids, and a new object per cell cost 3/4 of the time

    def alignment(align: str, level: int) -> Alignment:
        if (align, level) not in aligned:
            aligned[align, level] = Alignment(horizontal=horizontal[align], vertical="top",
                                              wrap_text=True, indent=level)
        return aligned[align, level]

    for m, (kind, i, texts) in enumerate(body):
        if kind == "row":
            strong = table.emphasis is not None and table.emphasis[i]
            lines = 1
            for j, text in enumerate(texts):
                cell = sheet.cell(line, j + 1, text)
                cell.font = bold if strong else plain
                level = table.indent[i] if j == 0 and table.indent is not None else 0
                cell.alignment = alignment(table.align[j], level)
                lines = max(lines, wrapped_lines(text, characters[j], indent=level))
            height(line, lines, 9)
        else:
            across(line, texts[0], bold if kind == "section" else plain,
                   "left" if kind == "section" else "center")
        if m == len(body) - 1:
            for c in range(1, n + 1):
                sheet.cell(line, c).border = Border(bottom=thin)
        line += 1
    line += 1
    for text in [*table.footnotes, table.source, table.program]:
        if text:
            across(line, text, Font(name=font, size=8), "left")
            line += 1
    for j, width in enumerate(characters):
        sheet.column_dimensions[get_column_letter(j + 1)].width = width
    sheet.print_title_rows = f"1:{header_end}"
    setup = sheet.page_setup
    setup.orientation = "landscape" if table.landscape else "portrait"
    setup.paperSize = sheet.PAPERSIZE_LETTER
    setup.fitToWidth = 1
    setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins = PageMargins(left=1, right=1, top=1, bottom=1, header=0.5, footer=0.5)
    sheet.oddFooter.left.text = _footer_text(table.program[:200])  # Excel: 255 in all
    sheet.oddFooter.left.size = 8
    sheet.oddFooter.right.text = "Page &P of &N"
    sheet.oddFooter.right.size = 8
    book.save(path)

