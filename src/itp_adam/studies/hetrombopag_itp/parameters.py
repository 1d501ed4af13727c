"""The hetrombopag ITP study's own parameters in ``study.yaml``: response criteria, disease
phase, hepatic terms and toxicity grading.

The engine's :class:`~itp_adam.spec.model.Study` keeps them as plain data (the ADaM specs read
them as ``{study: response.parameter}``, ``{study: itp_phase.cut_months}`` ...). The study's
results provider reads ``study.yaml`` again as :class:`HetrombopagStudy`, which declares them
with their types and checks, so a mistake is reported with ``study.yaml``, its line and the
key (``itp_adam.spec.model.extend_study``) before any data is read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...derive.grading import criteria_problems, read_criteria
from ...spec.model import AnalysisWindows, Baseline, IsoDate, Study, YamlPath


class _Model(BaseModel):
    # allow_inf_nan: a spec number is finite (.nan or .inf in a threshold would run, wrongly)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Criterion(_Model):
    name: str = Field(pattern=r"^CRIT\d+$")  # the flag is <name>FL
    label: Annotated[str, Field(max_length=200)]
    operator: Literal[">=", ">", "<=", "<"]
    threshold: float


class Response(_Model):
    parameter: str
    criteria: list[Criterion] = Field(min_length=1)
    confidence_level: float = Field(gt=0, lt=1)
    ci_method: Literal["clopper-pearson"]
    percent_decimals: int = Field(ge=0, le=10)


class ToxicityGrading(_Model):
    criteria: str
    # the criteria table of derive_var_atoxgr_dir (itp_adam.derive.grading), checked by
    # HetrombopagStudy.problems with the derivation's own reader
    table: dict[str, Any]
    hepatic_dysfunction_grade: int = Field(ge=1, le=5)

    @property
    def uln_multiples(self) -> dict[str, list[float]]:
        """Per test graded in the high direction, the ULN multiples of its ``> k x ULN``
        entries of grades 1, 2, ... (``{"ALT": [1, 3, 5, 20], ...}``): the graded tests and
        the highest grade the results show. Read from ``table``."""
        high = read_criteria(self.table)["high"]
        return {param: [check.value for entry in sorted(crit.grades, key=lambda e: e.grade)
                        if entry.grade >= 1
                        for check in entry.checks if check.ref == "ULN" and check.op == ">"]
                for param, crit in high.items()}


class HepaticTerms(_Model):
    soc: list[str]
    pt: list[str]


class ItpPhase(_Model):
    cut_months: list[float] = Field(min_length=1)
    labels: list[str]


class HetrombopagStudy(Study):
    """``study.yaml`` as this study's results read it: the engine's parameters, the general
    sections its results need, and its own."""

    cutoff_date: IsoDate  # type: ignore[assignment]  (required here)
    baseline: Baseline  # type: ignore[assignment]
    days_per_month: float = Field(gt=0)  # type: ignore[assignment]  (required here)
    analysis_windows: AnalysisWindows  # type: ignore[assignment]  (required here)
    trtemfl_window_days: int = Field(ge=0, le=36525)  # type: ignore[assignment]
    response: Response
    toxicity_grading: ToxicityGrading
    hepatic_terms: HepaticTerms
    itp_phase: ItpPhase

    def problems(self) -> list[tuple[YamlPath, str]]:
        """Checks across fields that the types cannot express."""
        problems: list[tuple[YamlPath, str]] = []
        problems.extend((("toxicity_grading", "table", *path), message)
                        for path, message in criteria_problems(self.toxicity_grading.table))
        phase = self.itp_phase
        if any(b <= a for a, b in zip(phase.cut_months, phase.cut_months[1:])):
            problems.append((("itp_phase", "cut_months"), "cut points must be increasing"))
        if len(phase.labels) != len(phase.cut_months) + 1:
            problems.append((("itp_phase", "labels"), f"{len(phase.cut_months)} cut points need "
                             f"{len(phase.cut_months) + 1} labels"))
        return problems
