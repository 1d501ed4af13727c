"""The standard safety analyses of both shipped studies, every count checked independently.

``specs/cdiscpilot01/analyses/`` (safety.yaml: TEAE overview, deaths, discontinuation for an AE,
maximum severity, TEAEs and serious TEAEs by body system and preferred term, laboratory grade
shifts, by actual treatment and in total) and ``specs/hetrombopag-itp/analyses/
safety_standard.yaml`` (single arm: TEAEs and serious TEAEs by body system and preferred term,
maximum TEAE grade, worst on-treatment grade per hepatic test).

The expected values are counted here in plain Python (sets and dicts over the records; no
pandas grouping and no package function), from the ADaM datasets the pilot's run writes (XPT,
read with pyreadstat), SDTM DS from the shipped zip, and the hetrombopag study's ADaM frames
of the shared build (``conftest.shipped``). Every cell of every new analysis is compared: each
arm (and Total), each body system and preferred term, each baseline and worst grade; n, N and
the shown percent, and the rows are exactly those expected (no row missing, none extra).
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
import yaml

from itp_adam.paths import default_specs_dir
from itp_adam.spec.model import load_specs
from itp_adam.stages.results import analysis_results, write_results

ROOT = Path(__file__).resolve().parents[1]
PILOT_SDTM = ROOT / "src" / "itp_adam" / "data" / "cdiscpilot01" / "sdtm.zip"
ARMS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]  # populations.yaml, dose order
TOTAL = "Total"


# --------------------------------------------------------------------------------------------
# Helpers: the ARD as a dict of cells, and the expected cells written the same way


def _shown_pct(n: int, total: int, decimals: int) -> str:
    """100 n / N rounded half up in decimal arithmetic; empty without a denominator."""
    if total == 0:
        return ""
    exact = Decimal(100 * n) / Decimal(total)
    return str(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def _cell(n: int, total: int, decimals: int) -> dict[str, str]:
    return {"n": str(n), "N": str(total), "pct": _shown_pct(n, total, decimals)}


def _ard_cells(ard: pd.DataFrame, analysis_id: str) -> dict[tuple, dict[str, str]]:
    """``(group levels..., variable, variable_level) -> {stat_name: stat_fmt}`` of an analysis,
    with a check that each pct's unrounded value is 100 n / N."""
    rows = ard.loc[ard["analysis_id"] == analysis_id]
    assert len(rows), f"no rows for {analysis_id}"
    levels = [c for c in ard.columns if c.startswith("group") and c.endswith("_level")]
    out: dict[tuple, dict[str, str]] = {}
    raw: dict[tuple, dict[str, str]] = {}
    for record in rows.to_dict("records"):
        key = (*(str(record[c]) for c in levels), record["variable"], record["variable_level"])
        out.setdefault(key, {})[record["stat_name"]] = record["stat_fmt"]
        raw.setdefault(key, {})[record["stat_name"]] = str(record["stat"])
    for key, stats in raw.items():
        n, total = int(float(stats["n"])), int(float(stats["N"]))
        if total:
            assert float(stats["pct"]) == pytest.approx(100 * n / total, rel=1e-12), key
        else:
            assert stats["pct"] in ("", "nan"), key
    return out


def _pad(key: tuple, width: int) -> tuple:
    """A key of group levels padded with empty levels to the ARD's group columns."""
    *groups, variable, level = key
    return (*groups, *[""] * (width - len(groups)), variable, level)


def _check(ard: pd.DataFrame, analysis_id: str, expected: dict[tuple, dict[str, str]]) -> None:
    width = sum(1 for c in ard.columns if c.startswith("group") and c.endswith("_level"))
    expected = {_pad(key, width): value for key, value in expected.items()}
    got = _ard_cells(ard, analysis_id)
    missing = sorted(set(expected) - set(got))[:5]
    extra = sorted(set(got) - set(expected))[:5]
    assert not missing and not extra, (analysis_id, "missing", missing, "extra", extra)
    wrong = [(key, got[key], expected[key]) for key in expected if got[key] != expected[key]]
    assert not wrong, (analysis_id, len(wrong), wrong[:5])


