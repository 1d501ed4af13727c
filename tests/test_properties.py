"""Property-based tests (hypothesis) of the date, window and record-selection rules.

Each property is checked against the production functions with expectations worked out
independently with :mod:`datetime` and plain Python (the SAP rules quoted per test):

* raw dates -> ISO 8601 and back, partial dates truncated, impossible dates refused;
* ADaM imputation stays inside the collected parts and never goes after the record's own end
  or the data cut-off;
* study day: never 0, date - reference + 1 on or after the reference, date - reference before;
* every post-baseline study day 2..747 lies in exactly one analysis window of study.yaml;
* the analysis record (ANL01FL) does not depend on the order of the rows.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itp_adam.derive.dates import (
    complete_dates,
    derive_var_dy,
    derive_vars_dt,
    iso_datetime,
    raw_date_to_iso,
)
from itp_adam.derive.core import derive_var_anl_flag
from itp_adam.paths import default_specs_dir
from itp_adam.derive.sdtm import study_day, usubjid
from itp_adam.spec.model import load_study
from itp_adam.derive.windows import derive_vars_window

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))


def raw(day: dt.date) -> str:
    """A date as the capture system writes it: DD MON YYYY (raw-forms.md)."""
    return f"{day.day:02d} {MONTHS[day.month - 1]} {day.year}"


@pytest.fixture(scope="module")
def study():
    return load_study(default_specs_dir())


# --------------------------------------------------------------------------------------------
# raw dates and ISO 8601


@SETTINGS
@given(st.lists(dates, min_size=1, max_size=30), st.data())
def test_raw_dates_to_iso_and_back(days, data):
    # the same dates written as collected, in any case and with blanks around them
    text = [data.draw(st.sampled_from([raw(d), raw(d).lower(), f"  {raw(d)} "])) for d in days]
    iso, invalid = raw_date_to_iso(pd.Series(text, dtype="str"))
    assert not invalid.any()
    assert iso.tolist() == [d.isoformat() for d in days]
    assert [dt.date.fromisoformat(v) for v in iso] == days  # ISO 8601 round trip
    assert [raw(dt.date.fromisoformat(v)) for v in iso] == [raw(d) for d in days]
    assert complete_dates(pd.Series(text, dtype="str")).dt.date.tolist() == days


@SETTINGS
@given(st.lists(st.tuples(dates, st.booleans()), min_size=1, max_size=30))
def test_partial_dates_truncated(parts):
    # SAP "Dates": UN NOV 2024 -> 2024-11; UN UNK 2019 -> 2019
    text = [f"UN {MONTHS[d.month - 1]} {d.year}" if month_known else f"UN UNK {d.year}"
            for d, month_known in parts]
    iso, invalid = raw_date_to_iso(pd.Series(text, dtype="str"))
    assert not invalid.any()
    assert iso.tolist() == [f"{d.year}-{d.month:02d}" if month_known else str(d.year)
                            for d, month_known in parts]


@SETTINGS
@given(st.integers(1900, 2100), st.integers(1, 12), st.integers(0, 40))
def test_impossible_dates_refused(year, month, day):
    text = f"{day:02d} {MONTHS[month - 1]} {year}"
    iso, invalid = raw_date_to_iso(pd.Series([text], dtype="str"))
    possible = 1 <= day <= calendar.monthrange(year, month)[1]
    assert bool(invalid.iloc[0]) is not possible
    assert iso.iloc[0] == (dt.date(year, month, day).isoformat() if possible else "")


@SETTINGS
@given(st.lists(st.tuples(dates, st.times()), min_size=1, max_size=20))
def test_iso_datetime_round_trip(stamps):
    day = pd.Series([d.isoformat() for d, _ in stamps], dtype="str")
    time = pd.Series([t.strftime("%H:%M") for _, t in stamps], dtype="str")
    joined = iso_datetime(day, time)
    back = [dt.datetime.fromisoformat(v) for v in joined]
    assert back == [dt.datetime.combine(d, t.replace(second=0, microsecond=0)) for d, t in stamps]


# --------------------------------------------------------------------------------------------
# ADaM imputation (SAP "Dates"; study.yaml imputation)


def partial(day: dt.date, level: str) -> str:
    return {"day": day.isoformat(), "month": day.isoformat()[:7], "year": str(day.year)}[level]


def earliest(iso: str) -> dt.date:
    return dt.date.fromisoformat((iso + "-01-01")[:10]) if len(iso) == 4 else \
        dt.date.fromisoformat((iso + "-01")[:10])


levels = st.sampled_from(["day", "month", "year"])


@SETTINGS
@given(st.lists(st.tuples(dates, levels), min_size=1, max_size=30), st.integers(0, 3000))
def test_end_imputation_never_after_the_cutoff(ends, gap):
    # AE/CM end: last day of the month / 31 DEC, never after the cut-off. Records whose end is
    # after the cut-off even at its earliest lost their end in SDTM, so they never get here:
    # the cut-off is drawn on or after the latest earliest day (drawing it anywhere and
    # discarding the rest made Hypothesis give up on too many inputs, now and then)
    cutoff = max(earliest(partial(d, lvl)) for d, lvl in ends) + dt.timedelta(days=gap)
    frame = pd.DataFrame({"AEENDTC": [partial(d, lvl) for d, lvl in ends]})
    out = derive_vars_dt(frame, "AEN", "AEENDTC", date_imputation="last", day_imputation="last",
                         max_dates=[cutoff])
    for (day, level), got, flag in zip(ends, out["AENDT"].dt.date, out["AENDTF"]):
        iso = partial(day, level)
        assert got.isoformat().startswith(iso)  # the collected parts never change
        if level == "day":
            assert (got, flag) == (day, "")     # a complete date is never changed
        else:
            assert got <= cutoff and flag == {"month": "D", "year": "M"}[level]
            # the latest day the partial date allows that is not after the cut-off
            last = dt.date(day.year, 12, 31) if level == "year" else \
                dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
            assert got == min(last, cutoff)


@SETTINGS
@given(st.lists(st.tuples(dates, levels, st.integers(0, 400), dates), min_size=1, max_size=30))
def test_start_imputation_never_after_its_own_end(rows):
    # AE/CM start: 1st of the month / 01 JAN, the first dose date when the known parts equal
    # its parts, never after the record's own complete end date
    start = [partial(d, lvl) for d, lvl, _, _ in rows]
    end = [(earliest(s) + dt.timedelta(days=gap)).isoformat() for s, (_, _, gap, _) in zip(start, rows)]
    first_dose = [dose for *_, dose in rows]
    frame = pd.DataFrame({"AESTDTC": start, "AEENDTC": end, "TRTSDT": pd.to_datetime(first_dose)})
    out = derive_vars_dt(frame, "AST", "AESTDTC", date_imputation="first", day_imputation="first",
                         min_dates=["TRTSDT"], max_dates=["AEENDTC"])
    for s, e, dose, got in zip(start, end, first_dose, out["ASTDT"].dt.date):
        assert got.isoformat().startswith(s) and got <= dt.date.fromisoformat(e)
        if len(s) < 10:  # independent: first day, raised to the dose date when it shares the parts
            expected = earliest(s)
            if dose.isoformat().startswith(s):
                expected = max(expected, dose)
            assert got == min(expected, dt.date.fromisoformat(e))


# --------------------------------------------------------------------------------------------
# study day (SAP "Dates": no day 0)


@SETTINGS
@given(st.lists(st.tuples(dates, dates), min_size=1, max_size=40))
def test_study_day_never_zero(pairs):
    frame = pd.DataFrame({"ADT": pd.to_datetime([d for d, _ in pairs]),
                          "TRTSDT": pd.to_datetime([r for _, r in pairs])})
    adam = derive_var_dy(frame, "ADY", "TRTSDT", "ADT")["ADY"].tolist()
    subjects = [f"S{i}" for i in range(len(pairs))]
    sdtm = study_day(pd.DataFrame({"USUBJID": subjects, "LBDTC": [d.isoformat() for d, _ in pairs]}),
                     "LBDTC", pd.DataFrame({"USUBJID": subjects,
                                            "RFSTDTC": [r.isoformat() for _, r in pairs]})).tolist()
    for (day, ref), a, s in zip(pairs, adam, sdtm):
        diff = (day - ref).days
        expected = diff + 1 if day >= ref else diff
        assert a == s == expected and expected != 0


# --------------------------------------------------------------------------------------------
# analysis windows (SAP "Analysis visits"; study.yaml analysis_windows)


def test_every_post_baseline_day_in_exactly_one_window(study):
    windows = study.analysis_windows.windows
    days = np.arange(2, 748)
    out = derive_vars_window(pd.DataFrame({"ADY": days.astype(float)}), "ADY", windows)
    for day, avisit in zip(days, out["AVISIT"]):
        containing = [w.avisit for w in windows if w.lo <= day <= w.hi]
        assert containing == [avisit], day


@SETTINGS
@given(st.lists(st.integers(-400, 1200), min_size=1, max_size=60))
def test_window_of_any_day(study, days):
    # a day in 2..747 gets the window holding it (with its bounds); other days get none
    windows = study.analysis_windows.windows
    out = derive_vars_window(pd.DataFrame({"ADY": np.array(days, dtype=float)}), "ADY", windows)
    for day, avisit, lo, hi in zip(days, out["AVISIT"], out["AWLO"], out["AWHI"]):
        if 2 <= day <= 747:
            (window,) = [w for w in windows if w.lo <= day <= w.hi]
            assert (avisit, lo, hi) == (window.avisit, window.lo, window.hi)
        else:
            assert avisit == "" and np.isnan(lo)


# --------------------------------------------------------------------------------------------
# analysis record selection (SAP "Analysis record selection")

records = st.lists(
    st.tuples(
        st.sampled_from(["S1", "S2", "S3"]),           # USUBJID
        st.sampled_from([8, 15, 29]),                   # AWTARGET (one visit per target)
        st.integers(-6, 6),                             # day offset from the target
        st.sampled_from(["", "T08:00", "T11:40"]),      # time, if collected
        st.one_of(st.none(), st.floats(0, 500)),        # AVAL
    ),
    min_size=1, max_size=40,
)


@SETTINGS
@given(records, st.randoms(use_true_random=False))
def test_analysis_record_invariant_to_row_order(study, rows, rng):
    tie_order = [tuple(key) for key in study.analysis_record.tie_order]
    assert tie_order == [("LBDTC", "desc"), ("LBSEQ", "desc")]
    frame = pd.DataFrame({
        "USUBJID": [r[0] for r in rows],
        "AVISITN": [r[1] for r in rows],
        "AWTARGET": [float(r[1]) for r in rows],
        "ADY": [float(r[1] + r[2]) for r in rows],
        "LBDTC": [f"2024-01-{r[1] + r[2] + 7:02d}{r[3]}" for r in rows],
        "LBSEQ": np.arange(1, len(rows) + 1, dtype=float),  # unique, as in SDTM
        "AVAL": [np.nan if r[4] is None else r[4] for r in rows],
    })
    args = dict(by_vars=["USUBJID", "AVISITN"], day_var="ADY", target_var="AWTARGET",
                order_tiebreak=tie_order, new_var="ANL01FL")
    chosen = set(frame.loc[derive_var_anl_flag(frame, **args)["ANL01FL"] == "Y", "LBSEQ"])
    order = list(range(len(frame)))
    rng.shuffle(order)
    shuffled = frame.iloc[order].reset_index(drop=True)
    again = set(shuffled.loc[derive_var_anl_flag(shuffled, **args)["ANL01FL"] == "Y", "LBSEQ"])
    assert again == chosen
    # independently: per group, among records with AVAL, the closest day; then the later day,
    # the later time (LBDTC), the higher LBSEQ
    expected = set()
    for _, group in frame[frame["AVAL"].notna()].groupby(["USUBJID", "AVISITN"]):
        best = max(group.itertuples(), key=lambda r: (-abs(r.ADY - r.AWTARGET), r.ADY, r.LBDTC, r.LBSEQ))
        expected.add(best.LBSEQ)
    assert chosen == expected


PARTS = st.one_of(st.none(), st.sampled_from(["", " ", "HTP-301", " HTP-301 ", "X", "01-001",
                                              "01-001 ", "02-010", "é"]))


@SETTINGS
@given(st.lists(st.tuples(PARTS, PARTS), max_size=25))
def test_usubjid_joins_the_stripped_parts_per_record(pairs: list[tuple]) -> None:
    """SAP "Names": STUDYID-SUBJID of the stripped parts; "" when either part is blank."""
    index = np.arange(len(pairs))[::-1]  # not 0, 1, ...: the result keeps the frame's index
    df = pd.DataFrame({"STUDYID": pd.Series([a for a, _ in pairs], index=index, dtype="str"),
                       "SUBJID": pd.Series([b for _, b in pairs], index=index, dtype="str")})
    expected = []
    for study, subject in pairs:  # per record, plain Python
        study, subject = (study or "").strip(), (subject or "").strip()
        expected.append(f"{study}-{subject}" if study and subject else "")
    got = usubjid(df)
    assert got.index.tolist() == df.index.tolist() and got.tolist() == expected
