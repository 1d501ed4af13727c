"""Double programming: the production ADaM files against the independent QC derivation
(tests/qc/adam_qc.py) on the shipped study and on a 2,000-subject simulated study, compared
with itp_adam.checks.compare. Any difference fails the test and prints the compare report."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from itp_adam.checks import compare
from itp_adam import issues
from itp_adam.spec import registry
from itp_adam.stages.adam import build_adam
from itp_adam.stages.pipeline import write_dataset

from ..conftest import QC_SIM_SEED, QC_SIM_SUBJECTS
from . import adam_qc

QC_SOURCE = "QC (tests/qc/adam_qc.py)"
# the simulated study: 1000 subjects, seed 90210, not the shipped study's seed (20250414); its
# run is started early by conftest.py (qc_simulated_run), which holds the numbers
SIM_SUBJECTS, SIM_SEED = QC_SIM_SUBJECTS, QC_SIM_SEED


def _meta(expected: dict) -> compare.DatasetMeta:
    return compare.DatasetMeta(
        name=expected["name"], label=expected["label"],
        variables={name: compare.VarMeta(**attrs) for name, attrs in expected["variables"].items()})


def _compare(out: Path, qc: dict[str, pd.DataFrame], name: str, **options) -> compare.Comparison:
    """Production (base, read from OUT/adam) against QC (compare), on the spec's keys."""
    path = out / "adam" / f"{name.lower()}.xpt"
    production, meta = compare.read_dataset(path)
    expected = adam_qc.expected_metadata(name, qc[name])
    return compare.compare_frames(production, qc[name], expected["keys"], base_meta=meta,
                                  compare_meta=_meta(expected), name=name,
                                  base_source=str(path), compare_source=QC_SOURCE, **options)


def _assert_equal(result: compare.Comparison) -> None:
    print(result.text())
    assert result.equal, "production and QC differ:\n" + result.text()


@pytest.fixture(scope="module")
def shipped(shipped_out) -> tuple[Path, dict[str, pd.DataFrame]]:
    return shipped_out, adam_qc.derive_all(shipped_out / "sdtm")


@pytest.fixture(scope="module")
def simulated(qc_simulated_run) -> tuple[Path, dict[str, pd.DataFrame]]:
    """The simulated study (SIM_SUBJECTS, SIM_SEED) as ``itp-adam simulate`` writes it and
    ``itp-adam run`` on it, made in a process of its own while the session's first tests run
    (conftest.py); QC derived from the run's SDTM files."""
    out = qc_simulated_run / "out"
    return out, adam_qc.derive_all(out / "sdtm")


def _day(iso: str, days: int) -> str:
    return (dt.date.fromisoformat(iso[:10]) + dt.timedelta(days=days)).isoformat()