def _one(ard: pd.DataFrame, analysis_id: str, *key: str) -> dict[str, str]:
    """The shown n, N and pct of one cell: group levels, variable, variable level."""
    width = sum(1 for c in ard.columns if c.startswith("group") and c.endswith("_level"))
    return _ard_cells(ard, analysis_id)[_pad(key, width)]


def _groups(subjects: dict[str, str], arms: list[str] | None) -> dict[str, set[str]]:
    """Group label -> its subjects: Total (everyone) first, then each arm (none: single arm)."""
    out = {TOTAL: set(subjects)} if arms else {}
    for arm in arms or []:
        out[arm] = {s for s, a in subjects.items() if a == arm}
    return out


def _subject_counts(groups: dict[str, set[str]], who: set[str], decimals: int,
                    prefix: tuple = ()) -> dict[tuple, dict[str, str]]:
    """A count without a variable: subjects of ``who`` per group."""
    return {(*prefix, group, "", ""): _cell(len(members & who), len(members), decimals)
            for group, members in groups.items()}


def _hierarchy(groups: dict[str, set[str]], records: list[tuple[str, str, str]], decimals: int,
               arm_column: bool) -> dict[tuple, dict[str, str]]:
    """Subjects per (body system) and per (body system, preferred term) in each group; the rows
    are the combinations found in any group; a record with a blank body system counts nowhere,
    one with a blank term only in its body system."""
    by_soc: dict[str, set[str]] = defaultdict(set)
    by_pt: dict[tuple[str, str], set[str]] = defaultdict(set)
    for subject, soc, pt in records:
        if soc == "":
            continue
        by_soc[soc].add(subject)
        if pt != "":
            by_pt[(soc, pt)].add(subject)
    out = {}
    for group, members in groups.items():
        head = (group,) if arm_column else ()
        for soc, who in by_soc.items():
            out[(*head, "", "AEBODSYS", soc)] = _cell(len(who & members), len(members), decimals)
        for (soc, pt), who in by_pt.items():
            out[(*head, soc, "AEDECOD", pt)] = _cell(len(who & members), len(members), decimals)
    return out


def _worst(groups: dict[str, set[str]], graded: list[tuple[str, str]], levels: list[str],
           missing: str | None, decimals: int, prefix: tuple = (), variable: str = ""
           ) -> dict[tuple, dict[str, str]]:
    """Subjects by their worst level (``levels`` best first) in each group; ``missing``: the
    subjects of the group without a graded record."""
    rank = {level: i for i, level in enumerate(levels)}
    worst: dict[str, int] = {}
    for subject, level in graded:
        if level in rank:
            worst[subject] = max(worst.get(subject, -1), rank[level])
    out = {}
    for group, members in groups.items():
        counts = [0] * len(levels)
        for subject in members:
            if subject in worst:
                counts[worst[subject]] += 1
        for level, n in zip(levels, counts):
            out[(*prefix, group, variable, level)] = _cell(n, len(members), decimals)
        if missing is not None:
            out[(*prefix, group, variable, missing)] = _cell(len(members) - sum(counts), len(members),
                                                            decimals)
    return out


# --------------------------------------------------------------------------------------------
# CDISC pilot: one run, the ADaM it writes read back with pyreadstat


@pytest.fixture(scope="module")
def pilot(pilot_out, tmp_path_factory) -> dict:
    """The pilot's run (once per session, conftest.py), its ADaM read back with pyreadstat."""
    folder = tmp_path_factory.mktemp("safety-pilot")
    out = pilot_out
    ard = pd.read_csv(out / "results" / "ard.csv", dtype=str, keep_default_na=False)

    def read(name: str, columns: list[str]) -> list[dict]:
        frame, _ = pyreadstat.read_xport(str(out / "adam" / f"{name}.xpt"), usecols=columns)
        return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]

    with zipfile.ZipFile(PILOT_SDTM) as archive:
        archive.extract("ds.xpt", folder)
    ds, _ = pyreadstat.read_xport(str(folder / "ds.xpt"), usecols=["USUBJID", "DSCAT", "DSDECOD"])
    return {
        "out": out,
        "ard": ard,
        "adsl": read("adsl", ["USUBJID", "SAFFL", "TRT01A", "DTHFL"]),
        "adae": read("adae", ["USUBJID", "TRTEMFL", "AESER", "AESEV", "AEOUT", "AESDTH",
                              "AEBODSYS", "AEDECOD"]),
        "adlb": read("adlb", ["USUBJID", "PARAMCD", "PARAM", "ONTRTFL", "DTYPE", "ATOXGRH",
                              "ATOXGRL", "BTOXGRH", "BTOXGRL"]),
        "ds": [dict(zip(("USUBJID", "DSCAT", "DSDECOD"), row))
               for row in zip(ds["USUBJID"], ds["DSCAT"], ds["DSDECOD"])],
    }


