"""Displays as specs (itp_adam/analysis/display.py): reviewer tables and listings laid out from
the ARD of the tiny hand-made study of test_analyses.py.

Every expected cell is worked out by hand from the tiny study's records (comments), the
statistics recomputed independently (Python's ``statistics``, scipy's beta quantiles through
``test_analyses._limits``), and the texts written out in full. Mistakes in a display spec are
refused with the file and line.
"""

from __future__ import annotations

import statistics
from decimal import ROUND_HALF_UP, Decimal

import pytest

from itp_adam.analysis.ard import ard_views, build_ard
from itp_adam.analysis.display import build_tables, template_fields
from itp_adam.analysis.model import load_analyses
from itp_adam.spec.model import SpecError

from .test_analyses import DATASETS, KNOWN, SPEC, _limits, _line, _write

DISPLAYS = """\
methods:
  - id: SOC_PT_PCT
    name: Subjects by body system and preferred term, percent of the analysis set
    calculation: hierarchy
    denominator: analysis_set
    rounding: half_up
    operations: [{stat: n}, {stat: N}, {stat: pct, decimals: 1}]
analyses:
  - {id: POP, name: Safety population by arm, dataset: ADSL, analysis_set: SAF, groupings: [ARM],
     method: OF_SET}
  - {id: ANY_TEAE, name: Any TEAE, dataset: ADAE, analysis_set: SAF, data_subset: TEAE,
     groupings: [ARM], method: OF_SET}
  - {id: AE_PCT, name: TEAEs by body system and preferred term, dataset: ADAE, analysis_set: SAF,
     data_subset: TEAE, groupings: [ARM], variable: [AEBODSYS, AEDECOD], method: SOC_PT_PCT}
displays:
  - id: T_AE
    number: "14.3.1"
    title: Treatment-emergent adverse events by body system and preferred term
    subtitle: Sorted by frequency in @group
    values: {group: all subjects}
    population: POP
    columns:
      grouping: ARM
      header: "{label} (N = {N})"
      cells: [{format: "{n} ({pct}%)"}]
    stub: [{header: "Body system\\n  Preferred term", width: 3}]
    rows:
      - {analysis: ANY_TEAE, label: Subjects with any TEAE}
      - {analysis: AE_PCT, sort: frequency}
    footnotes: ["A subject counts once per body system and once per term."]
  - id: T_AGE
    number: "14.1.2"
    title: Age
    population: POP
    columns: {grouping: ARM, header: "{label} (N = {N})", cells: [{format: "{n}"}]}
    rows: [{analysis: AGE, label: Age (years)}]
  - id: T_RESPONSE
    number: "14.2.1"
    title: Response by visit
    file: response-by-visit
    orientation: landscape
    population: POP
    stub:
      - {header: Visit}
      - {header: Day, text: "{day:g}", lookup: {table: [{visit: 1, day: 8}, {visit: 2, day: 15.5}], key: visit}}
    columns:
      grouping: ARM
      header: "{label} (N = {N})"
      cells:
        - {header: "n/N (%)", format: "{n}/{N} ({pct}%)"}
        - {header: "{confidence_level}% CI", format: "({ci_low}, {ci_high})"}
    rows: [{analysis: RESPONSE, section: Responders}]
  - id: T_SHIFT
    number: "14.3.5"
    title: Shift at visit 2
    columns: {variable_levels: true, cells: [{format: "{n}"}]}
    stub: [{header: Baseline}]
    rows: [{analysis: SHIFT_V2}]
  - id: L_AE
    kind: listing
    number: "16.2.7"
    title: Treatment-emergent adverse events
    dataset: ADAE
    analysis_set: SAF
    data_subset: TEAE
    variables:
      - {variable: USUBJID, header: Subject}
      - {variable: AEBODSYS, header: Body system}
      - {variable: AEDECOD, header: Preferred term, width: 2}
    order: [USUBJID, AEDECOD]
"""


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("displays")
    _write(folder, SPEC)
    _write(folder, DISPLAYS, "tables.yaml")
    event = load_analyses(folder, None, KNOWN)
    ard = build_ard(event, DATASETS)
    return {t.name: t for t in build_tables(event, ard_views(ard), DATASETS, program="itp-adam test")}


def _pct(n: int, total: int, decimals: int) -> str:
    return f"{(Decimal(100 * n) / Decimal(total)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):f}"


