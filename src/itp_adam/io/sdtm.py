"""SDTM as input (``itp-adam run --sdtm DIR``): a folder of SDTM datasets, checked and typed.

A study whose ``study.yaml`` declares ``inputs: {sdtm: {domains: [DM, AE, ...]}}`` starts from
SDTM instead of raw forms (``docs/specs.md``, "inputs"). The folder holds one file per
domain, the file stem being the domain name in any case (``ae.xpt``, ``AE.csv``):

========== =========================================== =====================================
format     read with                                   types and labels
========== =========================================== =====================================
``.xpt``   ``pyreadstat.read_xport`` (SAS XPORT v5, v8) Char/Num, variable and dataset labels
``.sas7bdat`` ``pyreadstat.read_sas7bdat``             Char/Num, variable and dataset labels
``.parquet`` pyarrow                                   text columns Char, numbers Num
``.csv``   pyarrow, every field as text                Num when every non-empty value is a
                                                       number (never for identifiers, --DTC,
                                                       --ORRES and the SDTMIG's other Char
                                                       variables of :data:`TEXT_SUFFIXES`)
========== =========================================== =====================================

In a CSV file an unquoted ``NA`` is a missing value, as R's ``write.csv`` and
``readr::write_csv`` write one (a quoted ``"NA"`` is the text NA); each column where it was
read so gets a data issue (info) with the count (``SdtmInput.notes``).

A domain without a file of its own may come as its split datasets (SDTMIG 4.1.7: ``lbch.xpt``
and ``lbhe.xpt``, each with DOMAIN = LB), read and stacked in file-name order.

Variable names are read in upper case (SAS names are case-insensitive; a Parquet or CSV file
written by another tool may have ``usubjid``); two names of one file that differ only in case
are an error. Frames follow the package's convention (``docs/design.md``): Char as ``str``
with ``""`` for missing (trailing blanks removed, as SAS compares), Num as float with NaN.
Checks, all reported in one :class:`~itp_adam.errors.InputErrors` (exit 2): each declared
domain has one file, the file can be read, it has ``STUDYID`` and ``USUBJID``, and every
``--DTC`` value is ISO 8601 (a complete or right-truncated date or date/time: ``2024``,
``2024-03``, ``2024-03-05``, ``2024-03-05T14:30``, ``...:15``, a real calendar date; a
component not known in the middle written as a hyphen, as SDTMIG 3.4 section 4.4.4 does:
``2003---15``). A bad value is named with its file, record number (1 = the first record; the
``row`` of the message), variable and value. Checks run on each column's distinct values,
not record by record.

A large input (``read_sdtm(..., spill=)``, chosen by the run: ``stages/pipeline.py``) is read a
stretch of :data:`STRETCH_ROWS` records at a time into files of the run's store, typed as
above stretch by stretch: each domain's text columns go to one Arrow file, each number column
to a file of float64 values, and the frame's columns are memory-mapped views of them, so the
input is never held whole in memory. The checks then run on the whole columns as before: the
frames, messages and counts are the same either way (tests).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, InputErrors
from ..derive.dates import iso8601_valid
from .pieces import arrow_sink, write_in_pieces
from .raw import SPILL_BLOCK, Spill, sha256_file

FORMATS = (".xpt", ".sas7bdat", ".csv", ".parquet")
"""The file suffixes read as SDTM datasets (any case)."""
_FOLDER = f"a folder of SDTM datasets, one file per domain ({', '.join(FORMATS)})"
REQUIRED = ("STUDYID", "USUBJID")
"""Variables every input domain must have."""
TEXT_ALWAYS = frozenset({"STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "RDOMAIN", "IDVARVAL",
                         "QVAL", "TSVAL", "VISIT", "ARMCD", "ACTARMCD", "ETCD"})
"""CSV columns kept as text even when every value looks like a number: identifiers and the
SDTMIG's Char variables that often hold only digits (QVAL '1', TSVAL '167')."""
TEXT_SUFFIXES = ("ORRES", "ORRESU", "ORNRLO", "ORNRHI", "STRESC", "STRESU", "STNRC",
                 "GRPID", "REFID", "SPID", "LNKID", "LNKGRP", "TOXGR", "DUR", "ELTM")
"""--variables (after the two-letter domain prefix) that the SDTMIG types Char, kept as text in
a CSV file whatever their values: a result as collected (--ORRES '7.50', --ORNRLO '35') keeps
its text, which a number would change ('7.5', '35.0')."""


