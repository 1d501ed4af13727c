"""The programmer's API: lazy top-level names, the generated reference page, input checks."""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import itp_adam
import itp_adam.derive as derive
from itp_adam.derive.checks import MAX_LISTED, MissingVariable, require_vars
from itp_adam.errors import InputError
from itp_adam.spec import reference
from itp_adam.spec.registry import _load_builtins, get_derivation, _REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def _builtin_derivations() -> dict[str, object]:
    """The registered derivations defined in ``itp_adam.derive`` (not a test's or plug-in's)."""
    _load_builtins()
    return {name: func for name, func in _REGISTRY.items()
            if func.__module__.startswith("itp_adam.derive.")}


# -- the lazy API ------------------------------------------------------------------------


@pytest.mark.parametrize("package", [itp_adam, derive], ids=["itp_adam", "itp_adam.derive"])
def test_every_public_name_is_the_object_of_its_module(package):
    assert package.__all__ == sorted(set(package.__all__))
    for name in package.__all__:
        obj = getattr(package, name)
        module = importlib.import_module(obj.__module__)
        assert getattr(module, name) is obj, name
        assert name in dir(package)


def test_every_builtin_derivation_is_public_under_its_spec_name():
    builtins = _builtin_derivations()
    assert set(derive.DERIVATIONS) == set(builtins)
    for name, func in builtins.items():
        assert func.__name__ == name
        assert func.__module__ == f"itp_adam.derive.{derive.DERIVATIONS[name]}"
        assert getattr(itp_adam, name) is func is getattr(derive, name) is get_derivation(name)
    assert set(builtins) <= set(itp_adam.__all__)
    assert {"run", "load_specs", "read_xpt", "write_xpt", "compare_frames",
            "compile_expression", "require_vars"} <= set(itp_adam.__all__)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'derive_var_nope'"):
        itp_adam.derive_var_nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'derive_var_nope'"):
        derive.derive_var_nope  # noqa: B018
    from itp_adam.derive import dates  # a submodule is still importable by name
    assert dates.derive_var_dy is itp_adam.derive_var_dy


def test_import_itp_adam_imports_no_pandas():
    code = ("import sys, itp_adam, itp_adam.derive; names = dir(itp_adam); "
            "heavy = [m for m in ('pandas', 'numpy', 'pyarrow', 'itp_adam.derive.core') "
            "if m in sys.modules]; print(heavy, len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, count = out.stdout.split("] ")
    assert heavy == "[" and int(count) >= len(itp_adam.__all__)


# -- the reference page ------------------------------------------------------------------


def test_docs_api_md_is_generated_from_the_docstrings():
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert page == reference.render_reference(), (
        f"docs/api.md is out of date with the docstrings: run `{reference.COMMAND}`")


def test_reference_lists_each_derivation_with_signature_and_job():
    page = reference.render_reference()
    entry = page.split("### `derive_var_dy`\n", 1)[1].split("\n### ", 1)[0]
    assert "spec name `derive_var_dy` · module `itp_adam.derive.dates`" in entry
    assert ("derive_var_dy(df: pd.DataFrame, new_var: str, ref_date: str, date: str) "
            "-> pd.DataFrame") in entry
    assert 'Add study day ``new_var`` of ``date`` relative to ``ref_date``' in entry
    for name in [*derive.DERIVATIONS, *itp_adam.HELPERS]:
        assert f"\n### `{name}`\n" in page, name
        assert f"(#{name.lower()})" in page  # in the table of contents
    assert " at 0x" not in page  # no memory address (a lambda default)


@pytest.mark.parametrize("name", sorted(derive.DERIVATIONS))
def test_derivation_docstring_starts_with_a_one_sentence_summary(name):
    doc = inspect.getdoc(getattr(derive, name))
    assert doc, f"{name} has no docstring"
    lines = doc.splitlines()
    first = lines[0]
    assert len(lines) == 1 or lines[1] == "", f"{name}: the summary line is followed by more text"
    assert first.endswith("."), f"{name}: the summary line is not one sentence: {first!r}"
    assert not re.search(r"(?<!e\.g)(?<!i\.e)\. [A-Z]", first[:-1]), f"{name}: more than one sentence: {first!r}"
    assert len(first) <= 96, f"{name}: summary line too long ({len(first)})"


# -- input checks ------------------------------------------------------------------------