@pytest.fixture(scope="module")
def pilot_groups(pilot) -> dict[str, set[str]]:
    safety = {r["USUBJID"]: r["TRT01A"] for r in pilot["adsl"] if r["SAFFL"] == "Y"}
    return _groups(safety, ARMS)


def _saf(groups: dict[str, set[str]]) -> set[str]:
    return groups[TOTAL]


def test_the_pilot_arms_and_their_denominators(pilot, pilot_groups):
    # the safety population by actual treatment (Screen Failure subjects are not in it)
    assert {g: len(s) for g, s in pilot_groups.items()} == {
        TOTAL: 254, "Placebo": 86, "Xanomeline Low Dose": 96, "Xanomeline High Dose": 72}
    rows = pilot["ard"].loc[pilot["ard"]["analysis_id"].eq("TEAE_ANY")]
    assert rows["group1_level"].unique().tolist() == [TOTAL, *ARMS]
    assert (rows["group1_level"] == rows["group1_label"]).all()


def test_the_pilot_teae_overview(pilot, pilot_groups):
    saf = _saf(pilot_groups)
    teae = [r for r in pilot["adae"] if r["TRTEMFL"] == "Y" and r["USUBJID"] in saf]
    any_teae = {r["USUBJID"] for r in teae}
    serious = {r["USUBJID"] for r in teae if r["AESER"] == "Y"}
    fatal = {r["USUBJID"] for r in teae if r["AEOUT"] == "FATAL" or r["AESDTH"] == "Y"}
    died = {r["USUBJID"] for r in pilot["adsl"] if r["DTHFL"] == "Y"}
    disc = {r["USUBJID"] for r in pilot["ds"]
            if r["DSCAT"] == "DISPOSITION EVENT" and r["DSDECOD"] == "ADVERSE EVENT"}
    for analysis, who in (("TEAE_ANY", any_teae), ("TEAE_SERIOUS_ANY", serious),
                          ("TEAE_FATAL_ANY", fatal), ("DEATHS", died), ("DISC_STUDY_AE", disc)):
        _check(pilot["ard"], analysis, _subject_counts(pilot_groups, who, 1))
    # a few cells as numbers: any TEAE 217/254, the three deaths, AE discontinuations
    assert _one(pilot["ard"], "TEAE_ANY", TOTAL, "", "") == {"n": "217", "N": "254", "pct": "85.4"}
    assert _one(pilot["ard"], "DEATHS", "Placebo", "", "")["n"] == "2"
    assert len(died & saf) == 3 and len(disc & saf) == 92


def test_the_pilot_teae_by_maximum_severity(pilot, pilot_groups):
    saf = _saf(pilot_groups)
    graded = [(r["USUBJID"], r["AESEV"]) for r in pilot["adae"]
              if r["TRTEMFL"] == "Y" and r["USUBJID"] in saf]
    expected = _worst(pilot_groups, graded, ["MILD", "MODERATE", "SEVERE"], "no TEAE", 1,
                      variable="AESEV")
    _check(pilot["ard"], "TEAE_MAX_SEVERITY", expected)
    assert _one(pilot["ard"], "TEAE_MAX_SEVERITY", "Xanomeline Low Dose", "AESEV", "SEVERE") == {
        "n": "16", "N": "96", "pct": "16.7"}