def _text_always(name: str) -> bool:
    """Whether CSV column ``name`` is Char whatever its values (:data:`TEXT_ALWAYS`,
    :data:`TEXT_SUFFIXES`)."""
    name = name.upper()
    return (name in TEXT_ALWAYS or name.endswith("DTC")
            or (len(name) > 2 and name[2:] in TEXT_SUFFIXES))


STRETCH_ROWS = 1 << 18
"""Records read and typed at a time when a domain is read into the store (a setting of memory,
not of the results)."""
MAX_LISTED = 1000  # bad records listed per variable (all are counted), as io/raw.py
ISO_8601 = "a complete or partial ISO 8601 date or date/time (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss])"


@dataclass
class SdtmVariable:
    """What the input file says about one variable: its SAS type, label and format."""

    type: str  # "Char" or "Num"
    label: str = ""
    format: str = ""
    na_missing: int = 0  # CSV: unquoted NA fields read as missing values (R's way of writing one)
    na_first: int = 0  # the record number (1 = the first) of the first of them (or of na_text)
    na_text: int = 0  # CSV written with blank missing values: NA fields kept as the text NA


@dataclass
class SdtmInput:
    """The checked SDTM domains of one input folder, with their files and metadata."""

    source: Path
    datasets: dict[str, pd.DataFrame]
    files: dict[str, Path]
    labels: dict[str, str] = field(default_factory=dict)  # dataset labels, where the file has one
    variables: dict[str, dict[str, SdtmVariable]] = field(default_factory=dict)
    notes: list[dict] = field(default_factory=list)  # rules applied while reading (data issues)

    def checksums(self) -> dict[str, str]:
        """SHA-256 of each input file (run.json ``inputs``)."""
        return {str(p): sha256_file(p) for p in sorted(self.files.values())}


def sdtm_not_found(folder: Path) -> InputError:
    """The error for an SDTM folder (or .zip) path that does not exist."""
    if Path(folder).suffix.lower() == ".zip":
        return InputError("SDTM zip not found", file=str(folder),
                          expected=f"an existing .zip of SDTM datasets, or {_FOLDER}")
    return InputError("SDTM folder not found", file=str(folder), expected=_FOLDER)


def read_sdtm(folder: Path, domains: Sequence[str], spill: Spill | None = None) -> SdtmInput:
    """Read and check the ``domains`` of the SDTM folder ``folder``; every problem found is
    raised together as one InputErrors. ``spill``: the domains are read into files there, a
    stretch of records at a time, and mapped back (the folder must outlive the frames)."""
    folder = Path(folder)
    if not folder.exists():
        raise sdtm_not_found(folder)
    if not folder.is_dir():
        raise InputError("not a folder", file=str(folder), expected=_FOLDER)
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in FORMATS:
            found.setdefault(path.stem.upper(), []).append(path)
    errors: list[InputError] = []
    count = 0
    result = SdtmInput(folder, {}, {})
    wanted = {domain.upper() for domain in domains}
    splits = {domain.upper(): _split_stems(found, domain.upper(), wanted) for domain in domains
              if domain.upper() not in found}
    read_as_split = {stem for stems in splits.values() for stem in stems}
    result.notes += [not_read_note(stem, path.name) for stem, paths in sorted(found.items())
                     if stem not in wanted and stem not in read_as_split for path in paths]
    for domain in domains:
        stems = [domain.upper()] if domain.upper() in found else splits[domain.upper()]
        if not stems:
            errors.append(InputError(f"SDTM domain {domain} not found", file=str(folder),
                                     expected=f"a file {domain.lower()}.xpt (or .sas7bdat, .csv, "
                                     ".parquet), or its split datasets (SDTMIG 4.1.7: "
                                     f"{domain.lower()}xx.xpt): the study declares it "
                                     "(inputs.sdtm.domains)"))
            continue
        doubled = [stem for stem in stems if len(found[stem]) > 1]
        if doubled:
            errors += [InputError(f"two files for SDTM {_kind(stem, domain)} {stem}: "
                                  f"{' and '.join(p.name for p in found[stem])}",
                                  file=str(folder), expected="one file per domain")
                       for stem in doubled]
            continue
        pieces = []
        for stem in stems:
            path = found[stem][0]
            try:
                frame, label, variables = _read(path, spill, domain)
            except InputError as exc:
                errors.append(exc)
                continue
            missing = [name for name in REQUIRED if name not in frame.columns]
            errors += [InputError(f"variable {name} missing", file=str(path), column=name,
                                  expected=f"every SDTM domain has {' and '.join(REQUIRED)}")
                       for name in missing]
            count += len(missing)
            bad, total = _check_dtc(frame, variables, path)
            errors += bad
            count += total
            if stem != domain.upper():
                errors += _split_domain_problems(frame, path, domain.upper())
            if domain.upper() == "DM" and "USUBJID" in frame.columns:
                bad, total = _one_record_per_subject(frame, path)
                errors += bad
                count += total
            result.notes += _na_notes(domain, variables)
            result.files[stem] = path
            pieces.append((path, frame, label, variables))
        if len(pieces) != len(stems):
            continue
        if len(pieces) == 1:
            _, frame, label, variables = pieces[0]
        else:
            try:
                frame, label, variables = _stacked(pieces, domain.upper())
            except InputError as exc:
                errors.append(exc)
                continue
        result.datasets[domain] = frame
        result.labels[domain] = label
        result.variables[domain] = variables
    count += sum(1 for e in errors if e.column is None)  # file-level errors count once each
    if errors:
        raise InputErrors(errors, count)
    return result