def test_require_vars_message_names_function_argument_variable_and_columns():
    df = pd.DataFrame(columns=["USUBJID", "TRTSDT", "ADT"])
    with pytest.raises(MissingVariable) as caught:
        require_vars(df, "derive_var_dy", ref_date="TRTSDTX", date="ADT")
    err = caught.value
    assert str(err) == ("derive_var_dy: variable TRTSDTX (argument ref_date) is not in the "
                        "dataset; it has: USUBJID, TRTSDT, ADT; did you mean 'TRTSDT'?")
    assert isinstance(err, InputError) and isinstance(err, KeyError)
    assert (err.function, err.argument, err.variable, err.column) == (
        "derive_var_dy", "ref_date", "TRTSDTX", "TRTSDTX")
    # lists, order keys [NAME, direction] and None (an optional argument not given)
    require_vars(df, "f", by_vars=["USUBJID"], order=["ADT", ["TRTSDT", "desc"]], time=None)
    with pytest.raises(KeyError, match=r"variable AVAL \(argument order\) is not in dataset_add"):
        require_vars(df, "f", frame="dataset_add", order=[("ADT", "asc"), ("AVAL", "desc")])


def test_require_vars_caps_the_list_of_columns():
    df = pd.DataFrame(columns=[f"V{i}" for i in range(MAX_LISTED + 5)])
    with pytest.raises(MissingVariable) as caught:
        require_vars(df, "f", source_var="X")
    assert str(caught.value).endswith(f"V{MAX_LISTED - 1}, ... (5 more)")
    assert f"V{MAX_LISTED}," not in str(caught.value)


# The column-name arguments each derivation checks, per frame it reads ("df" first). Every
# derivation of the library taking a frame and naming columns is here; those taking Series
# (raw_date_to_iso, iso_datetime, parse_result), none (check_windows) or only expressions
# (compute, derive_var_flag, derive_var_case, derive_vars_assign) read no column by name.
CHECKED: dict[str, dict[str, list[str]]] = {
    "derive_subject_elements": {"df": ["by_vars"]},
    "derive_subject_visits": {"df": ["by_vars"]},
    "derive_var_epoch": {"df": ["date", "subject"],
                         "dataset_se": ["subject", "start", "end", "epoch"]},
    "derive_var_merged_summary": {"df": ["by_vars"], "dataset_add": ["by_vars", "source_var"]},
    "subject_extreme_dtc": {"df": ["subjid"]},
    "compute_duration": {"df": ["start_date", "end_date"]},
    "convert_units": {"df": ["value_var", "unit_var", "param_var"]},
    "derive_var_anl_flag": {"df": ["by_vars", "day_var", "target_var", "order_tiebreak",
                                   "source_var"]},
    "derive_var_atoxgr": {"df": ["lowgrade", "highgrade", "lowdesc", "highdesc"]},
    "derive_var_atoxgr_dir": {"df": ["param_var", "value_var", "lln", "uln", "base", "unit_var"]},
    "derive_var_base": {"df": ["by_vars", "source_var", "flag_var"]},
    "derive_var_baseline_flag": {"df": ["by_vars", "date", "ref_date", "order", "source_var"]},
    "derive_var_chg": {"df": ["aval", "base"]},
    "derive_var_pchg": {"df": ["aval", "base"]},
    "derive_var_crit_flag": {"df": ["source_var"]},
    "derive_var_dy": {"df": ["ref_date", "date"]},
    "derive_var_extreme_flag": {"df": ["by_vars", "order"]},
    "derive_var_merged_baseline": {"df": ["by_vars", "ref_date"],
                                   "dataset_add": ["by_vars", "source_var", "date", "order"]},
    "derive_var_merged_exist_flag": {"df": ["by_vars"], "dataset_add": ["by_vars"]},
    "derive_var_result_value": {"df": ["source_var"]},
    "derive_var_seq": {"df": ["by_vars", "order"]},
    "derive_var_trtemfl": {"df": ["start_date", "trt_start", "trt_end", "end_date"]},
    "derive_param_computed": {"df": ["by_vars", "param_var", "value_var", "constant_by_vars"]},
    "derive_summary_records": {"df": ["by_vars", "analysis_var"]},
    "derive_extreme_records": {"df": ["by_vars", "order"]},
    "derive_var_obs_number": {"df": ["by_vars", "order"]},
    "derive_var_ontrtfl": {"df": ["start_date", "ref_start_date", "ref_end_date"]},
    "derive_var_anrind": {"df": ["value_var", "low_var", "high_var"]},
    "derive_var_shift": {"df": ["from_var", "to_var"]},
    "derive_vars_coding": {"df": ["term"], "dictionary": ["dictionary_term", "new_vars"]},
    "derive_vars_cut": {"df": ["source_var"]},
    "derive_vars_dt": {"df": ["dtc", "min_dates", "max_dates"]},
    "derive_vars_dtm": {"df": ["dtc", "min_dates", "max_dates"]},
    "derive_var_extreme_dt": {"df": ["subject_keys"]},
    "derive_vars_extreme_event": {"df": ["by_vars"]},
    "derive_vars_merged": {"df": ["by_vars"], "dataset_add": ["by_vars", "order", "new_vars"]},
    "derive_vars_window": {"df": ["day_var"]},
    "disposition_dtc": {"df": ["column", "term"]},
    "event_end_dtc": {"df": ["end", "start", "ongoing"]},
    "event_enrtpt": {"df": ["end", "ongoing"]},
    "event_entpt": {"df": ["enrtpt"]},
    "exposure_end": {"df": ["start", "end", "subject"]},
    "if_treated": {"df": ["subjid"], "exposure": ["subjid", "start", "dose"]},
    "iso_date": {"df": ["column", "time"]},
    "lab_std_range": {"df": ["limit", "unit", "test"]},
    "lab_stresc": {"df": ["result", "unit", "test"]},
    "lab_stresn": {"df": ["result", "unit", "test"]},
    "lab_stresu": {"df": ["result", "unit", "test"]},
    "map_values": {"df": ["source_var"]},
    "normal_range_indicator": {"df": ["value", "low", "high"]},
    "number_text": {"df": ["column"]},
    "ref_end_from_exposure": {"df": ["subjid"], "exposure": ["subjid", "start", "end", "dose"]},
    "ref_start_from_exposure": {"df": ["subjid"], "exposure": ["subjid", "start", "dose"]},
    "study_day": {"df": ["dtc", "subject"], "reference": ["ref_dtc", "subject"]},
    "subject_value": {"df": ["subjid"], "dataset": ["subjid", "variable"]},
    "usubjid": {"df": ["studyid", "subjid"]},
    "visitnum": {"df": ["visit", "date", "subject"]},
}
LISTS = {"by_vars", "order", "order_tiebreak", "constant_by_vars", "min_dates", "max_dates",
         "subject_keys"}