@pytest.mark.parametrize("analysis, serious_only", [("TEAE_SOC_PT", False), ("TEAE_SERIOUS_SOC_PT", True)])
def test_the_pilot_teaes_by_body_system_and_preferred_term(pilot, pilot_groups, analysis, serious_only):
    saf = _saf(pilot_groups)
    records = [(r["USUBJID"], r["AEBODSYS"], r["AEDECOD"]) for r in pilot["adae"]
               if r["TRTEMFL"] == "Y" and r["USUBJID"] in saf and (r["AESER"] == "Y" or not serious_only)]
    expected = _hierarchy(pilot_groups, records, 1, arm_column=True)
    _check(pilot["ard"], analysis, expected)
    socs = {key[3] for key in expected if key[2] == "AEBODSYS"}
    assert len(socs) == (1 if serious_only else 23)
    # rows: per arm, each body system then its terms, alphabetically
    ard = pilot["ard"]
    rows = ard.loc[ard["analysis_id"].eq(analysis) & ard["stat_name"].eq("n") & ard["group1_level"].eq(TOTAL)]
    order = [(soc or level, variable == "AEDECOD", level)
             for soc, variable, level in zip(rows["group2_level"], rows["variable"], rows["variable_level"])]
    assert order == sorted(order)


@pytest.mark.parametrize("direction", ["HIGH", "LOW"])
def test_the_pilot_lab_shift_from_baseline_to_worst_on_treatment_grade(pilot, pilot_groups, direction):
    saf = _saf(pilot_groups)
    arm_of = {s: g for g, members in pilot_groups.items() if g != TOTAL for s in members}
    grade, base = f"ATOXGR{direction[0]}", f"BTOXGR{direction[0]}"
    records = [r for r in pilot["adlb"] if r["ONTRTFL"] == "Y" and r["DTYPE"] in ("", "CALCULATION")
               and r[grade] != "" and r["USUBJID"] in saf]
    params = sorted({r["PARAMCD"] for r in records})
    labels = {}
    for r in records:
        labels.setdefault(r["PARAMCD"], r["PARAM"])
    # per (arm group, parameter, baseline group, subject): the worst grade
    worst: dict[tuple, int] = {}
    for r in records:
        for group in (TOTAL, arm_of[r["USUBJID"]]):
            for base_group in {TOTAL, r[base]} - {""}:
                key = (group, r["PARAMCD"], base_group, r["USUBJID"])
                worst[key] = max(worst.get(key, -1), int(r[grade]))
    by_cell: dict[tuple, list[int]] = defaultdict(list)  # (arm, parameter, baseline) -> worst grades
    for (group, param, base_group, _), value in worst.items():
        by_cell[(group, param, base_group)].append(value)
    grades = ["0", "1", "2", "3", "4"]
    expected = {}
    for group in pilot_groups:
        for param in params:
            for base_group in [TOTAL, *grades]:
                found = by_cell.get((group, param, base_group), [])
                for level in grades:
                    n = sum(1 for g in found if g == int(level))
                    expected[(group, param, base_group, grade, level)] = _cell(n, len(found), 1)
    _check(pilot["ard"], f"LAB_SHIFT_{direction}", expected)
    # the parameters graded in the direction (sap.md 3.6; HGB is not graded), labelled with PARAM
    assert params == (["ALKPH", "ALT", "AST", "BILI", "CA", "CHOLES", "CK", "CREAT", "GGT", "GLUC",
                       "POTAS", "SODIUM", "WBC"] if direction == "HIGH" else
                      ["ALB", "CA", "GLUC", "LYMPH", "PHOS", "PLAT", "POTAS", "SODIUM", "WBC"])
    rows = pilot["ard"].loc[pilot["ard"]["analysis_id"].eq(f"LAB_SHIFT_{direction}")]
    assert dict(zip(rows["group2_level"], rows["group2_label"])) == labels
    if direction == "HIGH":  # ALT, Placebo: baseline grade 0 -> worst grade 2 in 1 of 79
        assert expected[("Placebo", "ALT", "0", grade, "2")] == {"n": "1", "N": "79", "pct": "1.3"}


def test_the_pilot_specs_say_what_the_data_do_not_support(pilot):
    # AEACN is blank on every AE record: no "TEAE leading to discontinuation of the study drug"
    adae, _ = pyreadstat.read_xport(str(pilot["out"] / "adam" / "adae.xpt"), usecols=["AEACN"])
    assert set(adae["AEACN"]) == {""}
    # ... so the pilot counts discontinuations of the study for an adverse event (DS) instead
    ids = set(pilot["ard"]["analysis_id"])
    assert "DISC_STUDY_AE" in ids and not [i for i in ids if "WITHDRAW" in i]


# --------------------------------------------------------------------------------------------
# Hetrombopag: the shared build (conftest), its ARD computed from the shipped specs


