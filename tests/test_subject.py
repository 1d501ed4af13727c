"""Hand-worked tests of itp_adam.derive.subject: subject-level values from several datasets
(CDISC pilot SAP 1: LSTALVDT, DTHCAUS/DTHDOM)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itp_adam.derive.checks import MissingVariable
from itp_adam.derive.subject import derive_var_extreme_dt, derive_vars_extreme_event
from itp_adam.spec.registry import get_derivation

TS = pd.Timestamp
NAT = pd.NaT


def text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def adsl() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": text("S1", "S2", "S3", "S4"),
        "TRTEDT": pd.to_datetime(pd.Series(["2014-03-01", None, "2014-01-10", None])),
    }).set_axis([10, 11, 12, 13])


def ae() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": text("S1", "S1", "S2", "S3", "S9"),
        "AESEQ": [3.0, 1.0, 2.0, 1.0, 1.0],
        "AESTDTC": text("2014-02-10", "2014-04", "2014", "2013-12-31", "2015-01-01"),
        "AEENDTC": text("2014-02-20", "", "2014-06-30T10:00", "2014-01", None),
        "AEOUT": text("FATAL", "FATAL", "RECOVERED/RESOLVED", "FATAL", "FATAL"),
        "AEDECOD": text("MYOCARDIAL INFARCTION", "STROKE", "HEADACHE", "SUDDEN DEATH", "X"),
    })


def lb() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": text("S1", "S2", "S3", "S1"),
        "LBTESTCD": text("ALB", "ALB", "ALB", "HGB"),
        "LBDTC": text("2014-03-15T08:00", "2014-06-01", "", "2014-05-02T09:00"),
    })


def lstalvdt_sources(imputation: str | None) -> list[dict]:
    return [
        {"dataset": ae(), "date": "AESTDTC", "date_imputation": imputation},
        {"dataset": ae(), "date": "AEENDTC", "date_imputation": imputation},
        {"dataset": lb(), "date": "LBDTC", "filter": "LBTESTCD == 'ALB'"},
        {"date": "TRTEDT"},  # no dataset: the input frame itself
    ]


# --- derive_var_extreme_dt ---------------------------------------------------------------------


def test_last_known_alive_latest_date_over_sources_partial_dates_imputed_first() -> None:
    out = derive_var_extreme_dt(adsl(), "LSTALVDT", lstalvdt_sources("first"))
    assert out["LSTALVDT"].tolist() == [
        TS("2014-04-01"),  # S1: AE start 2014-04 -> 1 Apr, after LB 15 Mar (the HGB of 2 May is
                           #     filtered out) and TRTEDT 1 Mar
        TS("2014-06-30"),  # S2: AE end 2014-06-30T10:00 (its day); 2014 -> 1 Jan; LB 1 Jun
        TS("2014-01-10"),  # S3: TRTEDT 10 Jan after AE end 2014-01 -> 1 Jan; blank LB ignored
        NAT,               # S4: no date anywhere (S9 of AE is not a subject of df)
    ]
    assert out["LSTALVDT"].dtype == "datetime64[us]"
    assert out.index.tolist() == [10, 11, 12, 13]
    assert "LSTALVDT" not in adsl().columns


def test_without_imputation_only_complete_dates_count() -> None:
    out = derive_var_extreme_dt(adsl(), "LSTALVDT", lstalvdt_sources(None))
    # S1: 2014-04 no longer counts -> LB 15 Mar; S2: unchanged; S3: 2014-01 does not count
    assert out["LSTALVDT"].tolist() == [TS("2014-03-15"), TS("2014-06-30"), TS("2014-01-10"), NAT]


def test_mode_first_gives_the_earliest_date() -> None:
    out = derive_var_extreme_dt(adsl(), "FIRSTDT", lstalvdt_sources("first"), mode="first")
    # S1: AE start 10 Feb; S2: 2014 -> 1 Jan; S3: AE start 31 Dec 2013
    assert out["FIRSTDT"].tolist() == [TS("2014-02-10"), TS("2014-01-01"), TS("2013-12-31"), NAT]


def test_subjects_matched_on_every_subject_key() -> None:
    df = pd.DataFrame({"STUDYID": text("A", "B"), "USUBJID": text("S1", "S1")})
    source = pd.DataFrame({"STUDYID": text("B"), "USUBJID": text("S1"), "D": text("2014-01-02")})
    out = derive_var_extreme_dt(df, "X", [{"dataset": source, "date": "D"}],
                                subject_keys=["STUDYID", "USUBJID"])
    assert out["X"].tolist() == [NAT, TS("2014-01-02")]


def test_sources_without_any_record_give_missing() -> None:
    empty = ae().iloc[:0]
    out = derive_var_extreme_dt(adsl(), "X", [{"dataset": empty, "date": "AESTDTC"}])
    assert out["X"].isna().all() and out["X"].dtype.kind == "M"


def test_registered_by_name() -> None:
    assert get_derivation("derive_var_extreme_dt") is derive_var_extreme_dt
    assert get_derivation("derive_vars_extreme_event") is derive_vars_extreme_event


@pytest.mark.parametrize(("sources", "message"), [
    ([{"dataset": None, "date": "TRTEDT", "set_values": {}}], r"sources\[0\]: unknown keys"),
    ([{"dataset": None}], r"sources\[0\]: missing keys \['date'\]"),
    ([{"dataset": "AE", "date": "AESTDTC"}], "dataset must be a data frame"),
    ({"date": "TRTEDT"}, "non-empty list"),
    ([], "non-empty list"),
])
def test_malformed_sources_are_refused(sources, message) -> None:
    with pytest.raises(ValueError, match=message):
        derive_var_extreme_dt(adsl(), "X", sources)


def test_a_source_column_missing_names_the_source() -> None:
    with pytest.raises(MissingVariable, match=r"variable AESTDTX \(argument date\) is not in "
                                              r"sources\[1\]"):
        derive_var_extreme_dt(adsl(), "X", [{"date": "TRTEDT"},
                                            {"dataset": ae(), "date": "AESTDTX"}])
    with pytest.raises(MissingVariable, match=r"\(argument subject_keys\) is not in the dataset"):
        derive_var_extreme_dt(adsl(), "X", [{"date": "TRTEDT"}], subject_keys=["SUBJID"])
    with pytest.raises(ValueError, match="mode"):
        derive_var_extreme_dt(adsl(), "X", [{"date": "TRTEDT"}], mode="max")


# --- derive_vars_extreme_event -----------------------------------------------------------------


def ds() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": text("S1", "S2", "S2", "S4", "S3"),
        "DSSEQ": [5.0, 6.0, 7.0, 8.0, 9.0],
        "DSDECOD": text("DEATH", "DEATH", "COMPLETED", "DEATH", "DEATH"),
        "DSTERM": text("DEATH DUE TO MI", "DEATH DUE TO PROGRESSIVE DISEASE", "COMPLETED", "DEATH",
                       "DEATH DUE TO FALL"),
    })


def death_events() -> list[dict]:
    return [
        {"dataset": ae(), "filter": "AEOUT == 'FATAL'", "order": ["AESEQ"], "mode": "first",
         "set_values": {"DTHCAUS": {"var": "AEDECOD"}, "DTHDOM": "AE", "DTHSEQ": {"var": "AESEQ"}}},
        {"dataset": ds(), "filter": "DSDECOD == 'DEATH' and contains(DSTERM, 'DEATH DUE TO')",
         "set_values": {"DTHCAUS": {"var": "DSTERM"}, "DTHDOM": "DS", "DTHSEQ": {"var": "DSSEQ"}}},
    ]


def test_cause_of_death_from_the_first_event_that_has_a_record() -> None:
    out = derive_vars_extreme_event(adsl(), death_events())
    # S1: two fatal AEs -> the lowest AESEQ (1, STROKE); the AE event wins over its DS death
    # S2: no fatal AE -> its DS death record; S3: fatal AE; S4: DS "DEATH" lacks "DEATH DUE TO"
    assert out["DTHCAUS"].tolist() == ["STROKE", "DEATH DUE TO PROGRESSIVE DISEASE",
                                       "SUDDEN DEATH", ""]
    assert out["DTHDOM"].tolist() == ["AE", "DS", "AE", ""]
    np.testing.assert_array_equal(out["DTHSEQ"].to_numpy(dtype="float64"), [1.0, 6.0, 1.0, np.nan])
    assert out["DTHCAUS"].dtype == "str" and out.index.tolist() == [10, 11, 12, 13]


def test_new_vars_chooses_what_is_added() -> None:
    out = derive_vars_extreme_event(adsl(), death_events(), new_vars=["DTHCAUS", "DTHDOM"])
    assert [c for c in out.columns if c.startswith("DTH")] == ["DTHCAUS", "DTHDOM"]


def test_order_across_events_and_mode_last() -> None:
    # the latest DTHSEQ over both events: S1 AE 1 / DS 5 -> DS; S3 AE 1 / DS 9 -> DS
    out = derive_vars_extreme_event(adsl(), death_events(), order=["DTHSEQ"], mode="last")
    assert out["DTHDOM"].tolist() == ["DS", "DS", "DS", ""]
    assert out["DTHCAUS"].tolist() == ["DEATH DUE TO MI", "DEATH DUE TO PROGRESSIVE DISEASE",
                                       "DEATH DUE TO FALL", ""]
    # no order, mode last: the last event of the list that has a record
    last = derive_vars_extreme_event(adsl(), death_events(), mode="last")
    assert last["DTHDOM"].tolist() == ["DS", "DS", "DS", ""]


def test_event_without_order_keeps_input_order_and_mode_alone_picks_first_or_last() -> None:
    events = [{"dataset": ae(), "filter": "AEOUT == 'FATAL'",
               "set_values": {"CAUSE": {"var": "AEDECOD"}}}]
    # S1's fatal AEs in input order: MYOCARDIAL INFARCTION (AESEQ 3), then STROKE (AESEQ 1)
    assert derive_vars_extreme_event(adsl(), events)["CAUSE"].tolist() == [
        "MYOCARDIAL INFARCTION", "", "SUDDEN DEATH", ""]
    events[0]["mode"] = "last"
    assert derive_vars_extreme_event(adsl(), events)["CAUSE"].tolist() == [
        "STROKE", "", "SUDDEN DEATH", ""]


def test_event_on_the_input_frame_itself() -> None:
    df = adsl()
    events = [{"filter": "not_missing(TRTEDT)", "set_values": {"TREATED": "Y"}}]
    assert derive_vars_extreme_event(df, events)["TREATED"].tolist() == ["Y", "", "Y", ""]


@pytest.mark.parametrize(("change", "message"), [
    ({"set_values_to": {"X": "Y"}}, r"events\[0\]: unknown keys \['set_values_to'\]"),
    ({"set_values": {}}, "set_values must be a mapping"),
    ({"set_values": {"X": {"column": "AEDECOD"}}}, r"a column is written \{var: NAME\}"),
    ({"mode": "lowest"}, "mode must be 'first' or 'last'"),
])
def test_malformed_events_are_refused(change, message) -> None:
    event = {"dataset": ae(), "set_values": {"X": "Y"}, **change}
    with pytest.raises(ValueError, match=message):
        derive_vars_extreme_event(adsl(), [event])


def test_event_errors_name_the_event_and_the_variable() -> None:
    with pytest.raises(MissingVariable, match=r"variable AEDECODX \(argument set_values\) is not "
                                              r"in events\[1\]"):
        derive_vars_extreme_event(adsl(), [death_events()[0], {
            "dataset": ae(), "set_values": {"DTHCAUS": {"var": "AEDECODX"}}}])
    with pytest.raises(ValueError, match=r"new_vars \['DTHX'\] are set by no event"):
        derive_vars_extreme_event(adsl(), death_events(), new_vars=["DTHX"])
    with pytest.raises(ValueError, match=r"already in the data frame: \['TRTEDT'\]"):
        derive_vars_extreme_event(adsl(), [{"dataset": ae(), "set_values": {"TRTEDT": "X"}}])