def is_split_of(stem: str, domain: str, wanted: set[str]) -> bool:
    """Whether a dataset file named ``stem`` can be a split dataset of ``domain`` (SDTMIG
    4.1.7: a large domain may be split into datasets named by the domain and two more
    characters, LBCH and LBHE, each with DOMAIN = LB); DM is never split, a SUPP-- dataset
    is none, nor a domain the study declares itself."""
    stem, domain = stem.upper(), domain.upper()
    return (domain != "DM" and len(stem) == len(domain) + 2 and stem.startswith(domain)
            and stem not in wanted and not stem.startswith("SUPP"))


def _kind(stem: str, domain: str) -> str:
    """``domain`` for a domain's own file, ``dataset`` for one of its split datasets."""
    return "domain" if stem == domain.upper() else "dataset"


def may_read(stem: str, wanted: set[str]) -> bool:
    """Whether a dataset file named ``stem`` is one of the ``wanted`` domains or may be a
    split dataset of one (:func:`is_split_of`): the files a zip's extraction and the store's
    size look at; :func:`read_sdtm` decides which it reads."""
    return stem.upper() in wanted or any(is_split_of(stem, domain, wanted) for domain in wanted)


def _split_stems(found: dict[str, list[Path]], domain: str, wanted: set[str]) -> list[str]:
    """The split datasets of ``domain`` in the folder, read when it has no file of its own."""
    return sorted(stem for stem in found if is_split_of(stem, domain, wanted))


def _split_domain_problems(frame: pd.DataFrame, path: Path, domain: str) -> list[InputError]:
    """A split dataset's records must carry its domain's code in DOMAIN (SDTMIG 4.1.7)."""
    if "DOMAIN" not in frame.columns:
        return [InputError("variable DOMAIN missing", file=str(path), column="DOMAIN",
                           expected=f"a split dataset of {domain} has DOMAIN = {domain} "
                           "(SDTMIG 4.1.7)")]
    other = np.flatnonzero(frame["DOMAIN"].ne(domain).to_numpy(dtype=bool))
    if not len(other):
        return []
    return [InputError(f"a split dataset of {domain} ({len(other)} record(s) with another "
                       "DOMAIN)", file=str(path), row=int(other[0]) + 1, column="DOMAIN",
                       value=str(frame["DOMAIN"].iat[int(other[0])]),
                       expected=f"DOMAIN = {domain} in every record (SDTMIG 4.1.7)")]


