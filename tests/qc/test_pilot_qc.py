"""The independent CDISCPILOT01 QC (tests/qc/pilot_qc.py): record counts, keys, conventions and
the hand-worked values of tests/pilot_hand.py; plus ``compare_with_production``, the helper that
will compare the production datasets with the QC once production exists.

Needs only the QC module and the shipped SDTM (the package's sdtm.zip), not the package."""

from __future__ import annotations

import ast
import datetime as dt
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from . import pilot_qc
from .. import pilot_hand

REPO = Path(__file__).resolve().parents[2]
SDTM_ZIP = REPO / "src" / "itp_adam" / "data" / "cdiscpilot01" / "sdtm.zip"

# section 6: keys and core variables
KEYS = {
    "ADSL": ["USUBJID"],
    "ADAE": ["USUBJID", "AESEQ"],
    "ADLB": ["USUBJID", "PARAMCD", "ADT", "AVISIT", "DTYPE"],
    "ADVS": ["USUBJID", "PARAMCD", "BASETYPE", "ADT", "VISITNUM", "AVISIT", "ATPTN", "DTYPE"],
}
CORE = {
    "ADSL": """STUDYID SUBJID SITEID COUNTRY AGE AGEU SEX RACE ETHNIC ARM ARMCD ACTARM ACTARMCD
        DTHFL TRT01P TRT01A TRTSDTM TRTSTMF TRTSDT TRTEDTM TRTETMF TRTEDT TRTDURD SAFFL SCRFDT
        EOSDT EOSSTT FRVDT RANDDT DTHDT DTHDTF DTHADY LDDTHELD DTHCAUS DTHDOM DTHCGR1 LDDTHGR1
        DTH30FL DTHA30FL DTHB30FL LSTALVDT AGEGR1 RACEGR1 REGION1""".split(),
    "ADAE": """STUDYID AETERM AEDECOD AEBODSYS AESOC AESEV AESER AEREL AEOUT AESTDTC AEENDTC TRTSDT
        TRTEDT TRT01P TRT01A SAFFL DTHDT EOSDT ASTDT ASTDTM ASTDTF ASTTMF AENDT AENDTM AENDTF
        AENTMF ASTDY AENDY ADURN ADURU ASEV ASEVN AREL TRTEMFL AOCCIFL""".split(),
    "ADLB": """STUDYID LBSEQ VISIT VISITNUM TRTSDT TRTEDT TRT01P TRT01A SAFFL PARAM PARAMN PARCAT1
        ADY AVISITN AVAL AVALC ANRLO ANRHI ANRIND BASETYPE ABLFL BASE BASEC BNRIND CHG PCHG
        R2BASE R2ANRLO R2ANRHI ONTRTFL ANL01FL LVOTFL ATOXDSCL ATOXDSCH ATOXGRL ATOXGRH ATOXGR
        BTOXGRL BTOXGRH BTOXGR SHIFT1 SHIFT2 TRTP TRTA ASEQ""".split(),
    "ADVS": """STUDYID VSSEQ VISIT TRTSDT TRTEDT TRT01P TRT01A SAFFL PARAM PARAMN ADY AVISITN ATPT
        AVAL AVALCAT1 AVALCA1N ANRLO ANRHI A1LO A1HI ANRIND BNRIND ABLFL BASE CHG PCHG ONTRTFL
        ANL01FL TRTP TRTA ASEQ""".split(),
}
CORE_COUNT = {"ADSL": 44, "ADAE": 35, "ADLB": 45, "ADVS": 31}  # sections 1-4 headings

# Record counts: ADSL and ADAE (and the LB / VS sources) as the plan states; the derived kinds
# as the QC computes them (cross-checked below with independent group counts).
COUNTS = {
    "ADSL": 306,
    "ADAE": 1191,
    "ADLB": {"LB": 59580, "CALCULATION": 24, "MINIMUM": 7941, "MAXIMUM": 7941, "LOV": 8166},
    "ADVS": {"VS": 29643, "MAP": 8205, "BSA": 2050, "BMI": 2050, "AVERAGE": 20060,
             "LOV": 3024},
}