def _plant_boundaries(sdtm: dict[str, pd.DataFrame]) -> list[tuple[str, dict, str, object]]:
    """Edit the shipped SDTM in place so that records sit exactly on the SAP's boundaries
    (lookback day 28/29, timed vs untimed same-day samples, equidistant analysis records,
    window edges, grade and phase cut points, TRTEMFL window, partial AE dates, end dates
    capped at the cut-off). Returns what the SAP says each planted record must get, worked
    out by hand: (dataset, keys, variable, value)."""
    dm, lb, mh, ae = sdtm["DM"], sdtm["LB"], sdtm["MH"], sdtm["AE"]
    start = dict(zip(dm["USUBJID"], dm["RFXSTDTC"]))
    end = dict(zip(dm["USUBJID"], dm["RFXENDTC"]))
    expect: list[tuple[str, dict, str, object]] = []
    plat = lb["LBTESTCD"] == "PLAT"
    pre = lb["LBDTC"].str[:10] <= lb["USUBJID"].map(start)
    valued = lb["LBSTRESN"].notna()
    # subjects whose pre-dose platelet records (two or more) all have a value
    counts = lb[plat & pre].groupby("USUBJID")["LBSTRESN"].agg(["size", "count"])
    clean = sorted(counts.index[(counts["size"] >= 2) & (counts["size"] == counts["count"])])
    s_28, s_29, s_time, s_anl, s_win = clean[:5]

    def rows(subject: str, mask) -> pd.Index:
        return lb.index[(lb["USUBJID"] == subject) & mask].sort_values()

    for subject, offset in ((s_28, -28), (s_29, -29)):  # all pre-dose samples on one day
        idx = rows(subject, plat & pre)
        lb.loc[idx, "LBDTC"] = _day(start[subject], offset)
    expect.append(("ADLB", {"USUBJID": s_28, "PARAMCD": "PLAT",
                            "SRCSEQ": lb.loc[rows(s_28, plat & pre), "LBSEQ"].max()}, "ABLFL", "Y"))
    expect += [("ADSL", {"USUBJID": s_29}, "FASFL", "N"), ("ADSL", {"USUBJID": s_29}, "BASEPLAT", None)]
    idx = rows(s_time, plat & pre)  # timed lower LBSEQ vs untimed higher LBSEQ on TRTSDT
    lb.loc[idx, "LBDTC"] = _day(start[s_time], -5)
    lb.loc[idx[-2], "LBDTC"] = start[s_time] + "T07:00"
    lb.loc[idx[-1], "LBDTC"] = start[s_time]
    expect.append(("ADLB", {"USUBJID": s_time, "PARAMCD": "PLAT", "SRCSEQ": lb.loc[idx[-2], "LBSEQ"]},
                   "ABLFL", "Y"))
    post = rows(s_anl, plat & ~pre & valued)  # Week 6 (target 43): days 38, 41, 45; others 37
    ady = lb.loc[post, "LBDTC"].str[:10].map(
        lambda d: (dt.date.fromisoformat(d) - dt.date.fromisoformat(start[s_anl])).days + 1)
    lb.loc[post[ady.between(37, 50).to_numpy()], "LBDTC"] = _day(start[s_anl], 36)
    for row, day in zip(post[:3], (38, 41, 45)):
        lb.loc[row, "LBDTC"] = _day(start[s_anl], day - 1)
        expect.append(("ADLB", {"USUBJID": s_anl, "PARAMCD": "PLAT", "SRCSEQ": lb.loc[row, "LBSEQ"]},
                       "ANL01FL", "Y" if day == 45 else ""))
    for row, day, visit in zip(rows(s_win, plat & ~pre)[:4], (11, 12, 747, 748), (1, 2, 124, None)):
        lb.loc[row, "LBDTC"] = _day(start[s_win], day - 1)
        expect.append(("ADLB", {"USUBJID": s_win, "PARAMCD": "PLAT", "SRCSEQ": lb.loc[row, "LBSEQ"]},
                       "AVISITN", visit))
    alt = lb.index[(lb["LBTESTCD"] == "ALT") & ~pre & (lb["LBSTNRHI"] == 40)][:3]
    for row, value, grade in zip(alt, (40.0, 120.0, 120.01), ("0", "1", "2")):
        lb.loc[row, ["LBSTRESC", "LBSTRESN"]] = [f"{value:g}", value]
        expect.append(("ADLB", {"USUBJID": lb.loc[row, "USUBJID"], "PARAMCD": "ALT",
                                "SRCSEQ": lb.loc[row, "LBSEQ"]}, "ATOXGR", grade))

    diagnosis = mh.index[mh["MHCAT"] == "PRIMARY DIAGNOSIS"]
    phases = ((-365, "Persistent"), (-366, "Chronic"), (-91, "Newly diagnosed"), (-92, "Persistent"))
    for row, (days, phase) in zip(diagnosis[:4], phases):
        subject = mh.loc[row, "USUBJID"]
        mh.loc[row, "MHSTDTC"] = _day(start[subject], days)
        expect.append(("ADSL", {"USUBJID": subject}, "ITPPHASE", phase))

    late_start = [s for s in ae["USUBJID"] if int(start[s][8:10]) >= 2]
    planted = [  # (AESTDTC, AEENDTC, {variable: expected})
        (lambda s: _day(end[s], 28), lambda s: "", {"TRTEMFL": "Y"}),
        (lambda s: _day(end[s], 29), lambda s: "", {"TRTEMFL": ""}),
        (lambda s: _day(start[s], -1), lambda s: "", {"TRTEMFL": ""}),
        (lambda s: start[s], lambda s: "", {"TRTEMFL": "Y", "ASTDY": 1.0}),
        (lambda s: start[s][:4], lambda s: "", {"ASTDTF": "M", "ASTDY": 1.0, "TRTEMFL": "Y"}),
        (lambda s: "2025-04-02", lambda s: "2025-04", {"AENDTF": "D", "AENDT": dt.date(2025, 4, 14)}),
        (lambda s: "2025-01-10", lambda s: "2025", {"AENDTF": "M", "AENDT": dt.date(2025, 4, 14)}),
        (lambda s: "", lambda s: "", {"ASTDT": None, "TRTEMFL": ""}),
    ]
    for row, (first, last, values) in zip(ae.index[:len(planted)], planted):
        subject = ae.loc[row, "USUBJID"]
        ae.loc[row, ["AESTDTC", "AEENDTC"]] = [first(subject), last(subject)]
        expect += [("ADAE", {"USUBJID": subject, "AESEQ": ae.loc[row, "AESEQ"]}, var, value)
                   for var, value in values.items()]
    row = ae.index[ae["USUBJID"] == late_start[-1]][-1]  # start month = first-dose month, but
    subject = ae.loc[row, "USUBJID"]                       # its own end is before the first dose
    ae.loc[row, ["AESTDTC", "AEENDTC"]] = [start[subject][:7], _day(start[subject], -1)]
    expect += [("ADAE", {"USUBJID": subject, "AESEQ": ae.loc[row, "AESEQ"]}, var, value)
               for var, value in (("ASTDTF", "D"), ("ASTDY", -1.0), ("TRTEMFL", ""))]
    return expect