def _stacked(pieces: list[tuple[Path, pd.DataFrame, str, dict[str, SdtmVariable]]],
             domain: str) -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    """The split datasets of one domain as one, in file-name order: their variables in the
    order first met, a variable one of them lacks missing there ("" or NaN). A variable that
    is Char in one and Num in another is an error naming both files."""
    variables: dict[str, SdtmVariable] = {}
    first_in: dict[str, Path] = {}
    for path, _, _, found in pieces:
        for name, var in found.items():
            if name in variables and variables[name].type != var.type:
                raise InputError(f"variable {name} is {variables[name].type} in "
                                 f"{first_in[name].name} and {var.type} here", file=str(path),
                                 column=name, expected=f"one type per variable across the split "
                                 f"datasets of {domain}")
            if name not in variables:
                variables[name] = SdtmVariable(var.type, var.label, var.format)
                first_in[name] = path

    def missing(var: SdtmVariable, rows: int) -> pd.Series:
        return (pd.Series(np.full(rows, np.nan)) if var.type == "Num"
                else pd.Series([""] * rows, dtype="str"))

    frames = [pd.DataFrame({name: frame[name] if name in frame.columns
                            else missing(var, len(frame)) for name, var in variables.items()},
                           index=frame.index)
              for _, frame, _, _ in pieces]
    return pd.concat(frames, ignore_index=True), pieces[0][2], variables


NOT_READ = "SDTM file of a domain the study does not read (inputs.sdtm.domains): not read"


def not_read_note(domain: str, file: str) -> dict:
    """The data issue (info) of a dataset file the study does not declare (``suppae.xpt``
    beside the declared DM, AE, ...): left unread, and said so."""
    return {"form": domain, "value": file, "rule": NOT_READ}


NA_RULE = ("unquoted NA read as a missing value (R's write.csv and readr::write_csv write a "
           "missing value so; a quoted \"NA\" is kept as the text NA)")


NA_TEXT_RULE = ("NA kept as the text NA: the file writes its missing values as blank fields "
                "(as SAS's PROC EXPORT and pandas do), not as NA")


def _na_notes(domain: str, variables: dict[str, SdtmVariable]) -> list[dict]:
    """A data issue (info) per CSV column whose unquoted NA fields were read as missing values,
    or (a file writing missing values as blanks) whose NA fields were kept as text, with their
    count and the first record."""
    return [{"form": domain, "column": name, "row": var.na_first, "value": "NA",
             "rule": f"{var.na_missing} {NA_RULE}" if var.na_missing else
             f"{var.na_text} {NA_TEXT_RULE}"}
            for name, var in variables.items() if var.na_missing or var.na_text]


def _read(path: Path, spill: Spill | None = None,
          domain: str = "") -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    """One file as a typed frame, its dataset label and its variables' metadata (into
    ``spill`` a stretch at a time, when given)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xpt", ".sas7bdat"):
            return _upper_names(path, *_read_sas(path, suffix, spill, domain))
        if suffix == ".parquet":
            return _upper_names(path, *_read_parquet(path, spill, domain))
        return _upper_names(path, *_read_csv(path, spill, domain))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is an unreadable file
        what = {".xpt": "SAS transport (XPT v5 or v8)", ".sas7bdat": "SAS data set (sas7bdat)",
                ".parquet": "Parquet", ".csv": "CSV (UTF-8, header line)"}[suffix]
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"cannot be read as {what}: {reason}", file=str(path),
                         expected=f"a {what} file of one SDTM domain") from exc


def upper_names(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The frame with its variable names in upper case: SAS names are case-insensitive and
    SDTM's and ADaM's are upper case, so ``usubjid`` of a Parquet or CSV file written by
    another tool (R, Python) is USUBJID. Two variables of one file whose names differ only in
    case, or a name twice (a CSV header), are refused (which one is meant is unknown). Used by
    every reader of datasets the user gives (``--sdtm``, ``compare``)."""
    upper = check_names(frame.columns, path)
    return frame if upper == list(frame.columns) else frame.set_axis(upper, axis=1)


def check_names(names, path: Path) -> list[str]:
    """The variable names in upper case; two that differ only in case, or a name twice (a CSV
    header), are an InputError naming the file (which one is meant is unknown)."""
    upper = [str(name).upper() for name in names]
    if len(set(upper)) < len(upper):
        seen: dict[str, str] = {}
        for name in names:
            if str(name).upper() in seen:
                what = (f"two variables named {name}" if seen[str(name).upper()] == str(name)
                        else f"two variables whose names differ only in case: "
                        f"{seen[str(name).upper()]} and {name}")
                raise InputError(what, file=str(path), column=str(name).upper(),
                                 expected="one variable per name (SAS names are case-insensitive)")
            seen[str(name).upper()] = str(name)
    return upper


def _upper_names(path: Path, frame: pd.DataFrame, label: str,
                 variables: dict[str, SdtmVariable]
                 ) -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    """:func:`upper_names` for a domain read, its variables' metadata renamed alike."""
    return (upper_names(frame, path), label,
            {name.upper(): var for name, var in variables.items()})