# ------------------------------------------------------------------------------------------
# The helper for double programming


def _plain(value):
    """A comparable plain value: None for missing; datetime/date; float; str."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        value = value.rstrip()
        return value if value else None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return value


_SAS_EPOCH = dt.datetime(1960, 1, 1)


def _as_datetime(value, other):
    """Dates and datetimes as datetime; a number facing a date is a SAS date (days) or, facing a
    datetime, a SAS datetime (seconds)."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, float) and isinstance(other, dt.datetime):
        return _SAS_EPOCH + dt.timedelta(seconds=value)
    if isinstance(value, float) and isinstance(other, dt.date):
        return _SAS_EPOCH + dt.timedelta(days=value)
    return None


def _same(a, b, rel_tol: float, abs_tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dt.date) or isinstance(b, dt.date):
        x, y = _as_datetime(a, b), _as_datetime(b, a)
        return x is not None and y is not None and abs((x - y).total_seconds()) < 1e-3
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return type(a) is type(b) and a == b


def _key(value):
    """A hashable key value: numbers rounded to 12 significant digits, missing = None."""
    value = _plain(value)
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date()
    return value


def compare_with_production(qc: pd.DataFrame, prod: pd.DataFrame, keys, variables,
                            rel_tol: float = 1e-9, abs_tol: float = 0.0) -> list[dict]:
    """Differences between the QC and the production version of a dataset.

    Records are matched on ``keys`` (a missing key value is a value of its own). Each
    difference is a dict: ``variable``, ``keys`` (dict of key values), ``qc``, ``production``.
    A record on one side only is reported with variable "<record>", a variable absent from a
    side with keys None. Missing values ("", None, NaN, NaT) are equal to each other; numbers
    are equal within ``rel_tol`` (relative) or ``abs_tol``; dates are compared as dates
    (date, datetime, Timestamp, or a SAS day/second count facing a date); text without
    trailing blanks."""
    keys, variables = list(keys), list(variables)
    differences = []
    for name in variables:
        if name not in qc.columns or name not in prod.columns:
            differences.append({"variable": name, "keys": None,
                                "qc": "present" if name in qc.columns else "absent",
                                "production": "present" if name in prod.columns else "absent"})
    shared = [v for v in variables if v in qc.columns and v in prod.columns and v not in keys]

    def index(frame: pd.DataFrame, side: str) -> dict:
        """Key -> row position."""
        out = {}
        for position, record in enumerate(frame[keys].itertuples(index=False, name=None)):
            key = tuple(_key(value) for value in record)
            if key in out:
                raise ValueError(f"{side}: duplicate key {dict(zip(keys, key))}")
            out[key] = position
        return out

    qc_index, prod_index = index(qc, "qc"), index(prod, "production")
    matched = []
    for key in sorted(set(qc_index) | set(prod_index), key=lambda k: tuple(map(str, k))):
        if key not in prod_index or key not in qc_index:
            differences.append({"variable": "<record>", "keys": dict(zip(keys, key)),
                                "qc": "present" if key in qc_index else "absent",
                                "production": "present" if key in prod_index else "absent"})
        else:
            matched.append(key)
    rows_qc = np.array([qc_index[key] for key in matched], dtype=np.int64)
    rows_prod = np.array([prod_index[key] for key in matched], dtype=np.int64)
    for name in shared:
        a = qc[name].iloc[rows_qc].reset_index(drop=True)
        b = prod[name].iloc[rows_prod].reset_index(drop=True)
        # whole columns first; only the records a column comparison cannot call equal are
        # decided value by value (_plain, _same), which also makes the report
        for position in np.flatnonzero(~_equal_columns(a, b, rel_tol, abs_tol)):
            x, y = a.iloc[position], b.iloc[position]
            if not _same(_plain(x), _plain(y), rel_tol, abs_tol):
                differences.append({"variable": name, "keys": dict(zip(keys, matched[position])),
                                    "qc": x, "production": y})
    return differences


