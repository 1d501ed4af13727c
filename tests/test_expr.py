"""The expression language of the specs (``itp_adam.spec.expr``, docs/specs.md "Expressions").

Each construct is checked against a hand-written pandas expression on a frame with missing
values (NaN, pandas NA, None, NaT); hostile expressions are refused when the spec is loaded,
with the spec place, and nothing of them runs.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from itp_adam.spec import expr
from itp_adam.cli import main
from itp_adam.derive.core import filter_mask
from itp_adam.spec.expr import ExpressionError, compile_expression
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.spec.registry import get_derivation
from itp_adam.spec.model import SpecError, load_codelists, load_dataset_spec, load_raw_layout, load_specs, load_study

INDEX = [10, 11, 12, 13, 14, 15]


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "AVAL": [1.0, np.nan, 30.0, -2.5, 100.0, 0.0],
        "BASE": [2.0, 5.0, np.nan, 2.0, 0.0, 4.0],
        "N": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        "PARAMCD": pd.Series(["PLAT", "ALT", None, "plat", "", "AST"], dtype="str"),
        "NAME": pd.Series(["ab", None, "Cd ef", " x ", "", "Zz"], dtype=object),
        "ADT": pd.to_datetime(["2024-01-31", None, "2024-02-29", "2023-12-31", "2024-03-01", None]),
        "DTC": pd.Series(["2024-01-31T10:00", "2024-02", "", None, "2024-02-30", "2024-03-01"], dtype="str"),
        "FLAG": [True, False, True, False, True, False],
    }, index=INDEX)


def text(series: pd.Series) -> pd.Series:
    """A text column by the frame convention: missing is ''."""
    return series.astype("str").fillna("")


TS = pd.Timestamp
VALUES = {"p": "PLAT", "codes": ["PLAT", "AST"], "threshold": 10, "cutoff": dt.date(2024, 2, 29)}

CONDITIONS = [  # expression, the same in pandas (missing -> False)
    ("AVAL >= 30", lambda d: d.AVAL.ge(30)),
    ("AVAL < 30", lambda d: d.AVAL.lt(30)),
    ("AVAL == BASE", lambda d: d.AVAL.eq(d.BASE)),
    ("AVAL != 1", lambda d: d.AVAL.ne(1) & d.AVAL.notna()),  # missing: false for != too
    ("AVAL != BASE", lambda d: d.AVAL.ne(d.BASE) & d.AVAL.notna() & d.BASE.notna()),
    ("N == N", lambda d: d.N.notna()),
    ("N > 2", lambda d: d.N.gt(2).fillna(False).astype(bool)),
    ("PARAMCD == 'PLAT'", lambda d: text(d.PARAMCD).eq("PLAT")),
    ('PARAMCD == "PLAT"', lambda d: text(d.PARAMCD).eq("PLAT")),
    ("PARAMCD != 'PLAT'", lambda d: text(d.PARAMCD).ne("PLAT")),
    ("PARAMCD == ''", lambda d: text(d.PARAMCD).eq("")),
    ("NAME < 'b'", lambda d: text(d.NAME).lt("b")),
    ("1 <= AVAL < 50", lambda d: d.AVAL.ge(1) & d.AVAL.lt(50)),
    ("0 <= AVAL <= BASE", lambda d: d.AVAL.ge(0) & d.AVAL.le(d.BASE)),
    ("PARAMCD in ['PLAT', 'ALT']", lambda d: text(d.PARAMCD).isin(["PLAT", "ALT"])),
    ("PARAMCD not in ['PLAT', 'ALT']", lambda d: ~text(d.PARAMCD).isin(["PLAT", "ALT"])),
    ("AVAL in [1, 30]", lambda d: d.AVAL.isin([1, 30])),
    ("AVAL in (0, -2.5)", lambda d: d.AVAL.isin([0, -2.5])),
    ("AVAL not in [1, 30]", lambda d: ~d.AVAL.isin([1, 30]) & d.AVAL.notna()),
    ("AVAL > 0 and PARAMCD == 'PLAT'", lambda d: d.AVAL.gt(0) & text(d.PARAMCD).eq("PLAT")),
    ("AVAL > 50 or BASE > 3", lambda d: d.AVAL.gt(50) | d.BASE.gt(3)),
    ("AVAL > 50 or BASE > 3 and FLAG", lambda d: d.AVAL.gt(50) | (d.BASE.gt(3) & d.FLAG)),
    ("(AVAL > 50 or BASE > 3) and FLAG", lambda d: (d.AVAL.gt(50) | d.BASE.gt(3)) & d.FLAG),
    ("not AVAL > 1", lambda d: ~d.AVAL.gt(1)),
    ("not (AVAL == 1)", lambda d: ~d.AVAL.eq(1)),
    ("not FLAG", lambda d: ~d.FLAG),
    ("FLAG", lambda d: d.FLAG),
    ("1 == 1", lambda d: pd.Series(True, index=d.index)),
    ("ADT >= date('2024-02-01')", lambda d: d.ADT.ge(TS("2024-02-01"))),
    ("ADT != date('2024-01-31')", lambda d: d.ADT.ne(TS("2024-01-31")) & d.ADT.notna()),
    ("date(DTC) == ADT", lambda d: pd.to_datetime(d.DTC.str.slice(0, 10), format="%Y-%m-%d",
                                                  errors="coerce").eq(d.ADT)),
    ("is_missing(AVAL)", lambda d: d.AVAL.isna()),
    ("is_missing(N)", lambda d: d.N.isna()),
    ("is_missing(NAME)", lambda d: d.NAME.isna() | d.NAME.eq("")),
    ("is_missing(ADT)", lambda d: d.ADT.isna()),
    ("not_missing(PARAMCD)", lambda d: d.PARAMCD.notna() & d.PARAMCD.ne("")),
    ("not_missing(ADT) and not_missing(BASE)", lambda d: d.ADT.notna() & d.BASE.notna()),
    ("PARAMCD == @p", lambda d: text(d.PARAMCD).eq("PLAT")),
    ("PARAMCD in @codes", lambda d: text(d.PARAMCD).isin(["PLAT", "AST"])),
    ("PARAMCD not in @codes", lambda d: ~text(d.PARAMCD).isin(["PLAT", "AST"])),
    ("AVAL > @threshold", lambda d: d.AVAL.gt(10)),
    ("ADT <= @cutoff", lambda d: d.ADT.le(TS("2024-02-29"))),
    ("upper(PARAMCD) == 'PLAT'", lambda d: text(d.PARAMCD).str.upper().eq("PLAT")),
    ("contains(PARAMCD, 'LA')", lambda d: text(d.PARAMCD).str.contains("LA", regex=False)),
    ("not contains(NAME, ' ')", lambda d: ~text(d.NAME).str.contains(" ", regex=False)),
    ("starts_with(NAME, 'C')", lambda d: text(d.NAME).str.startswith("C")),
]


@pytest.mark.parametrize("expression, expected", CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_condition_equals_pandas(expression, expected):
    df = frame()
    want = expected(df).astype(bool).to_numpy()
    got = compile_expression(expression).mask(df, VALUES)
    assert got.dtype == bool and got.tolist() == want.tolist()
    assert filter_mask(df, expression, VALUES).tolist() == want.tolist()  # as derivations call it


def _round_half_away(values: pd.Series, digits: int) -> pd.Series:
    quantum = Decimal(1).scaleb(-digits)
    return values.map(lambda v: v if np.isnan(v) else float(Decimal(repr(v)).quantize(quantum, ROUND_HALF_UP)))


def _finite(series: pd.Series) -> pd.Series:
    return series.replace([np.inf, -np.inf], np.nan)


def _text_min(d: pd.DataFrame) -> pd.Series:
    name, code = d.NAME.replace("", None), d.PARAMCD.replace("", None)
    return name.fillna(code).fillna("none").astype("str")


VALUE_CASES = [  # expression, the same in pandas
    ("AVAL + BASE", lambda d: d.AVAL + d.BASE),
    ("AVAL - BASE", lambda d: d.AVAL - d.BASE),
    ("AVAL * 2", lambda d: d.AVAL * 2),
    ("AVAL / BASE", lambda d: _finite(d.AVAL / d.BASE)),  # x / 0: missing
    ("AVAL // 4", lambda d: np.floor(d.AVAL / 4)),
    ("AVAL % 4", lambda d: np.mod(d.AVAL, 4)),
    ("AVAL ** 2", lambda d: d.AVAL ** 2),
    ("BASE ** -1", lambda d: _finite(d.BASE ** -1.0)),
    ("-AVAL", lambda d: -d.AVAL),
    ("+AVAL", lambda d: d.AVAL),
    ("(AVAL + 1) * 2", lambda d: (d.AVAL + 1) * 2),
    ("N + 0.5", lambda d: d.N.astype("float64") + 0.5),
    ("AVAL + @threshold", lambda d: d.AVAL + 10),
    ("upper(NAME)", lambda d: text(d.NAME).str.upper()),
    ("lower(PARAMCD)", lambda d: text(d.PARAMCD).str.lower()),
    ("title(NAME)", lambda d: text(d.NAME).str.title()),
    ("strip(NAME)", lambda d: text(d.NAME).str.strip()),
    ("substr(NAME, 2, 2)", lambda d: text(d.NAME).str.slice(1, 3)),
    ("substr(NAME, 2)", lambda d: text(d.NAME).str.slice(1)),
    ("NAME + '-' + PARAMCD", lambda d: text(d.NAME) + "-" + text(d.PARAMCD)),
    ("'x' + NAME", lambda d: "x" + text(d.NAME)),
    ("year(ADT)", lambda d: d.ADT.dt.year.astype("float64")),
    ("month(ADT)", lambda d: d.ADT.dt.month.astype("float64")),
    ("day(ADT)", lambda d: d.ADT.dt.day.astype("float64")),
    ("add_days(ADT, 7)", lambda d: d.ADT + pd.Timedelta(days=7)),
    ("add_days(ADT, -1)", lambda d: d.ADT - pd.Timedelta(days=1)),
    ("add_days(ADT, AVAL)", lambda d: d.ADT + pd.to_timedelta(np.trunc(d.AVAL), unit="D")),
    ("ADT - date('2024-01-01')", lambda d: (d.ADT - TS("2024-01-01")).dt.days.astype("float64")),
    ("date(DTC)", lambda d: pd.to_datetime(d.DTC.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")),
    ("round(AVAL / 4)", lambda d: _round_half_away(d.AVAL / 4, 0)),
    ("round(AVAL / 4, 1)", lambda d: _round_half_away(d.AVAL / 4, 1)),
    ("round(2.675, 2) + AVAL * 0", lambda d: 2.68 + d.AVAL * 0),
    ("abs(AVAL)", lambda d: d.AVAL.abs()),
    ("min(AVAL, BASE)", lambda d: d[["AVAL", "BASE"]].min(axis=1)),  # missing ignored
    ("max(AVAL, BASE, 3)", lambda d: d[["AVAL", "BASE"]].assign(C=3.0).max(axis=1)),
    ("min(ADT, date('2024-02-01'))", lambda d: d[["ADT"]].assign(C=TS("2024-02-01")).min(axis=1)),
    ("coalesce(AVAL, BASE, 0)", lambda d: d.AVAL.fillna(d.BASE).fillna(0.0)),
    ("coalesce(NAME, PARAMCD, 'none')", _text_min),
    ("coalesce(ADT, date('2000-01-01'))", lambda d: d.ADT.fillna(TS("2000-01-01"))),
    ("'A' + 'B'", lambda d: pd.Series("AB", index=d.index, dtype="str")),
    ("3", lambda d: pd.Series(3.0, index=d.index)),
]


@pytest.mark.parametrize("expression, expected", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_value_equals_pandas(expression, expected):
    df = frame()
    want = expected(df)
    got = compile_expression(expression).evaluate(df, VALUES)
    assert got.index.equals(df.index)
    if pd.api.types.is_datetime64_any_dtype(want):
        assert got.dtype.kind == "M"
        assert got.astype("datetime64[ns]").tolist() == want.astype("datetime64[ns]").tolist()
    elif pd.api.types.is_numeric_dtype(want):
        np.testing.assert_allclose(got.to_numpy(dtype="float64"), want.to_numpy(dtype="float64"),
                                   rtol=1e-12, equal_nan=True)
    else:
        assert got.tolist() == want.tolist()


def test_compute_derivation_is_a_variable_source():
    df = frame()
    compute = get_derivation("compute")
    got = compute(df, expression="round(AVAL / BASE * 100, 1)")
    want = _round_half_away(_finite(df.AVAL / df.BASE * 100), 1)
    np.testing.assert_allclose(got.to_numpy(dtype="float64"), want.to_numpy(dtype="float64"), equal_nan=True)
    assert compute(df, expression="AVAL > @limit", limit=20).tolist() == df.AVAL.gt(20).tolist()


def test_conditions_of_the_adam_derivations():
    df = frame()
    flag = get_derivation("derive_var_flag")(df, "F", "PARAMCD in @soc or AVAL >= 30", soc=["ALT"])
    want = text(df.PARAMCD).isin(["ALT"]) | df.AVAL.ge(30)
    assert flag["F"].tolist() == np.where(want, "Y", "N").tolist()


def test_contains_and_starts_with_worked_by_hand():
    """Case-sensitive, literal (no pattern), a missing text is '' and contains nothing."""
    df = pd.DataFrame({"DSTERM": pd.Series(["DEATH DUE TO STROKE", "death due to fall", None,
                                            "", "SUDDEN DEATH DUE TO", "DEATH.DUE"], dtype="str"),
                       "VISIT": pd.Series(["SCREENING 1", "WEEK 2", "UNSCHEDULED SCREEN", None,
                                           "SCREENING 2", "AMBUL ECG"], dtype=object)})
    assert compile_expression("contains(DSTERM, 'DEATH DUE TO')").mask(df).tolist() == [
        True, False, False, False, True, False]  # lower case and "DEATH.DUE" do not match
    assert compile_expression("contains(upper(DSTERM), 'DEATH DUE TO')").mask(df).tolist() == [
        True, True, False, False, True, False]
    assert compile_expression("contains(DSTERM, '.')").mask(df).tolist() == [
        False, False, False, False, False, True]  # '.' is the character, not any character
    assert compile_expression("starts_with(VISIT, 'SCREEN')").mask(df).tolist() == [
        True, False, False, False, True, False]
    assert compile_expression("not starts_with(VISIT, 'SCREEN')").mask(df).tolist() == [
        False, True, True, True, False, True]  # missing VISIT: does not start with it
    # a text the spec passes, or written in the expression: one value for every record
    assert compile_expression("contains(@term, 'DUE')").mask(df, {"term": "DEATH DUE TO"}).tolist() \
        == [True] * 6
    assert compile_expression("starts_with('WEEK 2', 'SCREEN')").mask(df).tolist() == [False] * 6


def test_parsed_once_and_what_it_reads():
    first = compile_expression("PARAMCD == @p and AVAL > 1")
    assert compile_expression("PARAMCD == @p and AVAL > 1") is first  # cached, not parsed again
    assert first.columns == {"PARAMCD", "AVAL"} and first.params == {"p"}


@pytest.mark.parametrize("expression, message", [
    ("AVAL", "not a condition"),
    ("PARAMCD == 1", "cannot compare text with a number"),
    ("ADT > 3", "cannot compare a date with a number"),
    ("ADT + 1", "add_days"),
    ("PARAMCD * 2", "cannot compute with text"),
    ("AVAL and FLAG", "'and' needs conditions"),
    ("MISSING == 1", "no variable 'MISSING'"),
    ("BASEX > 1", "(variables: AVAL, BASE, N, PARAMCD, NAME, ADT, DTC, FLAG); did you mean 'BASE'?"),
    ("PARAMCD == @absent", "@absent is not passed"),
    ("AVAL in ['A']", "'in' compares a number with a list"),
    ("year(AVAL) == 1", "year() needs a date"),
    ("contains(AVAL, 'x')", "contains() needs text, not a number"),
    ("starts_with(ADT, '2024')", "starts_with() needs text, not a date"),
])
def test_errors_when_evaluated(expression, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(expression).mask(frame(), {})


HOSTILE = [
    ("@pd.io.common.os.system('touch SOMEFILE') == 0", "function '@pd.io.common.os.system' not allowed"),
    ("__import__('os').system('touch SOMEFILE')", "'__import__' is not allowed"),
    ("a.b.c", "attribute access"),
    ("x.__class__", "'__class__' is not allowed"),
    ("AVAL.real > 0", "attribute access"),
    ("PARAMCD[0] == 'P'", "subscripts"),
    ("(lambda: 1)() == 1", "not allowed"),
    ("[x for x in PARAMCD] == 1", "comprehensions"),
    ("{x for x in PARAMCD}", "comprehensions"),
    ("2 ** 10 ** 10", "exponent of \\*\\*"),
    ("AVAL ** 1000", "exponent of \\*\\*"),
    ("AVAL ** BASE", "exponent of \\*\\*"),
    ("open('SOMEFILE', 'w')", "function 'open' not allowed"),
    ("eval('1')", "function 'eval' not allowed"),
    ("getattr(AVAL, 'real')", "function 'getattr' not allowed"),
    ("f'{AVAL}' == 'x'", "f-strings"),
    ("upper(x=PARAMCD) == 'A'", "keyword arguments"),
    ("min(*AVAL)", "starred"),
    ("upper(PARAMCD, PARAMCD)", "takes 1 argument"),
    ("AVAL & BASE", "write 'and'"),
    ("~FLAG", "write 'not'"),
    ("AVAL is None", "is_missing"),
    ("AVAL == None", "None not allowed"),
    ("(y := 1)", "not a valid expression|assignment"),
    ("{'a': 1}", "dicts"),
    ("AVAL @ BASE", "'@' between two values"),
    ("b'x' == 'x'", "prefixed strings"),
    ("'a' if AVAL else 'b'", "if"),
    ("AVAL == 1 # comment", "comments"),
    ("AVAL in PARAMCD", "'in' needs a list"),
    ("round(AVAL, BASE)", "digits must be a whole number"),
    ("date('2024-02-30') == ADT", "complete, real ISO date"),
    ("AVAL ==", "not a valid expression"),
    ("", "empty"),
    ("1j == 1", "complex literal not allowed"),
    # the searched text is a literal of the expression, like substr's numbers
    ("contains(PARAMCD, NAME)", r"contains\(text, 'literal'\): the literal must be non-empty text"),
    ("contains(PARAMCD, @p)", "the literal must be non-empty text written in the expression"),
    ("contains(PARAMCD, '')", "the literal must be non-empty text"),
    ("starts_with(PARAMCD, 1)", r"starts_with\(text, 'literal'\): the literal must be"),
    ("contains(PARAMCD)", "takes 2 argument"),
]


@pytest.mark.parametrize("expression, message", HOSTILE, ids=[h[0] or "empty" for h in HOSTILE])
def test_hostile_expressions_are_refused_when_parsed(expression, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError, match=message):
        compile_expression(expression)
    assert not (tmp_path / "SOMEFILE").exists()


def test_no_eval_of_spec_text_in_the_engine():
    """The engine never hands text to eval, exec, DataFrame.eval or DataFrame.query."""
    source = Path(expr.__file__).parents[1]  # the package: every subpackage
    pattern = r"(?<![\w.])(eval|exec)\(|\.eval\(|\.query\("
    found = [f"{path.name}:{number}" for path in sorted(source.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(pattern, line) and not line.lstrip().startswith(("#", '"', "'"))]
    assert found == []


# -- at spec load ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec_context():
    specs = default_specs_dir()
    return load_raw_layout(specs), load_codelists(specs), load_study(specs)


def _quoted(expression: str) -> str:
    return "'" + expression.replace("'", "''") + "'"


def _line(file: str, old: str) -> int:
    """The line of the shipped spec ``file`` where ``old`` is written."""
    text = (default_specs_dir() / file).read_text(encoding="utf-8")
    return 1 + text[:text.index(old)].count("\n")


# (spec file, the text replaced, its line): an input filter, a step filter with filter_values,
# a derive_var_flag condition with extra arguments, a derive_var_case when, a records filter
PLACES = [(file, old, _line(file, old)) for file, old in [
    ("adam/adlb.yaml", "\"LBTESTCD in ['PLAT', 'ALT', 'AST', 'BILI']\""),
    ("adam/adlb.yaml", '"PARAMCD == @parameter"'),
    ("adam/adae.yaml", '"AEBODSYS in @soc or AEDECOD in @pt"'),
    ("adam/adsl.yaml", "\"DSDECOD == 'ONGOING' or DSDECOD == ''\""),
    ("sdtm/suppdm.yaml", "\"ETHNIC != ''\""),
]]


def _edited(tmp_path: Path, file: str, old: str, new: str) -> Path:
    path = tmp_path / Path(file).name
    text = (default_specs_dir() / file).read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("file, old, line", PLACES, ids=[p[0] + ":" + str(p[2]) for p in PLACES])
@pytest.mark.parametrize("expression, message", HOSTILE[:16], ids=[h[0] for h in HOSTILE[:16]])
def test_hostile_expression_refused_at_spec_load_with_its_place(file, old, line, expression, message,
                                                                spec_context, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _edited(tmp_path, file, old, _quoted(expression))
    layout, codelists, study = spec_context
    with pytest.raises(SpecError) as caught:
        load_dataset_spec(path, layout, codelists, study=study)
    error = caught.value
    assert (error.file, error.line) == (str(path), line)
    assert "expression refused" in str(error) and re.search(message, str(error))
    assert not (tmp_path / "SOMEFILE").exists()


@pytest.mark.parametrize("file, old, new, passed", [
    ("adam/adlb.yaml", "\"LBTESTCD in ['PLAT', 'ALT', 'AST', 'BILI']\"", '"LBTESTCD == @code"', "none"),
    ("adam/adlb.yaml", '"PARAMCD == @parameter"', '"PARAMCD == @param"', "@parameter"),
    ("adam/adlb.yaml", "\"ABLFL == 'Y'\"", '"ABLFL == @flag"', "none"),
    ("adam/adae.yaml", '"AEBODSYS in @soc or AEDECOD in @pt"', '"AEBODSYS in @soc or AEDECOD in @hlt"',
     "@pt, @soc"),
])
def test_name_not_passed_by_the_spec_refused_at_load(file, old, new, passed, spec_context, tmp_path):
    line = _line(file, old)
    path = _edited(tmp_path, file, old, new)
    with pytest.raises(SpecError) as caught:
        load_dataset_spec(path, *spec_context[:2], study=spec_context[2])
    assert caught.value.line == line
    assert "is not passed by the spec" in str(caught.value) and f"(passed here: {passed})" in str(caught.value)


def test_the_shipped_spec_expressions_are_all_accepted():
    load_specs(default_specs_dir())  # every filter, condition and when of the shipped specs


def test_cli_run_with_a_hostile_filter_exits_2_naming_file_and_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    adlb = specs / "adam" / "adlb.yaml"
    adlb.write_text(adlb.read_text(encoding="utf-8").replace(
        "\"LBTESTCD in ['PLAT', 'ALT', 'AST', 'BILI']\"",
        _quoted("@pd.io.common.os.system('touch SOMEFILE') == 0")), encoding="utf-8")
    assert main(["run", "--specs", str(specs), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    line = _line("adam/adlb.yaml", "\"LBTESTCD in ['PLAT', 'ALT', 'AST', 'BILI']\"")
    assert f"{adlb}, line {line}" in err and "dataset ADLB" in err and "expression refused" in err
    assert "@pd.io.common.os.system" in err
    assert not (tmp_path / "SOMEFILE").exists() and not (tmp_path / "out").exists()


def test_cli_run_with_a_filter_of_mixed_types_exits_2_naming_file_and_line(tmp_path, capsys):
    """Column types are known only when the data are there: the error names the spec place."""
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    adlb = specs / "adam" / "adlb.yaml"
    adlb.write_text(adlb.read_text(encoding="utf-8").replace(
        "\"LBTESTCD in ['PLAT', 'ALT', 'AST', 'BILI']\"", '"LBTESTCD == 1"'), encoding="utf-8")
    raw = str(shipped_study_dir())  # a copied spec folder is no shipped study: its data are given
    assert main(["run", "--specs", str(specs), "--raw", raw, "--out", str(tmp_path / "out"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    line = _line("adam/adlb.yaml", "\"LBTESTCD in ['PLAT', 'ALT', 'AST', 'BILI']\"")
    assert f"{adlb}, line {line}" in err and "dataset ADLB" in err
    assert "cannot compare text with a number" in err


def test_date_of_repeated_texts_is_each_records_own():
    """date() parses each distinct date once and spreads it back by record: repeated and
    interleaved values, the same day with and without a time, missing, blank, partial and
    impossible dates (worked out by hand)."""
    day = ["2024-01-31T10:00", "2024-01-31", None, "2024-02-30", "2024-01-31T23:59", "",
           "2024-03", "2024-03-01", "2024-02-29"]
    expected = ["2024-01-31", "2024-01-31", None, None, "2024-01-31", None, None, "2024-03-01",
                "2024-02-29"]
    frame = pd.DataFrame({"DTC": pd.Series(day * 3 + day[::-1], dtype="str")})
    got = compile_expression("date(DTC)").evaluate(frame)
    assert [None if pd.isna(v) else str(v.date()) for v in got] == expected * 3 + expected[::-1]
    empty = compile_expression("date(DTC)").evaluate(frame.iloc[:0])
    assert len(empty) == 0


def test_title_in_parentheses_and_number_follow_the_pilot_plan():
    """SAP 0.7 of the pilot: words split at blanks only; SAP 3.2: the unit is the text inside
    the last parentheses of PARAM; SAP 4.3: the number after WEEK."""
    frame = pd.DataFrame({
        "VISIT": ["UNSCHEDULED 1.1", "AMBUL ECG REMOVAL", "X-RAY", "", "WEEK 26"],
        "PARAM": ["Albumin (g/L)", "Hemoglobin A1C (1)", "Macrocytes", "a (b) c (d/e)", ""],
    })
    assert compile_expression("title(VISIT)").evaluate(frame).tolist() == [
        "Unscheduled 1.1", "Ambul Ecg Removal", "X-ray", "", "Week 26"]
    assert compile_expression("in_parentheses(PARAM)").evaluate(frame).tolist() == [
        "g/L", "1", "", "d/e", ""]
    numbers = compile_expression("number(substr(VISIT, 6))").evaluate(frame).tolist()
    assert numbers[4] == 26.0 and all(np.isnan(n) for n in numbers[:4])
    with pytest.raises(ExpressionError, match="number\\(\\) needs text"):
        compile_expression("number(1)").evaluate(frame)