class _Stretches:
    """A domain's typed records written into the spill a stretch at a time: its text columns
    to one Arrow file, each number column to a file of float64 values (appended in order);
    :meth:`frame` maps them back as the frame's columns."""

    def __init__(self, spill: Spill, domain: str, variables: dict[str, SdtmVariable]) -> None:
        import pyarrow as pa

        self.variables = variables
        self.text = [name for name, var in variables.items() if var.type == "Char"]
        self.schema = pa.schema([(name, pa.large_string()) for name in self.text])
        self.text_path = spill.new_file(domain)
        self.number_paths = {name: spill.new_file(domain, ".f8")
                             for name, var in variables.items() if var.type == "Num"}
        self._sink, self._writer, self._numbers = None, None, {}
        try:  # a file that cannot be opened: the ones already open are closed
            self._sink = arrow_sink(self.text_path)
            self._writer = pa.ipc.new_file(self._sink, self.schema)
            for name, path in self.number_paths.items():
                self._numbers[name] = open(path, "wb")
        except BaseException:
            self.close()
            raise
        self.rows = 0

    def add(self, typed: pd.DataFrame) -> None:
        """The next stretch of records, typed (:func:`_typed`)."""
        import pyarrow as pa

        self._writer.write_batch(pa.RecordBatch.from_pandas(
            typed[self.text], schema=self.schema, preserve_index=False))
        for name, handle in self._numbers.items():
            write_in_pieces(handle, np.ascontiguousarray(typed[name].to_numpy(dtype=np.float64)))
        self.rows += len(typed)

    def close(self) -> None:
        """Close the files (what was opened of them); the records written stay."""
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            self._sink.close()
        for handle in self._numbers.values():
            handle.close()

    def frame(self) -> pd.DataFrame:
        """The records written, as a frame of read-only views of the files."""
        from .arrowfile import mapped

        self.close()
        table = mapped(self.text_path)
        columns = {}
        for name in self.variables:
            if name in self.number_paths:
                path = self.number_paths[name]
                values = (np.memmap(path, dtype=np.float64, mode="r").view(np.ndarray)
                          if path.stat().st_size else np.empty(0, dtype=np.float64))
                columns[name] = pd.Series(values, copy=False)
            else:
                columns[name] = pd.Series(pd.array(table.column(name), dtype="str"), copy=False)
        return pd.DataFrame(columns, index=pd.RangeIndex(self.rows), copy=False)


def _spilled(stretches, spill: Spill, domain: str,
             variables: dict[str, SdtmVariable]) -> pd.DataFrame:
    """The typed stretches of raw frames written into ``spill`` and mapped back."""
    out = _Stretches(spill, domain, variables)
    try:
        for raw in stretches:
            out.add(_typed(raw, variables))
    except BaseException:
        out.close()
        raise
    return out.frame()


def _read_sas(path: Path, suffix: str, spill: Spill | None = None,
              domain: str = "") -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    if suffix == ".xpt":
        from .xpt_read import XptFormatError, XptRecords, one_member

        try:
            records = XptRecords(path)
        except XptFormatError:  # e.g. version 8: read by pyreadstat below, one member only
            one_member(path)
            records = None
        if records is not None:
            return _read_xpt(records, spill, domain)
    import pyreadstat

    reader = pyreadstat.read_xport if suffix == ".xpt" else pyreadstat.read_sas7bdat
    if spill is None:
        raw, meta = reader(str(path), disable_datetime_conversion=True)
        variables = _sas_variables(raw, meta)
        return _typed(raw, variables), meta.file_label or "", variables
    chunks = pyreadstat.read_file_in_chunks(reader, str(path), chunksize=STRETCH_ROWS,
                                            disable_datetime_conversion=True)
    first, meta = next(chunks, (None, None))
    if first is None or not len(first):  # no records: read whole (nothing to hold)
        return _read_sas(path, suffix, None, domain)
    variables = _sas_variables(first, meta)
    stretches = itertools.chain([first], (raw for raw, _ in chunks))
    return _spilled(stretches, spill, domain, variables), meta.file_label or "", variables


def _sas_variables(raw: pd.DataFrame, meta) -> dict[str, SdtmVariable]:
    types = meta.readstat_variable_types
    labels = meta.column_names_to_labels
    formats = meta.original_variable_types
    return {name: SdtmVariable("Char" if types.get(name) == "string" else "Num",
                               labels.get(name) or "", formats.get(name) or "")
            for name in raw.columns}


