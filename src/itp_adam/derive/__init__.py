"""The derivation library: the functions a spec names with ``{derivation: NAME}``, each
registered with :func:`itp_adam.spec.registry.derivation` (``core`` general ones, ``dates``,
``records`` (derivations that add records), ``design`` (trial design: SE, SV, EPOCH), ``bds`` (per-record BDS variables), ``subject``
(subject-level variables from several sources), ``windows``, ``grading``, ``labs``,
``events``, ``sdtm`` and ``adam`` mapping helpers) and the
column helpers they share (``columns``). A new or changed derivation belongs here; nothing here
reads files or knows which study runs. The modules are imported by the registry on first lookup."""

from __future__ import annotations

import importlib
from typing import Any

DERIVATIONS: dict[str, str] = {
    # core
    "convert_units": "core", "derive_var_anl_flag": "core", "derive_var_base": "core",
    "derive_var_baseline_flag": "core", "derive_var_chg": "core", "derive_var_crit_flag": "core",
    "derive_var_extreme_flag": "core", "derive_var_pchg": "core", "derive_var_trtemfl": "core",
    "derive_vars_merged": "core", "parse_result": "core",
    # dates
    "compute_duration": "dates", "derive_var_dy": "dates", "derive_vars_dt": "dates",
    "derive_vars_dtm": "dates",
    "iso_datetime": "dates", "raw_date_to_iso": "dates",
    # records (derivations that add records)
    "derive_extreme_records": "records", "derive_param_computed": "records",
    "derive_summary_records": "records", "derive_var_obs_number": "records",
    # bds (per-record BDS variables)
    "derive_var_anrind": "bds", "derive_var_ontrtfl": "bds", "derive_var_shift": "bds",
    # subject (subject-level variables from several sources)
    "derive_var_extreme_dt": "subject", "derive_vars_extreme_event": "subject",
    # design (trial design and special-purpose domains: SE, SV, EPOCH)
    "derive_subject_elements": "design", "derive_subject_visits": "design",
    "derive_var_epoch": "design", "derive_var_merged_summary": "design",
    # windows
    "check_windows": "windows", "derive_vars_window": "windows",
    # grading
    "derive_var_atoxgr": "grading", "derive_var_atoxgr_dir": "grading",
    # labs
    "exposure_end": "labs", "lab_std_range": "labs", "lab_stresc": "labs", "lab_stresn": "labs",
    "lab_stresu": "labs", "normal_range_indicator": "labs", "number_text": "labs",
    "visitnum": "labs",
    # events
    "derive_var_seq": "events", "derive_vars_coding": "events", "disposition_dtc": "events",
    "event_end_dtc": "events", "event_enrtpt": "events", "event_entpt": "events",
    "subject_value": "events",
    # sdtm
    "if_treated": "sdtm", "iso_date": "sdtm", "ref_end_from_exposure": "sdtm",
    "ref_start_from_exposure": "sdtm", "study_day": "sdtm", "subject_extreme_dtc": "sdtm",
    "usubjid": "sdtm",
    # adam
    "compute": "adam", "derive_var_case": "adam", "derive_var_flag": "adam",
    "derive_var_merged_baseline": "adam", "derive_var_merged_exist_flag": "adam",
    "derive_var_result_value": "adam", "derive_vars_assign": "adam", "derive_vars_compute": "adam", "derive_vars_cut": "adam",
    "map_values": "adam",
}
"""Every built-in derivation (its Python name, also its spec name) -> its module in this package.
Kept as a table so ``import itp_adam.derive`` imports no module of the library (nor pandas);
``tests/test_api.py`` checks it against the registry."""

HELPERS: dict[str, str] = {"require_vars": "checks", "MissingVariable": "checks"}
"""Helpers a derivation's author calls: the admiral-style input check and its error."""

__all__ = sorted([*DERIVATIONS, *HELPERS])


def __getattr__(name: str) -> Any:
    """Import a derivation's module on first use (PEP 562), so ``from itp_adam.derive import
    derive_var_dy`` works and a bare ``import itp_adam.derive`` stays cheap."""
    module = DERIVATIONS.get(name) or HELPERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