def _equal_columns(a: pd.Series, b: pd.Series, rel_tol: float, abs_tol: float) -> np.ndarray:
    """Per record, True where the two aligned columns certainly hold the same value (both
    missing, numbers within the tolerance, the same instant, the same text without trailing
    blanks); False means "look at the values one by one", never "different" by itself."""
    kinds = {pd.api.types.infer_dtype(a, skipna=True), pd.api.types.infer_dtype(b, skipna=True)}
    numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) \
        and not pd.api.types.is_bool_dtype(a) and not pd.api.types.is_bool_dtype(b)
    if numeric:
        x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
        both_missing = np.isnan(x) & np.isnan(y)
        with np.errstate(invalid="ignore"):
            close = np.abs(x - y) <= np.maximum(rel_tol * np.maximum(np.abs(x), np.abs(y)), abs_tol)
        return both_missing | close
    if kinds <= {"date", "datetime", "datetime64", "empty"}:
        x, y = pd.to_datetime(a), pd.to_datetime(b)
        both_missing = (x.isna() & y.isna()).to_numpy()
        same = ((x - y).abs() < pd.Timedelta(milliseconds=1)).fillna(False).to_numpy(dtype=bool)
        return both_missing | same
    if kinds <= {"string", "empty"}:
        x = a.astype("object").where(a.notna(), "").astype(str).str.rstrip()
        y = b.astype("object").where(b.notna(), "").astype(str).str.rstrip()
        return (x == y).to_numpy(dtype=bool)
    return np.zeros(len(a), dtype=bool)


# ------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def sdtm(pilot_sdtm) -> dict[str, pd.DataFrame]:
    return pilot_sdtm


@pytest.fixture(scope="module")
def qc(pilot_qc_frames) -> dict:
    return pilot_qc_frames