def _read_xpt(records, spill: Spill | None,
              domain: str) -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    """An XPT v5 file by the vectorised reader (``io/xpt_read.py``)."""
    variables = {var.name: SdtmVariable(var.type, var.label, var.format)
                 for var in records.variables}

    def stretch(start: int, stop: int | None) -> pd.DataFrame:
        columns = records.columns(start, stop)
        rows = len(range(records.rows)[start:stop])
        return pd.DataFrame({name: pd.Series(values if variables[name].type == "Num"
                                             else pd.array(values, dtype="str"), copy=False)
                             for name, values in columns.items()}, index=pd.RangeIndex(rows))

    try:
        if spill is None:
            frame = _typed(stretch(0, None), variables)
        else:
            frame = _spilled((stretch(start, start + STRETCH_ROWS)
                              for start in range(0, records.rows, STRETCH_ROWS)),
                             spill, domain, variables)
    finally:
        records.close()
    return frame, records.label, variables


def _read_parquet(path: Path, spill: Spill | None = None,
                  domain: str = "") -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    empty = source.schema_arrow.empty_table().to_pandas()
    variables = {name: SdtmVariable("Num" if pd.api.types.is_numeric_dtype(empty[name])
                                    and not pd.api.types.is_bool_dtype(empty[name]) else "Char")
                 for name in empty.columns}
    if spill is None:
        return _typed(source.read().to_pandas(), variables), "", variables
    batches = (batch.to_pandas() for batch in source.iter_batches(batch_size=STRETCH_ROWS))
    return _spilled(batches, spill, domain, variables), "", variables


def csv_text_options(path: Path, na_missing: bool = True):
    """pyarrow's options to read the CSV dataset ``path`` as text, every column a string.
    ``na_missing``: an unquoted NA is a missing value (null: R's ``write.csv`` and
    ``readr::write_csv`` write a missing value so), a quoted "NA" the text NA, a blank field
    ""; else a blank field not quoted is the missing value (null) and NA the text NA, as SAS's
    PROC EXPORT and pandas write them. :func:`read_csv_text` decides which a file is."""
    import csv as text_csv

    import pyarrow as pa
    from pyarrow import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:  # the header
        names = next(text_csv.reader(fh), [])
    return csv.ConvertOptions(column_types={name: pa.large_string() for name in names},
                              null_values=["NA"] if na_missing else [""],
                              strings_can_be_null=True, quoted_strings_can_be_null=False)


def read_csv_text(path: Path, read) -> tuple:
    """The CSV dataset ``path`` as a table of text read by ``read(options)`` (pyarrow's
    ``read_csv``, or a parse into a spill), and whether the file writes its missing values as
    an unquoted NA (they are then null, a blank field ""; else a blank field not quoted is null
    and NA text). Every reader of CSV datasets the user gives uses it (``--sdtm``, ``compare``).

    Writers differ in how they write a missing value: R writes ``NA`` (unquoted; a text NA
    quoted), SAS's PROC EXPORT and pandas a blank field (and a text NA as ``NA``, unquoted: a
    region coded NA, North America). So an unquoted NA is a missing value unless
    the file shows the other convention: no number column holds one (an NA among numbers is
    R's missing value; a column the SDTMIG types Char, ``--SPID``, ``--ORRES``..., may hold
    digits and the text NA) and some field is a blank not quoted (R quotes an empty text).
    Then the file is read again with blank fields as the missing values and NA kept as text."""
    table = read(csv_text_options(path))  # (columns by position: a name may be there twice)
    with_na = [(name, column) for name, column in zip(table.column_names, table.columns)
               if column.null_count]
    if not with_na or any(_all_numbers(_stripped(column)) for name, column in with_na
                          if not _text_always(name)):
        return table, True
    blanks = read(csv_text_options(path, na_missing=False))
    if not any(column.null_count for column in blanks.columns):
        return table, True  # no blank field: the file writes its missing values as NA
    return blanks, False


def _stripped(column) -> pd.Series:
    """A CSV column read as text (pyarrow) as a pandas ``str`` Series, blanks around values cut."""
    return pd.Series(pd.array(column, dtype="str"), copy=False).str.strip()


