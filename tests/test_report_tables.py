"""The reviewer-table writers (itp_adam.report.tables): the RTF read back by a small reader of
its own (below, independent of the writer), the XLSX read back with openpyxl. Expected numbers
are worked out by hand in the comments."""

from __future__ import annotations

import re

import pytest

from itp_adam.report.tables import NO_RECORDS, Table, write_rtf, write_xlsx

# --------------------------------------------------------------------------------------------
# A small RTF reader: tokens -> nested groups; text with \uN? decoded; table rows


_TOKEN = re.compile(r"\\([a-zA-Z]+)(-?\d+)? ?|\\([^a-zA-Z])|([{}])|([^\\{}\r\n]+)|[\r\n]+")


def parse(rtf: str) -> list:
    """The document as nested lists: a group is a list of items, an item is a group,
    ("w", word, param) or ("t", text). Raises on unbalanced braces or left-over text."""
    root: list = []
    stack = [root]
    for m in _TOKEN.finditer(rtf):
        word, param, symbol, brace, text = m.groups()
        if brace == "{":
            group: list = []
            stack[-1].append(group)
            stack.append(group)
        elif brace == "}":
            stack.pop()
            assert stack, "a closing brace too many"
        elif word is not None:
            stack[-1].append(("w", word, None if param is None else int(param)))
        elif symbol is not None:
            if symbol in "\\{}":
                stack[-1].append(("t", symbol))
            else:
                stack[-1].append(("w", symbol, None))
        elif text is not None:
            stack[-1].append(("t", text))
    assert len(stack) == 1, "a group left open"
    assert len(root) == 1 and isinstance(root[0], list), "not one top-level group"
    return root[0]


def words(group: list) -> list[str]:
    return [item[1] for item in group if isinstance(item, tuple) and item[0] == "w"]


def find_group(group: list, first_word: str) -> list | None:
    """The first group (depth first) whose first item is the control word ``first_word``."""
    for item in group:
        if isinstance(item, list):
            if item and isinstance(item[0], tuple) and item[0][:2] == ("w", first_word):
                return item
            found = find_group(item, first_word)
            if found is not None:
                return found
    return None


def plain_text(items: list) -> str:
    """The text of ``items``: \\uN? decoded (UTF-16 units, the ? skipped), \\par and \\line as
    a new line, \\cell as |, \\tab as a tab, a field as <its instruction>, ``\\*`` groups and
    font and colour tables skipped."""
    units: list[int] = []
    skip = 0

    def add(s: str) -> None:
        units.extend(int.from_bytes(s.encode("utf-16-be")[k:k + 2], "big")
                     for k in range(0, len(s.encode("utf-16-be")), 2))

    for item in items:
        if isinstance(item, list):
            head = words(item[:1])
            if head and head[0] == "field":
                inst = find_group(item, "*")
                add("<" + plain_text([i for i in inst if i != ("w", "*", None)]).strip() + ">")
            elif head and head[0] in ("*", "fonttbl", "colortbl"):
                continue
            else:
                add(plain_text(item))
            continue
        kind = item[0]
        if kind == "w":
            name, param = item[1], item[2]
            if name == "u":
                units.append(param & 0xFFFF)
                skip = 1
            elif name in ("par", "line"):
                add("\n")
            elif name == "cell":
                add("|")
            elif name == "tab":
                add("\t")
        else:
            text = item[1]
            if skip:
                text, skip = text[skip:], 0
            add(text)
    data = b"".join(u.to_bytes(2, "big") for u in units)
    return data.decode("utf-16-be")


