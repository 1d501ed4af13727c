"""Reviewer tables: baseline characteristics, response and safety summary, as RTF and XLSX.

Each table is first laid out once as a :class:`Table` (titles, population line, column
headers, body rows, footnotes); :func:`write_rtf` renders it with ``rtflite`` and
:func:`write_xlsx` with ``openpyxl``, so both files show the same rows and words. The texts of
the footnotes (thresholds, windows, denominators, grades) are built from ``specs.study``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ... import __version__
from .results import WITHDRAWN, format_ci, format_n_pct, groups
from .parameters import HetrombopagStudy as Study

N_PCT = "n/N (%)"
CI_HEADER = "95% CI"  # replaced by the spec's level when it is not 95 %, see _ci_header


@dataclass
class Table:
    """A reviewer table, independent of the file format."""

    name: str  # file stem in tables/
    titles: list[str]
    population: str
    headers: list[list[tuple[str, int]]]  # header rows; each cell (text, columns spanned)
    rows: list[list[str]]
    widths: list[float]  # relative column widths
    align: list[str]  # "l" or "c" per column
    footnotes: list[str] = field(default_factory=list)
    section: list[str] | None = None  # per row: a section heading (e.g. the criterion)
    landscape: bool = False
    source: str = ""  # the last line: data source, cut-off, package version

    @property
    def columns(self) -> int:
        return len(self.widths)

    def leaf_header(self) -> list[str]:
        return [text for text, _ in self.headers[-1]]


def _ci_header(study: Study, confidence_level: float | None = None) -> str:
    """The CI column's header at the level of the limits (the response analyses' method)."""
    level = (confidence_level or study.response.confidence_level) * 100
    return CI_HEADER if level == 95 else f"{level:g}% CI"


def _source(study: Study) -> str:
    return (f"Source: ADaM ADSL, ADLB, ADAE; study {study.study_id}; data cut-off "
            f"{study.cutoff_date.isoformat()}; itp-adam {__version__}.")


# --------------------------------------------------------------------------------------------
# The three tables


def baseline_table(study: Study, baseline: pd.DataFrame, populations: dict) -> Table:
    enrolled = populations["enrolled"]
    rows = [[row.label, row.stat, row.display] for row in baseline.itertuples()]
    return Table(
        name="baseline",
        titles=["Table 1", "Baseline characteristics"],
        population=f"Population: enrolled (ENRLFL = Y), N = {enrolled}",
        headers=[[("Characteristic", 1), ("Statistic", 1), (f"Enrolled (N = {enrolled})", 1)]],
        rows=rows, widths=[4, 2, 2.5], align=["l", "l", "c"],
        footnotes=[
            "Percentages: 100 n / N with N = enrolled subjects, rounded half up.",
            "Disease phase by ITP duration (first dose - diagnosis, months of "
            f"{study.days_per_month} days): cut points {', '.join(f'{c:g}' for c in study.itp_phase.cut_months)} "
            f"months -> {' / '.join(study.itp_phase.labels)} (a duration on a cut point "
            "belongs to the phase below).",
            f"Baseline: the last value on or before the first dose, at most "
            f"{study.baseline.lookback_days} days before it (platelets and WHO bleeding grade).",
            f"Treatment duration: last - first dose date + 1 days, in months of {study.days_per_month} days.",
        ],
    )


def response_table(study: Study, response: pd.DataFrame, populations: dict,
                   confidence_level: float | None = None) -> Table:
    level = _ci_header(study, confidence_level)
    names = groups(study)
    group_n = populations["fas_groups"]
    windows = {w.avisitn: w for w in study.analysis_windows.windows}
    header_top = [("", 2)] + [(f"{g} (N = {group_n.get(g, 0)})", 2) for g in names]
    header_leaf = [("Analysis visit", 1), ("Window (days)", 1)] + [(N_PCT, 1), (level, 1)] * len(names)
    rows, section = [], []
    by_key = {(r.criterion, r.group, r.avisitn): r for r in response.itertuples()}
    for crit in study.response.criteria:
        visits = (response.loc[response["criterion"].eq(crit.name), ["avisitn", "avisit"]]
                  .drop_duplicates().sort_values("avisitn"))
        for visit in visits.itertuples():
            window = windows.get(visit.avisitn)
            days = f"{window.lo:g}-{window.hi:g}" if window is not None else ""
            cells = [visit.avisit, days]
            for g in names:
                hit = by_key.get((crit.name, g, visit.avisitn))
                cells += (["-", "-"] if hit is None else
                          [format_n_pct(hit.n, hit.N, hit.pct), format_ci(hit.ci_low, hit.ci_high)])
            rows.append(cells)
            section.append(f"{crit.name}: {crit.label}")
    crits = "; ".join(f"{c.name}: AVAL {c.operator} {c.threshold:g}" for c in study.response.criteria)
    first = study.analysis_windows.first_post_baseline_day
    return Table(
        name="response",
        titles=["Table 2", "Platelet response by analysis visit, overall and by disease phase"],
        population=f"Population: full analysis set (FASFL = Y), N = {populations['fas']}",
        headers=[header_top, header_leaf],
        rows=rows, section=section,
        widths=[1.3, 1.1] + [1.5, 1.3] * len(names), align=["l", "c"] + ["c"] * 2 * len(names),
        landscape=True,
        footnotes=[
            f"Response: platelet count ({study.response.parameter}) on the analysis record of the "
            f"visit ({crits}, 10^9/L). n = responders.",
            f"N = FAS subjects evaluable at the visit: with an analysis platelet count (ANL01FL = Y) "
            f"in the visit window. Percent = 100 n / N rounded half up.",
            f"Analysis visits: post-baseline records (study day >= {first}) are placed by study "
            "day in the window shown; in each window the value closest to the target day is "
            "analysed (a tie goes to the later day).",
            f"{level}: exact (Clopper-Pearson) confidence interval, in percent. "
            "'-': no evaluable subject in that group at that visit.",
            f"Disease phase by ITP duration at first dose (cut points "
            f"{', '.join(f'{c:g}' for c in study.itp_phase.cut_months)} months).",
        ],
    )


def safety_table(study: Study, safety: pd.DataFrame, populations: dict) -> Table:
    total = populations["safety"]
    severe = study.toxicity_grading.hepatic_dysfunction_grade
    rows = [[row.label, row.display] for row in safety.itertuples()]
    soc = ", ".join(study.hepatic_terms.soc)
    return Table(
        name="safety",
        titles=["Table 3", "Summary of adverse events and hepatic safety"],
        population=f"Population: safety (SAFFL = Y), N = {total}",
        headers=[[("Category", 1), (f"Safety population (N = {total}), n (%)", 1)]],
        rows=rows, widths=[5, 2.5], align=["l", "c"],
        footnotes=[
            "n = subjects with at least one such event; percent = 100 n / N rounded half up.",
            f"TEAE: adverse event starting on or after the first dose and on or before the last "
            f"dose + {study.trtemfl_window_days} days. Grades: {study.toxicity_grading.criteria}.",
            f"Hepatic TEAE: system organ class {soc}, or a preferred term among "
            f"{', '.join(study.hepatic_terms.pt)}.",
            f"Worst post-baseline hepatic lab grade: highest grade of "
            f"{', '.join(study.toxicity_grading.uln_multiples)} by multiples of ULN, over records "
            f"from study day {study.analysis_windows.first_post_baseline_day} to the last dose + "
            f"{study.trtemfl_window_days} days; not graded = no such record with a grade.",
            f"Hepatic dysfunction of grade >= {severe}: a post-baseline lab grade >= {severe} or a "
            f"hepatic TEAE of grade >= {severe}.",
            f"TEAE leading to withdrawal: action taken with study treatment = {WITHDRAWN}.",
        ],
    )


# --------------------------------------------------------------------------------------------
# RTF (rtflite)


def _rtf_text(text: str) -> str:
    """Text as RTF: backslash and braces escaped, non-ASCII as \\uN? (rtflite's own
    conversion is switched off, it would turn ``^9`` into an unclosed superscript)."""
    out = text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")
    return "".join(ch if ord(ch) < 128 else f"\\u{ord(ch) if ord(ch) < 32768 else ord(ch) - 65536}?"
                   for ch in out)


def write_rtf(table: Table, path: Path) -> None:
    import polars as pl
    import rtflite as rtf

    columns = [f"c{i}" for i in range(table.columns)]
    data = {name: [_rtf_text(row[i]) for row in table.rows] for i, name in enumerate(columns)}
    subline = None
    if table.section is not None:
        data = {"section": [_rtf_text(s) for s in table.section], **data}
        subline = ["section"]
    frame = pl.DataFrame(data, schema={name: pl.String for name in data})

    def header(row: list[tuple[str, int]]) -> rtf.RTFColumnHeader:
        widths, start = [], 0
        for _, span in row:
            widths.append(sum(table.widths[start:start + span]))
            start += span
        return rtf.RTFColumnHeader(
            text=[_rtf_text(text) for text, _ in row], col_rel_width=widths,
            text_justification=[["c"] * len(row)], text_convert=[[False]])

    doc = rtf.RTFDocument(
        df=frame,
        rtf_page=rtf.RTFPage(orientation="landscape" if table.landscape else "portrait"),
        rtf_page_header=rtf.RTFPageHeader(),
        rtf_title=rtf.RTFTitle(text=[_rtf_text(t) for t in [*table.titles, table.population]],
                               text_convert=False),
        rtf_column_header=[header(row) for row in table.headers],
        rtf_body=rtf.RTFBody(col_rel_width=table.widths, text_justification=[table.align],
                             text_convert=[[False]], subline_by=subline),
        rtf_footnote=rtf.RTFFootnote(text=[_rtf_text(f) for f in table.footnotes],
                                     text_convert=[[False]]),
        rtf_source=(rtf.RTFSource(text=[_rtf_text(table.source)], text_convert=[[False]])
                    if table.source else None),
    )
    Path(path).write_text(doc.rtf_encode(), encoding="ascii")


# --------------------------------------------------------------------------------------------
# XLSX (openpyxl)


def write_xlsx(table: Table, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = table.name
    thin = Side(style="thin")
    line = 1
    for text in table.titles:
        sheet.cell(line, 1, text).font = Font(bold=True, size=12)
        line += 1
    sheet.cell(line, 1, table.population).font = Font(italic=True)
    line += 2
    for h, row in enumerate(table.headers):
        column = 1
        for text, span in row:
            cell = sheet.cell(line, column, text)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            cell.border = Border(top=thin if h == 0 else None, bottom=thin)
            if span > 1:
                sheet.merge_cells(start_row=line, start_column=column, end_row=line,
                                  end_column=column + span - 1)
            column += span
        line += 1
    sheet.freeze_panes = sheet.cell(line, 1)
    current = None
    for i, row in enumerate(table.rows):
        if table.section is not None and table.section[i] != current:
            current = table.section[i]
            sheet.cell(line, 1, current).font = Font(bold=True)
            line += 1
        for j, text in enumerate(row):
            cell = sheet.cell(line, j + 1, text)
            cell.alignment = Alignment(horizontal="left" if table.align[j] == "l" else "center")
        line += 1
    for j in range(table.columns):
        sheet.cell(line - 1, j + 1).border = Border(bottom=thin)
    line += 1
    for text in [*table.footnotes, table.source]:
        if text:
            sheet.cell(line, 1, text).font = Font(size=9)
            line += 1
    unit = 9 if not table.landscape else 8
    for j, width in enumerate(table.widths):
        sheet.column_dimensions[get_column_letter(j + 1)].width = max(10, width * unit)
    book.save(path)


# --------------------------------------------------------------------------------------------
# The stage


def write_tables(study: Study, baseline: pd.DataFrame, response: pd.DataFrame,
                 safety: pd.DataFrame, populations: dict, folder: Path,
                 confidence_level: float | None = None) -> list[Path]:
    """Write baseline, response and safety tables as ``.rtf`` and ``.xlsx`` into ``folder``."""
    written = []
    for table in (baseline_table(study, baseline, populations),
                  response_table(study, response, populations, confidence_level),
                  safety_table(study, safety, populations)):
        table.source = _source(study)
        for suffix, writer in ((".rtf", write_rtf), (".xlsx", write_xlsx)):
            path = Path(folder) / f"{table.name}{suffix}"
            writer(table, path)
            written.append(path)
    return written