def _write_like_a_run(out: Path, specs, groups: dict[str, dict[str, pd.DataFrame]]) -> None:
    """Each dataset of ``groups`` ({"sdtm": ..., "adam": ...}) written as the run writes it:
    OUT/GROUP/NAME.xpt with the spec's names, labels and formats (``pipeline.write_dataset``)."""
    for group, datasets in groups.items():
        spec_group = specs.sdtm if group == "sdtm" else specs.adam
        (out / group).mkdir(parents=True)
        for name, frame in datasets.items():
            write_dataset(frame, spec_group[name], out / group / f"{name.lower()}.xpt")


@pytest.fixture(scope="module")
def boundary(_shipped_build, tmp_path_factory):
    """The shipped study's SDTM with planted boundary records: production ADaM built from it
    and written like a run, QC derived from the same SDTM files. The SDTM is this module's copy
    of the session's build from the shipped export (conftest.py), the same frames
    ``build_sdtm(specs, prepare_forms(read_export(shipped export)))`` gives."""
    build = _shipped_build.copy()
    specs, sdtm = build.specs, build.sdtm
    with issues.collect():
        expect = _plant_boundaries(sdtm)
        adam = build_adam(specs, sdtm)
    out = tmp_path_factory.mktemp("qc-boundary")
    _write_like_a_run(out, specs, {"sdtm": sdtm, "adam": adam})
    return out, adam_qc.derive_all(out / "sdtm"), expect