def table_rows(doc: list) -> list[dict]:
    """The table rows of the document body: per row its row words (before the first \\pard),
    its \\cellx edges, the cell words per cell definition, and per cell its paragraph words
    and text."""
    rows, current = [], None
    for item in doc:
        if isinstance(item, tuple) and item[:2] == ("w", "trowd"):
            current = {"row": [], "cellx": [], "celldefs": [], "cells": [], "_def": [],
                       "_par": [], "_text": [], "_in_cells": False}
            continue
        if current is None:
            continue
        if isinstance(item, tuple) and item[0] == "w":
            name, param = item[1], item[2]
            if name == "row":
                rows.append({k: v for k, v in current.items() if not k.startswith("_")})
                current = None
            elif name == "cellx":
                current["cellx"].append(param)
                current["celldefs"].append(current["_def"])
                current["_def"] = []
            elif name == "pard":
                current["_in_cells"] = True
                current["_par"], current["_text"] = [], []
            elif name == "cell":
                current["cells"].append({"words": current["_par"],
                                         "text": plain_text(current["_text"])})
            elif not current["_in_cells"]:
                (current["_def"] if name.startswith(("cl", "brdr")) else current["row"]).append(
                    name if param is None else f"{name}{param}")
            else:
                current["_par"].append(name if param is None else f"{name}{param}")
                current["_text"].append(item)
        elif current["_in_cells"]:
            current["_text"].append(item)
    return rows


def read_rtf(path) -> tuple[str, list]:
    raw = path.read_bytes()
    assert max(raw) < 128, "not ASCII"
    text = raw.decode("ascii")
    return text, parse(text)


# --------------------------------------------------------------------------------------------
# Tables


def simple(**changes) -> Table:
    fields = dict(
        name="t_simple",
        titles=["Table 14.1.1", "Demographics"],
        population="Population: safety (SAFFL = Y), N = 254",
        headers=[[("Characteristic", 1), ("Drug", 1), ("Placebo", 1)]],
        rows=[["Age (years)", "54.1", "53.8"], ["Sex, female", "120 (47.2)", "60 (50.0)"]],
        widths=[1, 1, 2], align=["l", "c", "r"],
        footnotes=["n = subjects.", "Percent = 100 n / N."],
        source="Source: ADaM ADSL; study S-1.", program="itp-adam 0.1.0; run 2026-12-02",
    )
    fields.update(changes)
    return Table(**fields)


def spanned(**changes) -> Table:
    fields = dict(
        name="t_spanned",
        titles=["Table 14.2.1", "Response"],
        population="Population: FAS, N = 10",
        headers=[[("", 1), ("Drug (N = 6)", 2)], [("Visit", 1), ("n/N", 1), ("%", 1)]],
        rows=[["SOC one", "1/6", "16.7"], ["Term a", "1/6", "16.7"], ["SOC two", "2/6", "33.3"],
              ["Term b", "2/6", "33.3"]],
        widths=[1, 1, 2], align=["l", "c", "r"],
        section=["Part A", "Part A", "Part B", "Part B"],
        indent=[0, 1, 0, 2], emphasis=[True, False, True, False],
        footnotes=["Footnote."], source="Source: ADRS.", program="prog",
    )
    fields.update(changes)
    return Table(**fields)


# --------------------------------------------------------------------------------------------
# RTF


