"""The raw export's layout (``specs/raw.yaml``): forms, their columns and column types, and the
format of its dates."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError

ColumnType = Literal["text", "integer", "number", "date", "pdate", "time"]
DateFormat = Literal["DD MON YYYY", "DD-MON-YYYY", "DDMONYYYY", "YYYY-MM-DD", "DD/MM/YYYY",
                     "MM/DD/YYYY", "DD.MM.YYYY"]
"""How the export writes its dates (``date_format``): the names of
``itp_adam.derive.dates.RAW_DATE_FORMATS``, where each is defined with its unknown parts."""


class RawColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ColumnType
    required: bool = True
    min: float | None = None  # integer/number: the smallest value that can be collected


class RawForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    one_row_per: str | None = None
    columns: dict[str, RawColumn]


class RawLayout(BaseModel):
    model_config = ConfigDict(extra="forbid")
    study_id: str
    subject_form: str = "DM"  # the form listing the subjects (one row each): the raw rules
    subject_column: str = "SUBJID"  # the column of every form naming the subject
    date_format: DateFormat = "DD MON YYYY"  # of every date and pdate column
    forms: dict[str, RawForm] = Field(min_length=1)

    @model_validator(mode="after")
    def _subject_keys(self) -> RawLayout:
        """``subject_form`` is a form of the layout and ``subject_column`` one of its columns."""
        form = self.forms.get(self.subject_form)
        if form is None:
            raise ValueError(f"subject_form {self.subject_form!r} is not a form of the layout "
                             f"(forms: {', '.join(self.forms)})")
        if self.subject_column not in form.columns:
            raise ValueError(f"subject_column {self.subject_column!r} is not a column of form "
                             f"{self.subject_form}")
        return self


def load_layout(specs_dir: Path) -> RawLayout:
    """Read and check ``raw.yaml`` from a specs folder."""
    path = Path(specs_dir) / "raw.yaml"
    if not path.is_file():
        raise InputError("raw layout spec not found", file=str(path),
                         expected="raw.yaml in the specs folder")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc})", file=str(path)) from exc
    try:
        return RawLayout.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{first['msg']} at {loc}", file=str(path)) from exc