def _missing(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _hit(frame: pd.DataFrame, keys: dict) -> pd.Series:
    """The one row of ``frame`` with these key values (None = missing)."""
    mask = np.ones(len(frame), dtype=bool)
    for name, value in keys.items():
        column = frame[name]
        if value is None:
            mask &= column.isna().to_numpy()
        elif isinstance(value, str):
            mask &= (column == value).to_numpy()
        elif isinstance(value, dt.date):
            mask &= np.array([v == value for v in column], dtype=bool)
        else:
            mask &= np.isclose(column.astype(float).to_numpy(), value, rtol=0, atol=1e-9)
    assert mask.sum() == 1, (keys, int(mask.sum()))
    return frame[mask].iloc[0]


def _check(got, expected, where) -> None:
    if expected is None:
        assert _missing(got), (where, got)
    elif isinstance(expected, str):
        assert got == expected, (where, got, expected)
    elif isinstance(expected, (dt.date, dt.datetime)):
        assert type(got) is type(expected) and got == expected, (where, got, expected)
    else:
        close = isinstance(got, float) and math.isclose(got, expected, rel_tol=1e-9,
                                                         abs_tol=1e-12)
        assert close, (where, got, expected)


# ------------------------------------------------------------------------------------------
# The QC module itself


def test_qc_module_never_imports_the_package():
    path = Path(pilot_qc.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported and not [m for m in imported if m.split(".")[0] == "itp_adam"]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    source = path.read_text(encoding="utf-8")
    assert "itp_adam" not in source and "importlib" not in source and "__import__" not in source


def test_zip_and_folder_read_alike(sdtm, tmp_path):
    assert {"DM", "EX", "DS", "AE", "LB", "VS"} <= set(sdtm)
    assert len(sdtm["LB"]) == 59580 and len(sdtm["VS"]) == 29643
    assert sdtm["EX"]["EXDOSE"].min() == 0.0  # pyreadstat: an IBM zero stays 0
    with zipfile.ZipFile(SDTM_ZIP) as archive:
        archive.extractall(tmp_path)
    folder = pilot_qc.read_sdtm(tmp_path)
    assert set(folder) == set(sdtm)
    for name in sdtm:
        pd.testing.assert_frame_equal(folder[name], sdtm[name])


# ------------------------------------------------------------------------------------------
# Record counts and keys (sections 1-4, 6)


def _lb_kind(frame):
    return np.where(frame["DTYPE"] == "", "LB", frame["DTYPE"])


def _vs_kind(frame):
    derived = frame["PARAMCD"].isin(["MAP", "BSA", "BMI"]).to_numpy()
    return np.where(frame["DTYPE"] != "", frame["DTYPE"],
                    np.where(derived, frame["PARAMCD"], "VS"))


def test_record_counts(qc):
    assert len(qc["ADSL"]) == COUNTS["ADSL"]
    assert (qc["ADSL"]["SAFFL"] == "Y").sum() == 254 and (qc["ADSL"]["SAFFL"] == "N").sum() == 52
    assert len(qc["ADAE"]) == COUNTS["ADAE"]
    lb = pd.Series(_lb_kind(qc["ADLB"])).value_counts().to_dict()
    assert lb == COUNTS["ADLB"]
    vs = pd.Series(_vs_kind(qc["ADVS"])).value_counts().to_dict()
    assert vs == COUNTS["ADVS"]


def test_derived_record_counts_agree_with_group_counts(qc):
    """The counts of the derived kinds, recounted from their definitions with pandas."""
    adlb = qc["ADLB"]
    base = adlb[adlb["DTYPE"].isin(["", "CALCULATION"])]
    on = base[base["ONTRTFL"] == "Y"]
    assert COUNTS["ADLB"]["LOV"] == on.groupby(["USUBJID", "PARAMCD"]).ngroups
    valued = on[on["AVAL"].notna()]
    assert COUNTS["ADLB"]["MINIMUM"] == valued.groupby(["USUBJID", "PARAMCD"]).ngroups
    # CALCULATION: WBC and fraction at a visit/date without the absolute parameter
    lb = base[base["DTYPE"] == ""]
    slots = lb.assign(ADTS=lb["ADT"].astype(str)).groupby(["USUBJID", "VISIT", "VISITNUM", "ADTS"])
    expected = 0
    for _, group in slots:
        have = set(group.loc[group["AVAL"].notna(), "PARAMCD"])
        for absolute, fraction in (("BASO", "BASOLE"), ("LYMPH", "LYMPHLE")):
            expected += {"WBC", fraction} <= have and absolute not in set(group["PARAMCD"])
    assert COUNTS["ADLB"]["CALCULATION"] == expected

    advs = qc["ADVS"]
    source = advs[(advs["DTYPE"] == "")]
    valued = source[source["AVAL"].notna()].assign(ADTS=lambda f: f["ADT"].astype(str))
    assert COUNTS["ADVS"]["AVERAGE"] == valued.groupby(
        ["USUBJID", "PARAMCD", "AVISIT", "ADTS"], dropna=False).ngroups
    vs = source[~source["PARAMCD"].isin(["MAP", "BSA", "BMI"])]
    done = vs[vs["AVAL"].notna() & (vs["VSSTAT"] != "NOT DONE")]
    assert COUNTS["ADVS"]["BSA"] == (done["PARAMCD"] == "WEIGHT").sum()
    pressure = done[done["PARAMCD"].isin(["SYSBP", "DIABP"])].assign(
        ADTS=lambda f: f["ADT"].astype(str))
    pairs = pressure.groupby(["USUBJID", "VISIT", "VISITNUM", "ADTS", "VSTPTNUM"])["PARAMCD"]
    assert COUNTS["ADVS"]["MAP"] == int((pairs.nunique() == 2).sum())
    eot = source[(source["ANL01FL"] == "Y") & (source["AVISITN"] > 4) & (source["AVISITN"] <= 13)]
    assert COUNTS["ADVS"]["LOV"] == eot.groupby(["USUBJID", "PARAMCD", "ATPTN"],
                                                dropna=False).ngroups


@pytest.mark.parametrize("name", ["ADSL", "ADAE", "ADLB", "ADVS"])
def test_keys_are_unique(qc, name):
    frame = qc[name]
    keys = frame[KEYS[name]].astype(str)  # a missing value (None, NaN, "") is a value
    assert not keys.duplicated().any()


@pytest.mark.parametrize("name, order", [
    ("ADLB", ["PARAMCD", "ADT", "AVISITN", "VISITNUM"]),
    ("ADVS", ["PARAMCD", "ADT", "AVISITN", "VISITNUM", "ATPTN", "DTYPE"]),
])
def test_aseq_order_is_unique_and_followed(qc, name, order):
    frame = qc[name]
    assert not frame[["USUBJID"] + order].astype(str).duplicated().any()
    for _, group in frame.groupby("USUBJID"):
        assert list(group["ASEQ"]) == list(range(1, len(group) + 1))
        keys = [pilot_qc.order(*row) for row in group[order].itertuples(index=False)]
        assert keys == sorted(keys)


@pytest.mark.parametrize("name", ["ADSL", "ADAE", "ADLB", "ADVS"])
def test_every_core_variable_is_there(qc, name):
    assert len(CORE[name]) == CORE_COUNT[name]
    missing = [v for v in CORE[name] + KEYS[name] if v not in qc[name].columns]
    assert not missing


def test_value_conventions(qc):
    """Dates are datetime.date, datetimes datetime.datetime, text missing "", numbers float."""
    adsl, adae, adlb = qc["ADSL"], qc["ADAE"], qc["ADLB"]
    for frame, name in ((adsl, "TRTSDT"), (adsl, "LSTALVDT"), (adae, "ASTDT"), (adlb, "ADT")):
        present = [v for v in frame[name] if v is not None]
        assert present and all(type(v) is dt.date for v in present), name
    for frame, name in ((adsl, "TRTSDTM"), (adae, "ASTDTM"), (adae, "AENDTM")):
        present = [v for v in frame[name] if v is not None]
        assert present and all(type(v) is dt.datetime for v in present), name
    for name in ("DTHCAUS", "EOSSTT", "AOCCIFL", "SHIFT2", "AVALC"):
        frame = adsl if name in adsl else adae if name in adae else adlb
        assert frame[name].map(lambda v: isinstance(v, str)).all(), name
    for name in ("TRTDURD", "AVAL", "CHG", "ASEQ", "ADURN"):
        frame = adsl if name in adsl else adae if name in adae else adlb
        assert frame[name].dtype == float, name


def test_derived_records_carry_only_their_variables(qc):
    """0.9: --SEQ and the other SDTM variables are missing on derived records."""
    adlb, advs = qc["ADLB"], qc["ADVS"]
    calc = adlb[adlb["DTYPE"] == "CALCULATION"]
    assert calc["LBSEQ"].isna().all() and (calc["LBTESTCD"] == "").all()
    assert (calc["LBDTC"] == "").all() and calc["ANRLO"].isna().all()
    assert (calc["PARCAT1"] == "HEMATOLOGY").all() and (calc["DOMAIN"] == "LB").all()
    derived = advs[advs["PARAMCD"].isin(["MAP", "BSA", "BMI"]) & (advs["DTYPE"] == "")]
    assert derived["VSSEQ"].isna().all() and (derived["DOMAIN"] == "").all()
    assert (derived["VSTESTCD"] == "").all() and (derived["VSDTC"] == "").all()
    body = derived[derived["PARAMCD"] != "MAP"]
    assert (body["VSTPT"] == "").all() and body["ATPTN"].isna().all()
    average = advs[advs["DTYPE"] == "AVERAGE"]
    assert (average["VISIT"] == "").all() and average["VISITNUM"].isna().all()
    assert average["VSSEQ"].isna().all() and average["ATPTN"].isna().all()
    assert (average["BASETYPE"] == "LAST").all()


def test_unusual_rules_show_in_the_data(qc):
    """Section 5, items 2, 3, 5 and 6, as the QC implements them."""
    adlb, advs = qc["ADLB"], qc["ADVS"]
    eot = advs[advs["DTYPE"] == "LOV"]
    assert set(eot["VISIT"]) <= {"WEEK 6", "WEEK 8", "WEEK 12"}  # item 2
    hgb = adlb[adlb["PARAMCD"] == "HGB"]
    assert (hgb["ATOXGR"] == "").all() and (hgb["SHIFT2"] == "NULL to NULL").all()  # item 3
    assert set(hgb["ATOXDSCL"]) == {"Anemia"} and set(hgb["ATOXDSCH"]) == {"Hemoglobin increased"}
    unscheduled = adlb[(adlb["ABLFL"] == "Y") & (adlb["AVISITN"] > 0) & (adlb["DTYPE"] == "")]
    assert len(unscheduled) and (unscheduled["CHG"] == 0).all()  # item 5
    baseline_visit = adlb[adlb["AVISIT"] == "Baseline"]
    assert baseline_visit["CHG"].isna().all()
    bp = advs[(advs["DTYPE"] == "AVERAGE") & advs["PARAMCD"].isin(["SYSBP", "DIABP", "PULSE",
                                                                   "MAP"])]
    assert bp["BASE"].isna().all() and bp["CHG"].isna().all()  # item 6
    assert (advs[advs["DTYPE"] == "AVERAGE"]["AVISIT"] == "").any()


# ------------------------------------------------------------------------------------------
# Hand-worked values (tests/pilot_hand.py)


def test_qc_reproduces_the_hand_worked_adsl(qc):
    for subject, values in pilot_hand.ADSL.items():
        row = _hit(qc["ADSL"], {"USUBJID": subject})
        for name, expected in values.items():
            _check(row[name], expected, (subject, name))


def test_qc_reproduces_the_hand_worked_adae(qc):
    for (subject, seq), values in pilot_hand.ADAE.items():
        row = _hit(qc["ADAE"], {"USUBJID": subject, "AESEQ": seq})
        for name, expected in values.items():
            _check(row[name], expected, (subject, seq, name))


@pytest.mark.parametrize("name", ["ADLB", "ADVS"])
def test_qc_reproduces_the_hand_worked_findings(qc, name):
    expectations = getattr(pilot_hand, name)
    assert len(expectations) >= 10
    for keys, values in expectations:
        row = _hit(qc[name], keys)
        for variable, expected in values.items():
            _check(row[variable], expected, (keys, variable))


# ------------------------------------------------------------------------------------------
# Unit checks of rules the shipped data never reach


def test_partial_start_date_inside_the_treatment_start_period():
    d = dt.date
    assert pilot_qc.analysis_start("2014-03", d(2014, 3, 12)) == (d(2014, 3, 12), "D")
    assert pilot_qc.analysis_start("2014", d(2014, 3, 12)) == (d(2014, 3, 12), "M")
    assert pilot_qc.analysis_start("2014-02", d(2014, 3, 12)) == (d(2014, 2, 1), "D")
    assert pilot_qc.analysis_start("", d(2014, 3, 12)) == (None, "")
    assert pilot_qc.analysis_end("2014-02", [None, d(2014, 2, 10)]) == (d(2014, 2, 10), "D")
    assert pilot_qc.analysis_end("2014", [d(2015, 1, 3), None]) == (d(2014, 12, 31), "M")


def test_small_rules():
    assert pilot_qc.title_case("UNSCHEDULED 1.1") == "Unscheduled 1.1"
    assert pilot_qc.title_case("AMBUL ECG REMOVAL") == "Ambul Ecg Removal"
    assert pilot_qc.study_day(dt.date(2014, 1, 1), dt.date(2014, 1, 2)) == -1
    assert pilot_qc.study_day(dt.date(2014, 1, 2), dt.date(2014, 1, 2)) == 1
    assert pilot_qc.range_indicator(3 * 0.2, 0.6, 1.0) == "NORMAL"  # 0.6 rounding
    assert pilot_qc._grade_high("ALT", "Alanine Aminotransferase (U/L)", 0.6000000000000001,
                                0.2, math.nan) == 1  # 3 x 0.2 equals 0.6: not above -> 1
    assert pilot_qc._grade_high("CREAT", "Creatinine (umol/L)", 100.0, math.nan, 90.0) == 1
    assert pilot_qc._grade_high("CREAT", "Creatinine (umol/L)", 80.0, math.nan, 90.0) is None
    assert pilot_qc._grade_high("GLUC", "Glucose (mmol/L)", 13.9, math.nan, math.nan) == 0
    assert pilot_qc._grade_low("POTAS", "Potassium (mmol/L)", 3.2, 3.5) == 2
    assert pilot_qc._grade_low("SODIUM", "Sodium (mmol/L)", 132.0, math.nan) is None
    assert pilot_qc.overall_grade("0", "", True, False) == "0"
    assert pilot_qc.overall_grade("0", "", True, True) == ""
    assert pilot_qc.order(None, 1) > pilot_qc.order(5, 1)
    assert pilot_qc.order(pilot_qc.desc(3.0)) < pilot_qc.order(pilot_qc.desc(1.0))
    assert pilot_qc.order(pilot_qc.desc(None)) > pilot_qc.order(pilot_qc.desc(1.0))


# ------------------------------------------------------------------------------------------
# compare_with_production on a tiny hand-made pair


def test_compare_with_production_on_a_tiny_pair():
    qc = pd.DataFrame({
        "USUBJID": ["A", "A", "B"],
        "PARAMCD": ["ALT", "AST", "ALT"],
        "ADT": [dt.date(2014, 1, 2), dt.date(2014, 1, 2), None],
        "AVAL": [1.0, 2.0, 0.3],
        "CHG": [math.nan, 0.5, 1.0],
        "ANRIND": ["HIGH", "", "LOW"],
        "ONLYQC": ["x", "y", "z"],
    })
    prod = pd.DataFrame({
        "USUBJID": ["A", "A", "B", "C"],
        "PARAMCD": ["ALT", "AST", "ALT", "ALT"],
        "ADT": pd.to_datetime(["2014-01-02", "2014-01-02", None, "2014-01-05"]),
        # noise, a real difference, 0.30000000000000004 (noise again), a record only here
        "AVAL": [1.0 + 1e-12, 2.0001, 0.1 * 3, 4.0],
        "CHG": [None, 0.5, 1.0, 1.0],
        "ANRIND": ["HIGH", None, "NORMAL", ""],
    })
    diffs = compare_with_production(qc, prod, ["USUBJID", "PARAMCD", "ADT"],
                                    ["AVAL", "CHG", "ANRIND", "ONLYQC"])
    found = {(d["variable"], None if d["keys"] is None else d["keys"]["USUBJID"]) for d in diffs}
    assert found == {("ONLYQC", None), ("AVAL", "A"), ("ANRIND", "B"), ("<record>", "C")}
    aval = next(d for d in diffs if d["variable"] == "AVAL")
    assert aval["keys"] == {"USUBJID": "A", "PARAMCD": "AST", "ADT": dt.date(2014, 1, 2)}
    assert aval["qc"] == 2.0 and aval["production"] == 2.0001
    record = next(d for d in diffs if d["variable"] == "<record>")
    assert record["qc"] == "absent" and record["production"] == "present"
    # identical frames: no difference; a SAS date number faces a date; duplicates are refused
    assert compare_with_production(qc, qc.copy(), ["USUBJID", "PARAMCD", "ADT"],
                                   ["AVAL", "CHG", "ANRIND", "ADT"]) == []
    sas = qc.assign(ADT=[19725.0, 19725.0, math.nan])  # 2014-01-02 is SAS day 19725
    assert compare_with_production(qc, sas, ["USUBJID", "PARAMCD"], ["ADT"]) == []
    with pytest.raises(ValueError):
        compare_with_production(pd.concat([qc, qc]), prod, ["USUBJID", "PARAMCD", "ADT"], ["AVAL"])