def test_rtf_titles_in_header_notes_in_footer(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(simple(), path)
    raw, doc = read_rtf(path)
    header = plain_text(find_group(doc, "header"))
    footer = plain_text(find_group(doc, "footer"))
    assert header.split("\n")[:3] == ["Table 14.1.1", "Demographics",
                                      "Population: safety (SAFFL = Y), N = 254"]
    for text in ("n = subjects.", "Percent = 100 n / N.", "Source: ADaM ADSL; study S-1."):
        assert text in footer.split("\n")
        assert text not in header
    assert "Table 14.1.1" not in footer
    # program line, a right tab, then Page X of Y with both fields and no lost space
    assert "itp-adam 0.1.0; run 2026-12-02\tPage <PAGE> of <NUMPAGES>" in footer
    assert "Page {\\field{\\*\\fldinst PAGE}" in raw
    assert re.search(r"\} of \{\\field\{\\\*\\fldinst NUMPAGES\}", raw)
    # the right tab stop at the usable width (portrait 8.5 - 2 in = 6.5 in = 9360 twips)
    assert "\\tqr\\tx9360" in raw
    # titles bold 10 pt (\fs20), the population line not bold
    title_par = raw[raw.index("{\\header"):raw.index("Table 14.1.1")]
    assert "\\b" in title_par.split("\\pard")[-1] and "\\fs20" in title_par.split("\\pard")[-1]
    # the body (outside header and footer) holds none of the titles
    body = raw[raw.index("\\trowd"):]
    assert "Demographics" not in body and "n = subjects." not in body


def test_rtf_fonts_and_page(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(simple(), path)
    raw, doc = read_rtf(path)
    assert raw.startswith("{\\rtf1\\ansi")
    fonts = find_group(doc, "fonttbl")
    f0 = fonts[1]
    assert words(f0)[:2] == ["f", "froman"] and f0[0][2] == 0
    assert plain_text([i for i in f0 if isinstance(i, tuple) and i[0] == "t"]) == \
        "Times New Roman;"
    assert "\\paperw12240\\paperh15840" in raw and "\\landscape" not in raw
    assert "\\margl1440\\margr1440\\margt1440\\margb1440" in raw
    for row in table_rows(doc):
        for cell in row["cells"]:
            assert "fs18" in cell["words"]  # 9 pt in every cell


def test_rtf_cellx_portrait_and_landscape(tmp_path):
    path = tmp_path / "t.rtf"
    # [1, 1, 2] of 6.5 in = 9360 twips: 2340, 2340, 4680 -> edges 2340, 4680, 9360
    write_rtf(simple(), path)
    rows = table_rows(read_rtf(path)[1])
    assert all(row["cellx"] == [2340, 4680, 9360] for row in rows)
    # landscape: \landscape, 11 x 8.5 in, usable 9 in = 12960 twips: 3240, 6480, 12960
    write_rtf(simple(landscape=True), path)
    raw, doc = read_rtf(path)
    assert "\\landscape" in raw and "\\paperw15840\\paperh12240" in raw
    assert all(row["cellx"] == [3240, 6480, 12960] for row in table_rows(doc))
    # thirds: 9360 / 3 = 3120 exactly; [1, 2] landscape: 12960 / 3 = 4320
    write_rtf(simple(widths=[1, 1, 1]), path)
    assert table_rows(read_rtf(path)[1])[0]["cellx"] == [3120, 6240, 9360]
    write_rtf(simple(widths=[1, 2], align=["l", "c"], headers=[[("a", 1), ("b", 1)]],
                     rows=[["x", "y"]], landscape=True), path)
    assert table_rows(read_rtf(path)[1])[0]["cellx"] == [4320, 12960]
    # [3, 7] in 9360: 2808 (= 9360 * 0.3), 9360
    write_rtf(simple(widths=[3, 7], align=["l", "c"], headers=[[("a", 1), ("b", 1)]],
                     rows=[["x", "y"]]), path)
    assert table_rows(read_rtf(path)[1])[0]["cellx"] == [2808, 9360]


def test_rtf_header_rows_spans_sections(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(spanned(), path)
    raw, doc = read_rtf(path)
    rows = table_rows(doc)
    # 2 header rows, heading "Part A", 2 rows, heading "Part B", 2 rows
    assert len(rows) == 8
    assert ["trhdr" in row["row"] for row in rows] == [True, True] + [False] * 6
    # the spanned header: one cell ending at the last spanned column's edge
    assert rows[0]["cellx"] == [2340, 9360]
    assert [c["text"] for c in rows[0]["cells"]] == ["", "Drug (N = 6)"]
    assert rows[1]["cellx"] == [2340, 4680, 9360]
    assert [c["text"] for c in rows[1]["cells"]] == ["Visit", "n/N", "%"]
    # a line above every cell of the first header row, under every cell of the last
    assert all("clbrdrt" in d for d in rows[0]["celldefs"])
    assert all("clbrdrb" in d for d in rows[1]["celldefs"])
    assert not any("clbrdrt" in d for d in rows[1]["celldefs"])
    # the spanned cell with text is underlined (a paragraph border), the empty one is not
    assert "brdrb" in rows[0]["cells"][1]["words"]
    assert "brdrb" not in rows[0]["cells"][0]["words"]
    # header cells centred, the first column's leaf header left
    assert "qc" in rows[0]["cells"][1]["words"]
    assert [("ql" in c["words"], "qc" in c["words"]) for c in rows[1]["cells"]] == \
        [(True, False), (False, True), (False, True)]
    # sections: one merged cell across, bold, kept with the next row, only when it changes
    texts = [[c["text"] for c in row["cells"]] for row in rows[2:]]
    assert texts == [["Part A"], ["SOC one", "1/6", "16.7"], ["Term a", "1/6", "16.7"],
                     ["Part B"], ["SOC two", "2/6", "33.3"], ["Term b", "2/6", "33.3"]]
    for k in (2, 5):
        assert rows[k]["cellx"] == [9360]
        assert "b" in rows[k]["cells"][0]["words"]
        assert "trkeepfollow" in rows[k]["row"]
    # every row is kept in one piece on a page; no vertical lines anywhere
    assert all("trkeep" in row["row"] for row in rows)
    assert "\\clbrdrl" not in raw and "\\clbrdrr" not in raw
    # the line under the last body row only
    body = rows[2:]
    assert all("clbrdrb" in d for d in body[-1]["celldefs"])
    assert not any("clbrdrb" in d for row in body[:-1] for d in row["celldefs"])
    assert not any("clbrdrt" in d for row in body for d in row["celldefs"])


def test_rtf_alignment_indent_emphasis(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(spanned(), path)
    rows = table_rows(read_rtf(path)[1])
    soc_one, term_a, term_b = rows[3], rows[4], rows[7]
    # per column l, c, r
    assert [[a for a in ("ql", "qc", "qr") if a in c["words"]] for c in term_a["cells"]] == \
        [["ql"], ["qc"], ["qr"]]
    # indent: level 1 = 216 twips (0.15 in), level 2 = 432, level 0 none; first column only
    assert "li216" in term_a["cells"][0]["words"]
    assert "li432" in term_b["cells"][0]["words"]
    assert not any(w.startswith("li") for w in soc_one["cells"][0]["words"])
    assert not any(w.startswith("li") for c in term_b["cells"][1:] for w in c["words"])
    # emphasis: every cell of the row bold; other rows not
    assert all("b" in c["words"] for c in soc_one["cells"])
    assert not any("b" in c["words"] for c in term_a["cells"])


def test_rtf_unicode_and_escapes(tmp_path):
    path = tmp_path / "t.rtf"
    title = "Platelets \u2265 30 \u00d710\u2079/L"  # ≥ 30 ×10⁹/L
    odd = "a{b}c\\d \u00b5g \u00e9t\u00e9 \ufb01 \U0001F600"
    write_rtf(simple(titles=["Table 1", title], rows=[[odd, "1", "2"]]), path)
    raw, doc = read_rtf(path)
    # ≥ U+2265 = 8805, × U+00D7 = 215, ⁹ U+2079 = 8313
    assert "Platelets \\u8805? 30 \\u215?10\\u8313?/L" in raw
    # µ U+00B5 = 181, é U+00E9 = 233; ﬁ U+FB01 = 64257 -> 64257 - 65536 = -1279;
    # U+1F600 -> surrogates D83D (55357 - 65536 = -10179), DE00 (56832 - 65536 = -8704)
    assert "a\\{b\\}c\\\\d \\u181?g \\u233?t\\u233? \\u-1279? \\u-10179?\\u-8704?" in raw
    # read back: the same texts
    assert title in plain_text(find_group(doc, "header"))
    assert table_rows(doc)[1]["cells"][0]["text"] == odd


def test_rtf_line_breaks_and_control_characters(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(simple(rows=[["two\nlines", "a\tb", "x\x07y"]]), path)
    raw, doc = read_rtf(path)
    assert "two\\line lines" in raw
    cells = table_rows(doc)[1]["cells"]
    assert [c["text"] for c in cells] == ["two\nlines", "a\tb", "xy"]


def test_rtf_empty_table(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(spanned(rows=[], section=[], indent=[], emphasis=[]), path)
    raw, doc = read_rtf(path)
    rows = table_rows(doc)
    assert len(rows) == 3  # two header rows and the one "No records." row
    assert NO_RECORDS == "No records."
    assert [c["text"] for c in rows[2]["cells"]] == ["No records."]
    assert rows[2]["cellx"] == [9360]
    assert "trhdr" not in rows[2]["row"]
    assert "clbrdrb" in rows[2]["celldefs"][0]
    assert "Response" in plain_text(find_group(doc, "header"))


def test_rtf_deterministic_and_ascii(tmp_path):
    a, b = tmp_path / "a.rtf", tmp_path / "b.rtf"
    write_rtf(spanned(), a)
    write_rtf(spanned(), b)
    assert a.read_bytes() == b.read_bytes()
    write_rtf(simple(titles=["\u2265 \u00d7"]), a)
    assert max(a.read_bytes()) < 128


def test_rtf_no_sections_no_heading_rows(tmp_path):
    path = tmp_path / "t.rtf"
    write_rtf(spanned(section=None, indent=None, emphasis=None), path)
    rows = table_rows(read_rtf(path)[1])
    assert len(rows) == 2 + 4
    assert all(len(row["cells"]) == 3 for row in rows[1:])


def test_rtf_section_change_back_and_forth(tmp_path):
    # a heading each time the section changes, also back to an earlier one
    path = tmp_path / "t.rtf"
    write_rtf(spanned(section=["A", "B", "B", "A"]), path)
    rows = table_rows(read_rtf(path)[1])
    heads = [row["cells"][0]["text"] for row in rows[2:] if len(row["cells"]) == 1]
    assert heads == ["A", "B", "A"]
    assert len(rows) == 2 + 3 + 4


@pytest.mark.parametrize("change, words_in_message", [
    (dict(rows=[["a", "b"]]), "body row 1 has 2 cells"),
    (dict(headers=[[("a", 1), ("b", 1)]]), "header row 1 spans 2 columns"),
    (dict(align=["l", "c", "x"]), "align"),
    (dict(section=["a"]), "section has 1 entries"),
    (dict(indent=[0, -1]), "indent levels are whole numbers from 0, got -1"),
    (dict(indent=[1.5, 0]), "indent levels are whole numbers from 0, got 1.5"),
])
def test_inconsistent_table_refused(tmp_path, change, words_in_message):
    with pytest.raises(ValueError, match=re.escape(words_in_message)):
        write_rtf(simple(**change), tmp_path / "t.rtf")
    with pytest.raises(ValueError, match=re.escape(words_in_message)):
        write_xlsx(simple(**change), tmp_path / "t.xlsx")


# --------------------------------------------------------------------------------------------
# XLSX


def load(path):
    import openpyxl

    return openpyxl.load_workbook(path).active


def test_xlsx_cells_and_layout(tmp_path):
    path = tmp_path / "t.xlsx"
    write_xlsx(spanned(), path)
    ws = load(path)
    # rows: 1-2 titles, 3 population, 4 empty, 5-6 headers, 7 "Part A", 8-9, 10 "Part B",
    # 11-12, 13 empty, 14 footnote, 15 source, 16 program
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=1, max_row=16,
                                                              max_col=3)]
    assert values == [
        ["Table 14.2.1", None, None], ["Response", None, None],
        ["Population: FAS, N = 10", None, None], [None, None, None],
        [None, "Drug (N = 6)", None], ["Visit", "n/N", "%"],
        ["Part A", None, None], ["SOC one", "1/6", "16.7"], ["Term a", "1/6", "16.7"],
        ["Part B", None, None], ["SOC two", "2/6", "33.3"], ["Term b", "2/6", "33.3"],
        [None, None, None], ["Footnote.", None, None], ["Source: ADRS.", None, None],
        ["prog", None, None],
    ]
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A1:C1", "A2:C2", "A3:C3", "B5:C5", "A7:C7", "A10:C10", "A14:C14"} <= merged
    assert "A6:C6" not in merged and not any(r.startswith("A8:") for r in merged)
    # bold: titles, headers, section headings, emphasis rows; not the population, not others
    assert ws["A1"].font.b and ws["A2"].font.b and not ws["A3"].font.b
    assert ws["B5"].font.b and all(ws.cell(6, c).font.b for c in (1, 2, 3))
    assert ws["A7"].font.b and ws["A10"].font.b
    assert all(ws.cell(8, c).font.b for c in (1, 2, 3))
    assert not any(ws.cell(9, c).font.b for c in (1, 2, 3))
    # header centred and wrapped (first leaf header left); body per column l, c, r
    assert ws["B5"].alignment.horizontal == "center" and ws["B5"].alignment.wrap_text
    assert ws["A6"].alignment.horizontal == "left"
    assert [ws.cell(9, c).alignment.horizontal for c in (1, 2, 3)] == ["left", "center", "right"]
    # indent levels of the first column
    assert [ws.cell(r, 1).alignment.indent for r in (8, 9, 11, 12)] == [0, 1, 0, 2]
    # borders: above the first header row, under the last, under the last body row
    assert all(ws.cell(5, c).border.top.style == "thin" for c in (1, 2, 3))
    assert all(ws.cell(6, c).border.bottom.style == "thin" for c in (1, 2, 3))
    assert all(ws.cell(12, c).border.bottom.style == "thin" for c in (1, 2, 3))
    assert ws.cell(11, 1).border.bottom.style is None
    assert ws.freeze_panes == "A7"


def test_xlsx_printing_and_widths(tmp_path):
    path = tmp_path / "t.xlsx"
    write_xlsx(spanned(), path)
    ws = load(path)
    # title, population, empty and the two header rows repeat on every printed page
    assert ws.print_title_rows.replace("$", "") == "1:6"
    assert ws.page_setup.orientation == "portrait"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert "&P" in ws.oddFooter.right.text and "&N" in ws.oddFooter.right.text
    assert ws.oddFooter.right.text == "Page &P of &N"
    # [1, 1, 2] of 90 characters (portrait): 22.5, 22.5, 45
    assert [ws.column_dimensions[c].width for c in "ABC"] == [22.5, 22.5, 45.0]
    write_xlsx(spanned(landscape=True), path)
    ws = load(path)
    assert ws.page_setup.orientation == "landscape"
    # of 120 characters (landscape): 30, 30, 60
    assert [ws.column_dimensions[c].width for c in "ABC"] == [30.0, 30.0, 60.0]


def test_xlsx_sheet_name_footer_ampersand_and_empty(tmp_path):
    path = tmp_path / "t.xlsx"
    name = "t14_3_1_adverse_events_by_soc_and_pt_very_long"
    write_xlsx(spanned(name=name, rows=[], section=[], indent=[], emphasis=[],
                       program="A & B"), path)
    ws = load(path)
    assert ws.title == name[:31] == "t14_3_1_adverse_events_by_soc_a"
    assert ws.oddFooter.left.text == "A && B"  # & doubled: a literal ampersand in a footer
    assert ws["A7"].value == "No records."
    assert "A7:C7" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A7"].border.bottom.style == "thin"


def test_xlsx_row_heights_from_wrapped_lines(tmp_path):
    from itp_adam.report.tables import wrapped_lines

    # width 6.3 characters of the column -> int(6.3 * 1.6) - 1 = 9 characters a line
    assert wrapped_lines("aaaa bbbb", 6.3) == 1
    assert wrapped_lines("aaaa bbbb cccc", 6.3) == 2
    assert wrapped_lines("aaaa\nbbbb", 6.3) == 2
    assert wrapped_lines("a" * 19, 6.3) == 3  # a long word broken: 9 + 9 + 1
    assert wrapped_lines("aaaa bbbb", 6.3, indent=1) == 2  # 3 characters less: 6 a line
    path = tmp_path / "t.xlsx"
    long = "word " * 40  # 200 characters in column A of 22.5 characters (35 a line)
    write_xlsx(spanned(rows=[[long, "1", "2"], ["short", "1", "2"]], section=None,
                       indent=None, emphasis=None), path)
    ws = load(path)
    assert ws.row_dimensions[1].height == 13.5  # a title line, 10 pt
    assert ws.row_dimensions[8].height == 12.0  # "short": one line of 9 pt
    # 40 words of 4 letters, 7 a line of 35 characters (7 * 5 - 1 = 34) -> 6 lines
    assert ws.row_dimensions[7].height == 6 * 12.0


def _workbook_dump(path) -> dict:
    """Everything a reader sees of the sheet: each cell's value, font, alignment and lines,
    the merged cells, row heights, column widths, panes, print titles, page setup, footer."""
    import openpyxl

    ws = openpyxl.load_workbook(path).active
    cells = {}
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column):
        for c in row:
            a, f = c.alignment, c.font
            cells[c.coordinate] = (c.value, f.name, f.sz, bool(f.b), a.horizontal, a.vertical,
                                   bool(a.wrap_text), a.indent, getattr(c.border.top, "style", None),
                                   getattr(c.border.bottom, "style", None))
    setup = ws.page_setup
    return {
        "title": ws.title, "cells": cells,
        "merged": sorted(str(r) for r in ws.merged_cells.ranges),
        "heights": {r: d.height for r, d in ws.row_dimensions.items() if d.height is not None},
        "widths": {k: d.width for k, d in ws.column_dimensions.items() if d.customWidth},
        "panes": ws.freeze_panes, "print_titles": ws.print_title_rows,
        "setup": (setup.orientation, str(setup.paperSize), setup.fitToWidth, setup.fitToHeight,
                  ws.sheet_properties.pageSetUpPr.fitToPage),
        "margins": (ws.page_margins.left, ws.page_margins.right, ws.page_margins.top,
                    ws.page_margins.bottom, ws.page_margins.header, ws.page_margins.footer),
        "footer": (ws.oddFooter.left.text, ws.oddFooter.left.size, ws.oddFooter.right.text,
                   ws.oddFooter.right.size),
    }


def _random_table(seed: int) -> Table:
    import random

    rng = random.Random(seed)
    words = ["HEADACHE", "Application site pruritus", "µg/L ≥ 5", "A & B <c> \"d\" 'e'",
             "  padded  ", "two\nlines", "x" * 70, "", "1", "12.5 (3.4)", "word " * 30]
    n = rng.randint(1, 6)
    count = rng.randint(1, 60)
    sections = rng.choice([None, ["Arm A", "", "Arm B & C", "Arm A"]])
    spans, left = [], n
    while left:
        span = rng.randint(1, left)
        spans.append((rng.choice(["", "Drug (N = 6)", "Placebo"]), span))
        left -= span
    return Table(
        name=f"t/{seed}*[x]", titles=rng.sample(["Listing 16.2.7", "All events", ""], 2),
        population=rng.choice(["", "Population: safety & more"]),
        headers=[spans, [(rng.choice(words[:6]), 1) for _ in range(n)]],
        rows=[[rng.choice(words) for _ in range(n)] for _ in range(count)],
        widths=[rng.choice([1, 1.5, 3]) for _ in range(n)],
        align=[rng.choice("lcr") for _ in range(n)],
        footnotes=rng.sample(["n = subjects.", "a & b", "long " * 40], rng.randint(0, 3)),
        source=rng.choice(["", "Source: ADAE."]), program=rng.choice(["", "itp-adam & co"]),
        section=None if sections is None else [rng.choice(sections) for _ in range(count)],
        indent=rng.choice([None, [rng.randint(0, 2) for _ in range(count)]]),
        emphasis=rng.choice([None, [rng.random() < 0.3 for _ in range(count)]]),
        landscape=rng.random() < 0.5)


@pytest.mark.parametrize("table", [simple(), spanned(), spanned(rows=[], section=[], indent=[],
                                                                 emphasis=[]),
                                   spanned(landscape=True, section=None),
                                   *[_random_table(seed) for seed in range(8)]],
                         ids=lambda t: t.name)
def test_xlsx_same_as_openpyxl_writer(tmp_path, table):
    """The package's SpreadsheetML writer against the openpyxl writer it replaced (a second
    implementation, one object per cell: tests/tables_reference.py), both read back with
    openpyxl: the same cells, styles, merges, heights, widths, panes and page setup."""
    from tests.tables_reference import write_xlsx_openpyxl

    write_xlsx(table, tmp_path / "mine.xlsx")
    write_xlsx_openpyxl(table, tmp_path / "openpyxl.xlsx")
    mine, theirs = _workbook_dump(tmp_path / "mine.xlsx"), _workbook_dump(tmp_path / "openpyxl.xlsx")
    assert mine["cells"] == theirs["cells"]
    assert mine == theirs


def test_xlsx_same_bytes_and_control_characters(tmp_path):
    """The same table gives the same bytes (no save time); a control character XML cannot
    hold is left out (as in the RTF), a tab and a line feed are kept."""
    import openpyxl

    table = simple(rows=[["a\x01b\tc\nd", "\x0b1", "2"], ["x", "y", "z"]])
    write_xlsx(table, tmp_path / "a.xlsx")
    write_xlsx(table, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    ws = openpyxl.load_workbook(tmp_path / "a.xlsx").active
    assert [ws.cell(6, c).value for c in (1, 2, 3)] == ["ab\tc\nd", "1", "2"]


@pytest.mark.parametrize("table", [simple(), spanned(), spanned(rows=[], section=[], indent=[],
                                                                 emphasis=[]),
                                   spanned(indent=[0, 4, 3, 0], section=["", "", "B", "B"]),
                                   *[_random_table(seed) for seed in range(8)]],
                         ids=lambda t: t.name)
def test_rtf_same_bytes_as_the_row_by_row_writer(table):
    """The RTF body laid out a column at a time gives the bytes of the package's first writer,
    one row and one cell at a time (tests/tables_reference.py), and is the document's body."""
    from itp_adam.report.tables import _rtf_body, column_edges, rtf_document, usable_width
    from tests.tables_reference import rtf_body_by_rows

    edges = column_edges(table.widths, usable_width(table.landscape))
    body = rtf_body_by_rows(table, edges)
    assert _rtf_body(table, edges) == body
    document = rtf_document(table)
    assert document.count(body) == 1 and document.endswith(body + "\\pard\\plain\\f0\\fs2\\par\n}\n")


def test_xlsx_workbook_of_several_sheets(tmp_path):
    """Sheets share the workbook's styles; each keeps its own rows, widths, panes and print
    titles; numbers are number cells, booleans boolean cells, empty texts empty cells."""
    import math

    import openpyxl

    from itp_adam.report.xlsx import Workbook

    book = Workbook()
    first, second = book.sheet("First"), book.sheet("Second's")
    bold = first.style(("Arial", 10, True))
    assert second.style(("Arial", 10, True)) == bold  # one style table for the workbook
    first.row(1, [(1, bold, "Name"), (2, 0, "Count")])
    first.row(2, [(1, 0, "a"), (2, 0, 3), (3, 0, True)])
    first.frozen_under, first.widths = 1, [10, 7.5]
    second.row(1, [(1, 0, "x"), (2, 0, 2.5), (3, 0, "")])
    second.row(3, [(1, bold, "y")])
    second.print_rows = (1, 1)
    book.save(tmp_path / "book.xlsx")
    read = openpyxl.load_workbook(tmp_path / "book.xlsx")
    assert read.sheetnames == ["First", "Second's"]
    one, two = read["First"], read["Second's"]
    assert [[c.value for c in row] for row in one.iter_rows()] == [["Name", "Count", None], ["a", 3, True]]
    assert one["A1"].font.b and one["A1"].font.name == "Arial" and not one["A2"].font.b
    assert one.freeze_panes == "A2" and two.freeze_panes is None
    assert (one.column_dimensions["A"].width, one.column_dimensions["B"].width) == (10, 7.5)
    assert [[c.value for c in row] for row in two.iter_rows()] == [["x", 2.5, None], [None, None, None], ["y", None, None]]
    assert two["A3"].font.b
    assert str(two.print_title_rows) == "$1:$1" and one.print_title_rows is None
    with pytest.raises(ValueError, match="B1: a spreadsheet number cannot be nan"):
        Workbook().sheet("S").row(1, [(1, 0, "a"), (2, 0, math.nan)])