def _all_numbers(values: pd.Series) -> bool:
    """True when every value of a CSV column (:func:`_stripped`), missing values and blanks
    apart, is a number, and there is at least one."""
    filled = values[values.notna() & values.ne("")]
    return len(filled) > 0 and not pd.to_numeric(filled, errors="coerce").isna().any()


def _read_csv(path: Path, spill: Spill | None = None,
              domain: str = "") -> tuple[pd.DataFrame, str, dict[str, SdtmVariable]]:
    from pyarrow import csv

    if spill is None:
        table, na_missing = read_csv_text(
            path, lambda options: csv.read_csv(path, convert_options=options))
    else:  # parsed a block at a time into the spill, then checked one whole column at a time
        table, na_missing = read_csv_text(path, lambda options: spill.text(csv.open_csv(
            path, convert_options=options, read_options=csv.ReadOptions(block_size=SPILL_BLOCK)),
            domain))
    variables = {}
    for name in table.column_names:
        values = _stripped(table.column(name))
        is_num = not _text_always(name) and _all_numbers(values)
        # the NA fields: missing values (their count) or, in a file of blank missing values, text
        marked = (values.isna() if na_missing else values.eq("NA")).to_numpy(dtype=bool)
        first = int(np.argmax(marked)) + 1 if marked.any() else 0
        variables[name] = SdtmVariable("Num" if is_num else "Char", na_first=first,
                                       na_missing=int(marked.sum()) if na_missing else 0,
                                       na_text=0 if na_missing else int(marked.sum()))
    if spill is None:
        return _typed(table.to_pandas(), variables), "", variables
    batches = (batch.to_pandas() for batch in table.to_batches(max_chunksize=STRETCH_ROWS))
    return _spilled(batches, spill, domain, variables), "", variables


def _typed(raw: pd.DataFrame, variables: dict[str, SdtmVariable]) -> pd.DataFrame:
    """Char -> ``str`` with ``""`` missing and trailing blanks removed; Num -> float64."""
    columns = {}
    for name, var in variables.items():
        values = raw[name]
        if var.type == "Num":
            columns[name] = pd.to_numeric(values.replace("", np.nan) if values.dtype != np.float64
                                          else values, errors="raise").astype("float64")
        else:
            columns[name] = values.astype("str").fillna("").str.rstrip()  # a null (NA): ""
    return pd.DataFrame(columns, index=pd.RangeIndex(len(raw)))


def _one_record_per_subject(dm: pd.DataFrame, path: Path) -> tuple[list[InputError], int]:
    """DM's records after a subject's first (SDTMIG: one record per subject), as errors naming
    the record and its subject's first (the first MAX_LISTED of them), and how many in all."""
    subjects = dm["USUBJID"]
    again = np.flatnonzero(subjects.duplicated(keep="first").to_numpy(dtype=bool))
    first = pd.Series(np.arange(len(dm)), index=subjects.to_numpy()).groupby(level=0).min()
    errors = [InputError(f"a second record of the subject (its first: row "
                         f"{int(first[subjects.iat[row]]) + 1})", file=str(path), row=int(row) + 1,
                         column="USUBJID", value=str(subjects.iat[row]),
                         expected="one record per subject in DM (SDTMIG)")
              for row in again[:MAX_LISTED]]
    return errors, len(again)


def _check_dtc(frame: pd.DataFrame, variables: dict[str, SdtmVariable],
               path: Path) -> tuple[list[InputError], int]:
    """Every ``--DTC`` value that is not ISO 8601, as errors (the first MAX_LISTED records
    per variable) and how many records are bad in all."""
    errors: list[InputError] = []
    count = 0
    for name in frame.columns:
        if not name.endswith("DTC"):
            continue
        if variables[name].type != "Char":
            errors.append(InputError("a --DTC variable must be character (ISO 8601 text)",
                                     file=str(path), column=name, value="numeric",
                                     expected=ISO_8601))
            count += 1
            continue
        codes, distinct = pd.factorize(frame[name], sort=False)
        bad = ~iso8601_valid(pd.Series(distinct, dtype="str")).to_numpy(dtype=bool)
        flagged = np.flatnonzero(bad[codes])
        count += len(flagged)
        values = frame[name].to_numpy()
        errors += [InputError("not ISO 8601", file=str(path), row=int(row) + 1, column=name,
                              value=str(values[row]), expected=ISO_8601)
                   for row in flagged[:MAX_LISTED]]
    return errors, count