UNCHECKED = {"raw_date_to_iso", "iso_datetime", "parse_result", "check_windows", "compute",
             "derive_var_flag", "derive_var_case", "derive_vars_assign", "derive_vars_compute"}
CASES = [(fn, frame, arg) for fn, frames in CHECKED.items()
         for frame, args in frames.items() for arg in args]


def test_every_derivation_is_checked_or_reads_no_column_by_name():
    assert set(CHECKED) | UNCHECKED == set(derive.DERIVATIONS)
    assert not set(CHECKED) & UNCHECKED


@pytest.mark.parametrize(("fn", "frame", "arg"), CASES, ids=[".".join(c) for c in CASES])
def test_a_missing_column_names_function_argument_and_variable(fn, frame, arg):
    """Every other named column present, ``arg`` naming ``XMISSING`` in ``frame``."""
    func = getattr(itp_adam, fn)
    frames = CHECKED[fn]
    kwargs: dict[str, object] = {}
    for name in {a for names in frames.values() for a in names}:
        column = "XMISSING" if name == arg else f"C_{name.upper()}"
        kwargs[name] = [column] if name in LISTS else {"NEWVAR": column} if name == "new_vars" \
            else column
    inputs = {}
    for f, names in frames.items():
        columns = [f"C_{n.upper()}" for n in names] + ["USUBJID", "AVAL"]
        if f != frame and arg in names:  # e.g. by_vars of both frames: missing only in ``frame``
            columns.append("XMISSING")
        inputs[f] = pd.DataFrame(columns=columns)
    params = inspect.signature(func).parameters
    for name, param in params.items():  # other required arguments: never read before the check
        if name not in kwargs and name not in inputs and param.default is param.empty \
                and param.kind is not param.VAR_KEYWORD:
            kwargs[name] = None
    with pytest.raises(MissingVariable) as caught:
        func(**inputs, **kwargs)
    err = caught.value
    assert (err.function, err.argument, err.variable) == (fn, arg, "XMISSING")
    text = str(err)
    where = "the dataset" if frame == "df" else frame
    assert text.startswith(f"{fn}: variable XMISSING (argument {arg}) is not in {where}; it has: ")
    assert "USUBJID, AVAL" in text


def test_a_spec_step_naming_a_missing_variable_exits_2_with_the_spec_place(tmp_path, capsys):
    from itp_adam.cli import main
    from itp_adam.paths import default_specs_dir, shipped_study_dir

    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    ex = specs / "sdtm" / "ex.yaml"
    text = ex.read_text(encoding="utf-8")
    old = "order: [EXSTDTC, _ROW]"
    assert text.count(old) == 1
    ex.write_text(text.replace(old, "order: [EXSTDTCX, _ROW]"), encoding="utf-8")
    line = 1 + text[:text.index("  - id: exseq")].count("\n")  # the step

    code = main(["run", "--specs", str(specs), "--raw", str(shipped_study_dir()),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert f"ex.yaml, line {line}: dataset EX: step exseq: derive_var_seq: variable EXSTDTCX " \
           "(argument order) is not in the dataset; it has: " in err
    assert not (tmp_path / "out").exists()