def test_qc_module_never_imports_the_package():
    tree = ast.parse(Path(adam_qc.__file__).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported and not [m for m in imported if m.split(".")[0] == "itp_adam"]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    source = Path(adam_qc.__file__).read_text(encoding="utf-8")
    assert "itp_adam" not in source and "importlib" not in source and "__import__" not in source


@pytest.mark.parametrize("name", adam_qc.ADAM_DATASETS)
def test_shipped_study_production_equals_qc(shipped, name):
    out, qc = shipped
    _assert_equal(_compare(out, qc, name))


@pytest.mark.parametrize("name", adam_qc.ADAM_DATASETS)
def test_simulated_study_production_equals_qc(simulated, name):
    out, qc = simulated
    assert len(qc["ADSL"]) == SIM_SUBJECTS
    _assert_equal(_compare(out, qc, name))


def test_boundary_records_get_what_the_sap_says_in_qc(boundary):
    _, qc, expect = boundary
    assert len(expect) >= 30
    for dataset, keys, variable, value in expect:
        frame = qc[dataset]
        hit = np.logical_and.reduce([(frame[k] == v).to_numpy() for k, v in keys.items()])
        assert hit.sum() == 1, (dataset, keys)
        got = frame.loc[hit, variable].iloc[0]
        if value is None:
            assert got is None or (isinstance(got, float) and np.isnan(got)), (keys, variable, got)
        else:
            assert got == value, (dataset, keys, variable, got, value)


@pytest.mark.parametrize("name", adam_qc.ADAM_DATASETS)
def test_boundary_records_production_equals_qc(boundary, name):
    out, qc, _ = boundary
    _assert_equal(_compare(out, qc, name))


def test_qc_exercises_the_rules(shipped, simulated):
    """The comparison is only worth something if the data reach every branch of the rules."""
    for _, qc in (shipped, simulated):
        adsl, adlb, adae = qc["ADSL"], qc["ADLB"], qc["ADAE"]
        assert set(adsl["ITPPHASE"]) == {"Newly diagnosed", "Persistent", "Chronic"}
        assert set(adsl["DIAGDTF"]) == {"", "D", "M"}
        assert set(adsl["EOTSTT"]) == {"ONGOING", "DISCONTINUED"}
        assert (adlb["ABLFL"] == "Y").any() and (adlb["ANL01FL"] == "Y").sum() > len(adsl)
        assert {"0", "1"} <= set(adlb["ATOXGR"]) and {"Y", "N"} <= set(adlb["CRIT2FL"])
        assert set(adae["ASTDTF"]) == {"", "D", "M"} and {"", "D"} <= set(adae["AENDTF"])
        assert set(adae["TRTEMFL"]) == {"", "Y"} and set(adae["HEPATFL"]) == {"", "Y"}


def test_broken_derivation_is_reported_at_the_right_record(shipped, _shipped_build, tmp_path, monkeypatch):
    """Break two production derivations for one record each; the compare must name them.

    The production ADaM is built with the broken derivations from the shipped study's SDTM
    (the session's build, conftest.py: the SDTM of ``shipped``'s run) and written as the run
    writes it; only the ADaM files are compared, so the rest of a run is not needed."""
    _, qc = shipped
    emergent = qc["ADAE"][qc["ADAE"]["TRTEMFL"] == "Y"].iloc[4]
    ae_key = (emergent["USUBJID"], float(emergent["AESEQ"]))
    changed = qc["ADLB"][qc["ADLB"]["PCHG"].notna() & (qc["ADLB"]["PARAMCD"] == "ALT")].iloc[7]
    lb_key = (changed["USUBJID"], float(changed["SRCSEQ"]))

    def wrap(name: str, target, variable: str, change):
        original = registry.get_derivation(name)

        def broken(frame: pd.DataFrame, **kwargs) -> pd.DataFrame:
            out = original(frame, **kwargs)
            seq = "AESEQ" if variable == "TRTEMFL" else "LBSEQ"
            hit = (out["USUBJID"] == target[0]) & (out[seq] == target[1])
            assert hit.sum() == 1
            out.loc[hit, variable] = change(out.loc[hit, variable])
            return out

        monkeypatch.setitem(registry._REGISTRY, name, broken)

    wrap("derive_var_trtemfl", ae_key, "TRTEMFL", lambda v: v.replace({"Y": ""}))
    wrap("derive_var_pchg", lb_key, "PCHG", lambda v: v + 0.001)
    build = _shipped_build.copy()
    with issues.collect():
        adam = build_adam(build.specs, build.sdtm)  # with the two broken derivations
    out = tmp_path / "broken"
    _write_like_a_run(out, build.specs, {"adam": adam})

    adsl = _compare(out, qc, "ADSL")
    assert adsl.equal
    adae = _compare(out, qc, "ADAE")
    assert not adae.equal and list(adae.diffs) == ["TRTEMFL"] and adae.n_records_unequal == 1
    row = adae.diffs["TRTEMFL"].iloc[0]
    assert (row["USUBJID"], row["AESEQ"], row["BASE"], row["COMPARE"]) == (*ae_key, "", "Y")
    text = adae.text()
    assert "Unequal values of TRTEMFL (Char): 1 record(s)" in text and ae_key[0] in text

    adlb = _compare(out, qc, "ADLB")
    assert list(adlb.diffs) == ["PCHG"] and adlb.n_records_unequal == 1
    row = adlb.diffs["PCHG"].iloc[0]
    assert (row["USUBJID"], row["PARAMCD"], row["SRCSEQ"]) == (lb_key[0], "ALT", lb_key[1])
    assert row["DIFF"] == pytest.approx(-0.001, abs=1e-9)  # compare (QC) - base (production)
    assert _compare(out, qc, "ADLB", tolerance=0.002).equal