@pytest.fixture(scope="module")
def hetrom(shipped) -> dict:
    ard = analysis_results(shipped.specs, shipped.sdtm, shipped.adam).astype({"stat": str})
    adam = shipped.adam

    def records(name: str, columns: list[str]) -> list[dict]:
        frame = adam[name]
        return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]

    study = yaml.safe_load((default_specs_dir() / "study.yaml").read_text(encoding="utf-8"))
    return {"ard": ard, "study": study,
            "adsl": records("ADSL", ["USUBJID", "SAFFL"]),
            "adae": records("ADAE", ["USUBJID", "TRTEMFL", "AESER", "ATOXGR", "AEBODSYS", "AEDECOD"]),
            "adlb": records("ADLB", ["USUBJID", "PARAMCD", "PARAM", "ATOXGR", "ADY", "ADT", "TRTEDT"])}


@pytest.fixture(scope="module")
def hetrom_saf(hetrom) -> dict[str, set[str]]:
    return {"": {r["USUBJID"] for r in hetrom["adsl"] if r["SAFFL"] == "Y"}}


def _single(expected: dict[tuple, dict[str, str]]) -> dict[tuple, dict[str, str]]:
    """Keys of a single-arm analysis: the (empty) group of :func:`_worst` dropped."""
    return {key[1:]: value for key, value in expected.items()}


@pytest.mark.parametrize("analysis, serious_only", [("STD_TEAE_SOC_PT", False),
                                                    ("STD_TEAE_SERIOUS_SOC_PT", True)])
def test_hetrombopag_teaes_by_body_system_and_preferred_term(hetrom, hetrom_saf, analysis, serious_only):
    saf = hetrom_saf[""]
    records = [(r["USUBJID"], r["AEBODSYS"], r["AEDECOD"]) for r in hetrom["adae"]
               if r["TRTEMFL"] == "Y" and r["USUBJID"] in saf and (r["AESER"] == "Y" or not serious_only)]
    expected = _hierarchy(hetrom_saf, records, 0, arm_column=False)
    _check(hetrom["ard"], analysis, expected)
    if not serious_only:
        cells = _ard_cells(hetrom["ard"], analysis)
        assert _one(hetrom["ard"], analysis, "Gastrointestinal disorders", "AEDECOD", "Diarrhoea") == {
            "n": "13", "N": "167", "pct": "8"}
        # TEAEs without a body system (not coded) count in no row
        uncoded = {s for s, soc, _ in records if soc == ""}
        assert uncoded and all(int(v["n"]) < 167 for v in cells.values())


def test_hetrombopag_teae_by_maximum_grade(hetrom, hetrom_saf):
    saf = hetrom_saf[""]
    graded = [(r["USUBJID"], r["ATOXGR"]) for r in hetrom["adae"]
              if r["TRTEMFL"] == "Y" and r["USUBJID"] in saf]
    expected = _single(_worst(hetrom_saf, graded, ["1", "2", "3", "4", "5"], "no TEAE", 0,
                              variable="ATOXGR"))
    _check(hetrom["ard"], "STD_TEAE_MAX_GRADE", expected)
    assert expected[("ATOXGR", "3")] == {"n": "7", "N": "167", "pct": "4"}


def test_hetrombopag_worst_on_treatment_grade_per_hepatic_test(hetrom, hetrom_saf):
    saf = hetrom_saf[""]
    first_day = hetrom["study"]["analysis_windows"]["first_post_baseline_day"]
    window = dt.timedelta(days=hetrom["study"]["trtemfl_window_days"])

    def on_treatment(r: dict) -> bool:
        if r["PARAMCD"] not in ("ALT", "AST", "BILI") or r["USUBJID"] not in saf:
            return False
        try:
            float(r["ATOXGR"])
        except ValueError:
            return False
        if not r["ADY"] >= first_day:  # NaN: no day, not post-baseline
            return False
        return pd.isna(r["TRTEDT"]) or r["ADT"] <= r["TRTEDT"] + window

    records = [r for r in hetrom["adlb"] if on_treatment(r)]
    labels = {}
    for r in records:
        labels.setdefault(r["PARAMCD"], r["PARAM"])
    expected = {}
    for param in sorted(labels):
        graded = [(r["USUBJID"], r["ATOXGR"]) for r in records if r["PARAMCD"] == param]
        expected.update(_worst({param: saf}, graded, ["0", "1", "2", "3", "4"], "not graded", 0,
                               variable="ATOXGR"))
    _check(hetrom["ard"], "STD_HEPATIC_LAB_WORST_BY_TEST", expected)
    rows = hetrom["ard"].loc[hetrom["ard"]["analysis_id"].eq("STD_HEPATIC_LAB_WORST_BY_TEST")]
    assert dict(zip(rows["group1_level"], rows["group1_label"])) == labels
    assert sorted(labels) == ["ALT", "AST", "BILI"]