def test_teae_by_body_system_and_term_sorted_by_frequency(tables):
    table = tables["t_ae"]
    assert table.titles == ["Table 14.3.1", "Treatment-emergent adverse events by body system and "
                            "preferred term", "Sorted by frequency in all subjects"]
    # safety population: S1 S2 S3 (A), S4 S5 (B), S7 (no arm: All only)
    assert table.population == "Population: Safety population (SAFFL = Y), N = 6"
    assert table.headers == [[("Body system\n  Preferred term", 1), ("All (N = 6)", 1),
                              ("A (N = 3)", 1), ("B (N = 2)", 1)]]

    def cell(n: int, total: int) -> str:
        return f"{n} ({_pct(n, total, 1)}%)"

    # TEAEs of the safety population: S1 GI Nausea, GI Vomiting, SKIN Rash; S2 GI Nausea (twice);
    # S3 SKIN Rash; S7 SKIN Pruritus. SKIN (S1 S3 S7) before GI (S1 S2); Rash (2) before Pruritus.
    assert table.rows == [
        ["Subjects with any TEAE", cell(4, 6), cell(3, 3), cell(0, 2)],
        ["SKIN", cell(3, 6), cell(2, 3), cell(0, 2)],
        ["Rash", cell(2, 6), cell(2, 3), cell(0, 2)],
        ["Pruritus", cell(1, 6), cell(0, 3), cell(0, 2)],
        ["GI", cell(2, 6), cell(2, 3), cell(0, 2)],
        ["Nausea", cell(2, 6), cell(2, 3), cell(0, 2)],
        ["Vomiting", cell(1, 6), cell(1, 3), cell(0, 2)],
    ]
    assert table.rows[0][1] == "4 (66.7%)" and table.rows[3][1] == "1 (16.7%)"
    assert table.indent == [0, 0, 1, 1, 0, 1, 1]
    assert table.emphasis == [False, True, False, False, True, False, False]
    assert table.footnotes == ["A subject counts once per body system and once per term."]
    assert table.source == "Source: ADaM ADAE, ADSL." and table.program == "itp-adam test (T_AE)"
    assert table.align == ["l", "c", "c", "c"] and table.widths == [3, 1, 1, 1]


def _half_up(value: float, decimals: int) -> str:
    return f"{Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):f}"


def test_summary_rows_with_the_methods_decimals(tables):
    table = tables["t_age"]
    ages = {"All": [30, 40, 50, 20, 60, 35], "A": [30, 40, 50], "B": [20, 60]}

    def stats(values: list[float]) -> dict[str, str]:  # method STATS: decimals 2, 3, 1, 2, 2, 0, 0
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")  # R type 7 = linear
        return {"n": str(len(values)), "mean": _half_up(statistics.mean(values), 2),
                "sd": _half_up(statistics.stdev(values), 3),
                "median": _half_up(float(statistics.median(values)), 1),
                "q1": _half_up(q1, 2), "q3": _half_up(q3, 2),
                "min": str(min(values)), "max": str(max(values))}

    by = {group: stats(values) for group, values in ages.items()}
    groups = ["All", "A", "B"]
    assert table.rows == [
        ["Age (years)", "", "", ""],
        ["n", *(by[g]["n"] for g in groups)],
        ["Mean (SD)", *(f"{by[g]['mean']} ({by[g]['sd']})" for g in groups)],
        ["Median", *(by[g]["median"] for g in groups)],
        ["Q1, Q3", *(f"{by[g]['q1']}, {by[g]['q3']}" for g in groups)],
        ["Min, Max", *(f"{by[g]['min']}, {by[g]['max']}" for g in groups)],
    ]
    assert table.rows[2][1:] == ["39.17 (14.289)", "40.00 (10.000)", "40.00 (28.284)"]
    assert table.indent == [0, 1, 1, 1, 1, 1]


def test_response_cells_with_a_looked_up_stub_and_the_confidence_level(tables):
    table = tables["response-by-visit"]
    assert table.landscape and table.section == ["Responders", "Responders"]
    assert table.headers == [
        [("", 1), ("", 1), ("All (N = 6)", 2), ("A (N = 3)", 2), ("B (N = 2)", 2)],
        [("Visit", 1), ("Day", 1)] + [("n/N (%)", 1), ("90% CI", 1)] * 3]
    # visit 1: responders S1 S3 S5 S7 of S1 S2 S3 S4 S5 S7; visit 2: S1 S2 S5 of S1 S2 S4 S5
    counts = {"1": [(4, 6), (2, 3), (1, 2)], "2": [(3, 4), (2, 2), (1, 2)]}
    for row, (visit, day) in zip(table.rows, [("1", "8"), ("2", "15.5")]):
        expected = [f"Visit {visit}", day]
        for n, total in counts[visit]:
            low, high = _limits(n, total, 0.9)
            expected += [f"{n}/{total} ({_pct(n, total, 0)}%)", f"({low}, {high})"]
        assert row == expected


