"""Hand-worked tests of itp_adam.derive.windows (SAP "Analysis visits")."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam.derive.windows import Window, check_windows, derive_vars_window

# The SAP table, copied by hand from sap.md: (AVISIT, AVISITN, target day, lo, hi).
SAP_TABLE = [
    ("Week 1", 1, 8, 2, 11),
    ("Week 2", 2, 15, 12, 22),
    ("Week 4", 4, 29, 23, 36),
    ("Week 6", 6, 43, 37, 50),
    ("Week 8", 8, 57, 51, 71),
    ("Week 12", 12, 85, 72, 99),
    ("Week 16", 16, 113, 100, 127),
    ("Week 20", 20, 141, 128, 155),
    ("Week 24", 24, 169, 156, 191),
    ("Month 7", 107, 214, 192, 229),
    ("Month 8", 108, 245, 230, 260),
    ("Month 9", 109, 275, 261, 290),
    ("Month 10", 110, 305, 291, 320),
    ("Month 11", 111, 336, 321, 351),
    ("Month 12", 112, 366, 352, 381),
    ("Month 13", 113, 397, 382, 412),
    ("Month 14", 114, 427, 413, 442),
    ("Month 15", 115, 458, 443, 473),
    ("Month 16", 116, 488, 474, 503),
    ("Month 17", 117, 518, 504, 533),
    ("Month 18", 118, 549, 534, 564),
    ("Month 19", 119, 579, 565, 594),
    ("Month 20", 120, 610, 595, 625),
    ("Month 21", 121, 640, 626, 655),
    ("Month 22", 122, 671, 656, 686),
    ("Month 23", 123, 701, 687, 716),
    ("Month 24", 124, 732, 717, 747),
]


@pytest.fixture(scope="module")
def sap_windows() -> list[Window]:
    return [
        Window(avisit=a, avisitn=n, target=t, lo=lo, hi=hi) for a, n, t, lo, hi in SAP_TABLE
    ]


def test_fixture_follows_the_sap_construction_rule() -> None:
    # Guards the hand-typed fixture against typos: Month N target = floor(30.4375 N + 0.5) + 1
    # (Month 7: floor(213.0625 + 0.5) + 1 = 214), windows split at the targets' midpoint
    # (Week 1/2: (8 + 15) / 2 = 11.5 -> 2-11 | 12-22), the last ends at 732 + 15 = 747.
    for avisit, avisitn, target, _, _ in SAP_TABLE:
        if avisit.startswith("Month"):
            assert target == math.floor(30.4375 * (avisitn - 100) + 0.5) + 1
    for before, after in zip(SAP_TABLE, SAP_TABLE[1:]):
        assert before[4] == math.floor((before[2] + after[2]) / 2)
        assert after[3] == before[4] + 1
    assert SAP_TABLE[-1][4] == SAP_TABLE[-1][2] + 15


def test_check_windows_sorts_and_accepts_mappings(sap_windows: list[Window]) -> None:
    as_dicts = [w.model_dump() for w in reversed(sap_windows)]
    assert check_windows(as_dicts) == sap_windows


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([{"avisit": "Week 1", "avisitn": 1, "target": 8, "lo": 11, "hi": 2}], "'Week 1'.*lo 11"),
        ([{"avisit": "Week 2", "avisitn": 2, "target": 30, "lo": 12, "hi": 22}], "'Week 2'.*target 30"),
        (
            [
                {"avisit": "Week 1", "avisitn": 1, "target": 8, "lo": 2, "hi": 12},
                {"avisit": "Week 2", "avisitn": 2, "target": 15, "lo": 12, "hi": 22},
            ],
            "'Week 1' and 'Week 2' overlap",  # day 12 would be in both
        ),
    ],
)
def test_check_windows_rejects_bad_windows(windows: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_windows(windows)


def test_window_boundaries(sap_windows: list[Window]) -> None:
    df = pd.DataFrame({"ADY": [1, 2, 11, 12, 36, 37, 100, 747, 748, np.nan, -5]}, index=range(20, 9, -1))
    out = derive_vars_window(df, "ADY", sap_windows)
    assert out.index.tolist() == df.index.tolist()
    assert out["AVISIT"].tolist() == [
        "",  # day 1 (first dose) is not post-baseline: no window
        "Week 1",  # 2 = lo of Week 1
        "Week 1",  # 11 = hi of Week 1
        "Week 2",  # 12 = lo of Week 2
        "Week 4",  # 36 = hi of Week 4 (23-36)
        "Week 6",  # 37 = lo of Week 6 (37-50)
        "Week 16",  # 100 = lo of Week 16
        "Month 24",  # 747 = 732 + 15, hi of the last window
        "",  # 748: past the last window
        "",  # missing day
        "",  # pre-treatment
    ]
    assert out["AVISITN"].tolist()[4:6] == [4.0, 6.0]
    assert out["AWTARGET"].tolist()[4:6] == [29.0, 43.0]
    assert out["AWLO"].tolist()[4:6] == [23.0, 37.0]
    assert out["AWHI"].tolist()[4:6] == [36.0, 50.0]
    assert np.isnan(out["AVISITN"].iloc[0]) and np.isnan(out["AWHI"].iloc[8])
    assert "AVISIT" not in df.columns


def test_window_filter_as_expression_and_series(sap_windows: list[Window]) -> None:
    df = pd.DataFrame({"ADY": [8, 8, 15], "ABLFL": ["Y", "", ""]})
    by_text = derive_vars_window(df, "ADY", sap_windows, filter='ABLFL != "Y"')
    by_series = derive_vars_window(df, "ADY", sap_windows, filter=df["ABLFL"].ne("Y"))
    for out in (by_text, by_series):
        assert out["AVISIT"].tolist() == ["", "Week 1", "Week 2"]
        assert np.isnan(out["AWTARGET"].iloc[0])


def test_no_windows_assigns_nothing() -> None:
    out = derive_vars_window(pd.DataFrame({"ADY": [5]}), "ADY", [])
    assert out["AVISIT"].tolist() == [""]


def test_every_day_2_to_747_in_exactly_one_window(sap_windows: list[Window]) -> None:
    days = np.arange(2, 748)
    containing = sum(((days >= w.lo) & (days <= w.hi)).astype(int) for w in sap_windows)
    assert (containing == 1).all()


@settings(max_examples=40, deadline=None)
@given(days=st.lists(st.integers(-30, 800), min_size=1, max_size=40))
def test_window_assignment_property(days: list[int]) -> None:
    windows = [Window(avisit=a, avisitn=n, target=t, lo=lo, hi=hi) for a, n, t, lo, hi in SAP_TABLE]
    out = derive_vars_window(pd.DataFrame({"ADY": days}), "ADY", windows)
    for day, avisit, lo, hi in zip(days, out["AVISIT"], out["AWLO"], out["AWHI"]):
        if 2 <= day <= 747:
            matching = [w.avisit for w in windows if w.lo <= day <= w.hi]
            assert [avisit] == matching and lo <= day <= hi
        else:
            assert avisit == "" and np.isnan(lo)