def test_hetrombopag_published_results_do_not_change(shipped, tmp_path):
    """response.csv, baseline.csv and safety.csv are the same with and without
    safety_standard.yaml and the tables that show it (its analyses are in the ARD only)."""
    without = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), without)
    (without / "analyses" / "safety_standard.yaml").unlink()
    (without / "analyses" / "safety_tables.yaml").unlink()
    for specs, out in ((shipped.specs, tmp_path / "with"), (load_specs(without), tmp_path / "without")):
        write_results(specs, shipped.sdtm, shipped.adam, out)  # the tables are not drawn here
    for name in ("response.csv", "baseline.csv", "safety.csv"):
        assert (tmp_path / "with" / "results" / name).read_bytes() == \
            (tmp_path / "without" / "results" / name).read_bytes(), name


# --------------------------------------------------------------------------------------------
# The pilot's safety tables as the run wrote them (XLSX read back with openpyxl)


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    sheet = load_workbook(path, read_only=True).active
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("name, first, serious_only", [
    ("teae-soc-pt", "Subjects with any TEAE", False),
    ("teae-serious-soc-pt", "Subjects with any serious TEAE", True)])
def test_the_pilot_soc_pt_table_counts_and_order(pilot, pilot_groups, name, first, serious_only):
    """Every row of the written table from the ADaM records: the first row, then the body
    systems by decreasing total count (ties alphabetically), each followed by its terms the same
    way; a cell per group (Total first) as n (x%) of the group's safety population."""
    saf = _saf(pilot_groups)
    teae = [r for r in pilot["adae"] if r["TRTEMFL"] == "Y" and r["USUBJID"] in saf
            and (r["AESER"] == "Y" or not serious_only)]
    by_soc: dict[str, set[str]] = defaultdict(set)
    by_pt: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in teae:
        by_soc[r["AEBODSYS"]].add(r["USUBJID"])
        by_pt[r["AEBODSYS"]][r["AEDECOD"]].add(r["USUBJID"])

    def cells(who: set[str]) -> list[str]:
        return [f"{len(who & members)} ({_shown_pct(len(who & members), len(members), 1)}%)"
                for members in pilot_groups.values()]

    expected = [[first, *cells({r["USUBJID"] for r in teae})]]
    for soc in sorted(by_soc, key=lambda s: (-len(by_soc[s]), s)):
        expected.append([soc, *cells(by_soc[soc])])
        for pt in sorted(by_pt[soc], key=lambda p: (-len(by_pt[soc][p]), p)):
            expected.append([pt, *cells(by_pt[soc][pt])])
    rows = _xlsx_rows(pilot["out"] / "tables" / f"{name}.xlsx")
    start = next(i for i, row in enumerate(rows) if row[0] == first)
    assert [row[:5] for row in rows[start:start + len(expected)]] == expected
    assert rows[start + len(expected)][0] in ("", None) or not any(rows[start + len(expected)][1:5])
    header = next(row for row in rows if row[1].startswith("Total"))
    assert header[1:5] == [f"{g}\n(N = {len(m)})\nn (%)" for g, m in pilot_groups.items()]


def test_the_pilot_listing_of_deaths(pilot):
    died = sorted(r["USUBJID"] for r in pilot["adsl"] if r["DTHFL"] == "Y" and r["SAFFL"] == "Y")
    rows = _xlsx_rows(pilot["out"] / "tables" / "listing-deaths.xlsx")
    start = next(i for i, row in enumerate(rows) if row[0] == "Subject") + 1
    assert [row[0] for row in rows[start:start + len(died)]] == died and len(died) == 3