def test_a_shift_table_with_the_levels_as_columns(tables):
    table = tables["t_shift"]
    assert table.headers == [[("Baseline", 1), ("LOW", 1), ("NORMAL", 1), ("HIGH", 1)]]
    # visit 2: S1 NORMAL -> HIGH, S2 NORMAL -> NORMAL, S4 LOW -> NORMAL, S5 LOW -> LOW and NORMAL
    assert table.rows == [["LOW", "1", "2", "0"], ["NORMAL", "0", "1", "1"], ["HIGH", "0", "0", "0"]]
    assert table.population == "" and table.source == "Source: ADaM ADLB, ADSL."


def test_a_listing_of_records(tables):
    table = tables["l_ae"]
    assert table.titles == ["Listing 16.2.7", "Treatment-emergent adverse events"]
    assert table.headers == [[("Subject", 1), ("Body system", 1), ("Preferred term", 1)]]
    # S5's AE is not treatment-emergent, S6 is not in the safety population
    assert table.rows == [["S1", "GI", "Nausea"], ["S1", "SKIN", "Rash"], ["S1", "GI", "Vomiting"],
                          ["S2", "GI", "Nausea"], ["S2", "GI", "Nausea"], ["S3", "SKIN", "Rash"],
                          ["S7", "SKIN", "Pruritus"]]
    assert table.widths == [1, 1, 2] and table.population == "Population: Safety population"


def test_templates_take_plain_names_only():
    assert template_fields("{n}/{N} ({pct}%)") == ["n", "N", "pct"]
    assert template_fields("{lo:g}-{hi:.1f}") == ["lo", "hi"]
    for bad in ("{n.__class__}", "{n[0]}", "{n!r}", "{n:{width}}"):
        with pytest.raises(ValueError):
            template_fields(bad)


@pytest.mark.parametrize("old,new,fragment,expected", [
    ("{analysis: ANY_TEAE, label", "{analysis: ANY_TEA, label", "ANY_TEA,",
     "display T_AE: unknown analysis 'ANY_TEA'"),
    ('cells: [{format: "{n}"}]}\n    rows: [{analysis: AGE', 'cells: [{format: "{n}"}]}\n    rows: [{analysis: AGE, statistics: [{label: X, format: "{pct}"}]',
     "statistics: [{label: X", "display T_AGE: format '{pct}': {pct} is not one of"),
    ("values: {group: all subjects}", "values: {grp: all subjects}", "values: {grp",
     "display T_AE: subtitle: @group is not passed by values (passed here: @grp)"),
    ('format: "({ci_low}, {ci_high})"', 'format: "({ci_low.real}, {ci_high})"', "ci_low.real",
     "display T_RESPONSE: format (analysis RESPONSE): {ci_low.real} is not a plain name"),
    ("    population: POP\n    columns:\n      grouping: ARM\n      header: \"{label} (N = {N})\"\n      cells: [{format: \"{n} ({pct}%)\"}]",
     "    population: ANY_TEAE\n    columns:\n      grouping: ARM\n      header: \"{label} (N = {N})\"\n      cells: [{format: \"{n} ({pct}%)\"}]",
     "population: ANY_TEAE", "display T_AE: population: analysis ANY_TEAE must count"),
    ("rows: [{analysis: SHIFT_V2}]", "rows: [{analysis: AGE}]", "rows: [{analysis: AGE}]",
     "display T_SHIFT: columns: variable_levels needs a count, worst or shift analysis"),
    ("file: response-by-visit", "file: t_ae", "file: t_ae", "display T_RESPONSE: file 't_ae' is also written"),
])
def test_a_mistake_in_a_display_names_file_and_line(tmp_path, old, new, fragment, expected):
    assert DISPLAYS.count(old) == 1, old
    text = DISPLAYS.replace(old, new)
    _write(tmp_path, SPEC)
    path = _write(tmp_path, text, "tables.yaml")
    with pytest.raises(SpecError) as caught:
        load_analyses(tmp_path, None, KNOWN)
    message = str(caught.value)
    assert f"{path}, line {_line(text, fragment)}: {expected}" in message, message


def test_an_analysis_without_results_shows_its_rows_empty(tmp_path):
    # nobody in the safety population has a TEAE: the table still has its first row, with 0s,
    # and no body system rows; no error
    folder = tmp_path
    _write(folder, SPEC)
    _write(folder, DISPLAYS, "tables.yaml")
    event = load_analyses(folder, None, KNOWN)
    data = {**DATASETS, "ADAE": DATASETS["ADAE"].assign(TRTEMFL="N")}
    ard = build_ard(event, data)
    tables = {t.name: t for t in build_tables(event, ard_views(ard), data)}
    assert tables["t_ae"].rows == [["Subjects with any TEAE", "0 (0.0%)", "0 (0.0%)", "0 (0.0%)"]]
    assert tables["l_ae"].rows == []
