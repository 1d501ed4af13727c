"""Partitions by subject: SDTM and ADaM built per group of subjects, on both cores.

Almost every rule of a study is per subject (mapping, --SEQ, baseline, windows, flags, ADSL
merges), so a run can split the subjects into **partitions** by a stable hash of the subject
id (:func:`partition_of`: a subject's records from every form land in the same one), build
SDTM and ADaM of each partition with the ordinary stages (:func:`build_partition`, in a process
pool or on a Dask cluster), and combine them (:func:`combine`). Inputs and datasets travel as
Arrow files in the run's store (:func:`store`, read back memory-mapped), not pickled.

- a **subject-level** dataset (one with USUBJID) is the partitions' records merged in the
  order of the dataset's ``sort`` (:func:`merge_files`: a subject's records are in one
  partition, in the order the one-partition build gives them), a stretch of records at a time;
- a **study-level** dataset (no USUBJID: TS, TA, TE, TV, TI) that reads no subject data is
  the same in every partition and taken from the first; one that does (TS's first informed
  consent date) is built again on the combined datasets;
- the data issues of every partition go into the run's one log, which sorts them.

So the outputs are the same, byte for byte, whatever the number of partitions (tests). What
is not per subject (XPT lengths, define, the analyses and tables, QC) is made from the
combined datasets as before. A study whose subject-level dataset reads a study-level one
built from subject data, or sorts without USUBJID, cannot be split: :func:`plan_problems`
says so and the run stays in one partition. ``docs/partitions.md`` describes the design.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io.pieces import arrow_sink, write_in_pieces
from ..spec.model import Specs, _dataset_references, build_order

SUBJECT = "USUBJID"
HASH_KEY = "itp-adam-subject"
"""The key of the subject hash (16 bytes): the same partition for a subject on every machine."""
READ_INTO_STORE = 256 << 20
"""A CSV export in one folder of at least this many bytes of CSV files is read into the run's
store (``io.raw.Spill``) when the run may build partitions: its forms are then never held
whole in memory (docs/partitions.md, "Memory"). A setting of memory, not of the results."""
SUBJECTS_PER_PARTITION = 25_000
"""Default partition size (without ``--partitions``): a study of up to this many subjects is
built in one partition, in the run's own process; a larger one in partitions of about this
size (docs/partitions.md, docs/performance.md)."""
INPUT_PER_PARTITION = 256 << 20
"""And at most about this many bytes of input (its columns as read, in memory) per partition
by default: a study with many records per subject (100 KiB of input per subject against 6 KiB,
say) gets smaller partitions, so that each builder's memory stays about the same
(docs/partitions.md). A setting of memory, not of the results."""


def partition_of(ids: pd.Series | np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 .. partitions - 1) of each subject id, from a stable 64-bit hash of
    its text; a missing id is partition 0."""
    ids = pd.Series(ids)
    if partitions <= 1 or len(ids) == 0:
        return np.zeros(len(ids), dtype=np.int64)
    codes, distinct = pd.factorize(ids, use_na_sentinel=True)  # each distinct id hashed once
    values = pd.Series(distinct).astype("string").astype(object).to_numpy()
    hashed = pd.util.hash_array(np.append(values, ""), hash_key=HASH_KEY, categorize=False)
    return (hashed % np.uint64(partitions)).astype(np.int64)[codes]  # missing (-1): as ""


def default_partitions(subjects: int, size: int = 0) -> int:
    """How many partitions a run of this many subjects and ``size`` bytes of input makes by
    default: one per :data:`SUBJECTS_PER_PARTITION` subjects or :data:`INPUT_PER_PARTITION`
    bytes, whichever makes more, and never more than one per subject."""
    wanted = max(-(-subjects // SUBJECTS_PER_PARTITION), -(-size // INPUT_PER_PARTITION))
    return max(1, min(wanted, subjects))


# --------------------------------------------------------------------------------------------
# What can be split


@dataclass(frozen=True)
class Plan:
    """Which datasets are built per partition and which are study-level."""

    subject_level: frozenset[str]
    study_level: frozenset[str]
    from_subjects: tuple[str, ...]  # study-level datasets built from subject data, build order


def plan(specs: Specs) -> Plan:
    """The study's datasets sorted into subject-level and study-level ones, and the study-level
    ones made from subject data (rebuilt on the combined datasets), in build order."""
    datasets = {**specs.sdtm, **specs.adam}
    subject_level = {name for name, spec in datasets.items()
                     if any(var.name == SUBJECT for var in spec.variables)}
    study_level = set(datasets) - subject_level
    needs = {name: {ref for _, ref in _dataset_references(spec) if ref in datasets}
             for name, spec in datasets.items()}
    reads_subjects: set[str] = set()
    changed = True
    while changed:  # study-level datasets reading subject data, directly or through another
        changed = False
        for name in study_level - reads_subjects:
            spec = datasets[name]
            if needs[name] & (subject_level | reads_subjects) or _raw_forms(spec):
                reads_subjects.add(name)
                changed = True
    order = [n for n in build_order(specs.sdtm) + build_order(specs.adam) if n in reads_subjects]
    return Plan(frozenset(subject_level), frozenset(study_level), tuple(order))


def _raw_forms(spec) -> list[str]:
    """The raw forms a dataset reads its records from (``forms:``, ``records:``)."""
    return list(dict.fromkeys([*spec.forms, *(group.form for group in spec.records)]))


def plan_problems(specs: Specs) -> list[str]:
    """Why this study's datasets cannot be built per partition (none: they can)."""
    found = plan(specs)
    datasets = {**specs.sdtm, **specs.adam}
    problems = []
    for name in found.from_subjects:  # rebuilt from the combined datasets, not from raw forms
        forms = _raw_forms(datasets[name])
        if forms:
            problems.append(f"{name} has no {SUBJECT} and is read from the raw forms "
                            f"{', '.join(forms)}")
    for name in sorted(found.subject_level):
        reads = {ref for _, ref in _dataset_references(datasets[name])} & set(found.from_subjects)
        if reads:
            problems.append(f"{name} reads {', '.join(sorted(reads))}, a study-level dataset made "
                            "from every subject's data")
        if SUBJECT not in datasets[name].sort:
            problems.append(f"{name} is not sorted by {SUBJECT} (sort: {', '.join(datasets[name].sort)})")
    return problems


# --------------------------------------------------------------------------------------------
# Splitting the input


def split_frames(frames: dict[str, pd.DataFrame], subject: str, partitions: int,
                 store_in: Path | None = None) -> list[dict[str, pd.DataFrame | Path]]:
    """Each frame's rows by the partition of their subject (``subject`` column); a frame
    without that column (reference data such as a coding file) goes whole into every
    partition (its own issues are kept from the first only: :func:`reference_forms`).
    ``store_in``: each partition's rows are written to its :func:`input_file` there
    (:func:`_split_into_files`: a stretch of rows at a time, so that neither a partition's
    copy nor the whole frame's is held in memory)."""
    parts: list[dict[str, pd.DataFrame | Path]] = [{} for _ in range(partitions)]
    for name, frame in frames.items():
        if subject not in frame.columns:
            for k in range(partitions):
                parts[k][name] = frame
            continue
        if store_in is not None:
            files = _split_into_files(frame, subject, partitions, store_in, name)
            for k in range(partitions):
                parts[k][name] = files[k]
            continue
        where = partition_of(frame[subject], partitions)
        order = np.argsort(where, kind="stable")
        edges = np.searchsorted(where[order], np.arange(partitions + 1))
        del where
        for k in range(partitions):
            parts[k][name] = frame.take(order[edges[k]:edges[k + 1]])
    return parts


SPLIT_ROWS = 1 << 20
"""Rows of a frame split at a time into the partitions' input files (:func:`split_frames`
with ``store_in``): a setting of memory, not of the results."""


def _split_into_files(frame: pd.DataFrame, subject: str, partitions: int, store_dir: Path,
                      name: str) -> list[Path]:
    """``frame``'s rows written to each partition's :func:`input_file` of ``store_dir`` (what
    :func:`store` writes of the partition's rows, in the same order), :data:`SPLIT_ROWS` at a
    time: each stretch's rows are put in partition order once (a stable sort) and each
    partition's slice of them appended to its file, so every column is taken once, from a
    contiguous stretch, instead of once per partition from the whole (mapped) frame. A
    thread writes one stretch while the next is put in order (file writes and Arrow's copies
    release the GIL): the split used one core of two."""
    from concurrent.futures import Future, ThreadPoolExecutor

    import pyarrow as pa

    store_dir.mkdir(parents=True, exist_ok=True)
    files = [input_file(store_dir, name, k) for k in range(partitions)]
    schema = pa.Schema.from_pandas(frame, preserve_index=False)  # the whole frame's types

    def write(table, edges: np.ndarray) -> None:  # appended in order: one writing thread
        for k, writer in enumerate(writers):
            writer.write_table(table.slice(edges[k], edges[k + 1] - edges[k]))

    with contextlib.ExitStack() as opened:
        writers = [opened.enter_context(pa.ipc.new_file(
            opened.enter_context(arrow_sink(path)), schema)) for path in files]
        writing = opened.enter_context(ThreadPoolExecutor(1, thread_name_prefix="itp-adam-split"))
        last: Future | None = None
        for low in range(0, len(frame), SPLIT_ROWS):
            stretch = frame.iloc[low:low + SPLIT_ROWS]
            where = partition_of(stretch[subject], partitions)
            order = np.argsort(where, kind="stable")
            edges = np.searchsorted(where[order], np.arange(partitions + 1))
            table = pa.Table.from_pandas(stretch.take(order), schema=schema, preserve_index=False)
            if last is not None:
                last.result()  # at most one stretch waits to be written (bounded memory)
            last = writing.submit(write, table, edges)
        if last is not None:
            last.result()
    return files


def reference_forms(frames: dict[str, pd.DataFrame], subject: str) -> set[str]:
    """The frames without a subject column: whole in every partition."""
    return {name for name, frame in frames.items() if subject not in frame.columns}


# --------------------------------------------------------------------------------------------
# One partition


@dataclass
class PartitionJob:
    """What one partition is built from (picklable: sent to a worker process or Dask)."""

    number: int
    specs_dir: Path
    frames: dict[str, pd.DataFrame]  # the raw forms or the input SDTM datasets of its subjects
    from_sdtm: bool
    source: Path | None = None  # the raw export (for messages)
    kind: str = "csv"  # of the raw export: csv or xlsx
    files: dict[str, Path] | None = None
    notes: list[dict] | None = None
    store: Path | None = None  # where the worker writes its datasets (None: sent back)
    piece: str | None = None  # an export in pieces: this piece's name; the worker reads
    # ``source`` itself (no frames) and its records trace to ``PIECE/FORM``
    compression: str | None = None  # of its datasets in the store (build_partitions)




@dataclass
class PartitionResult:
    number: int
    sdtm: dict[str, pd.DataFrame | Path]  # subject-level datasets as files when stored
    adam: dict[str, pd.DataFrame | Path]
    issues: Any  # the partition's IssueLog
    error: Exception | None = None  # the InputError that stopped this partition's build
    subjects: Any = None  # a piece's distinct subject ids, of every form (pd.Series)
    facts: dict[str, dict] | None = None  # define's ColumnFacts of each subject-level
    # dataset's variables, by dataset name


def build_partition(job: PartitionJob, specs: Specs | None = None) -> PartitionResult:
    """SDTM and ADaM of one partition's subjects, with the data issues found (the ordinary
    stages: ``prepare_forms``, ``build_sdtm``, ``build_adam``). ``specs``: the loaded specs
    (in-process); a worker loads them from ``job.specs_dir``."""
    from .. import issues
    from ..errors import InputError
    from ..io.define import dataset_facts
    from ..io.raw import RawExport, read_export
    from ..spec.model import load_specs
    from .adam import build_adam
    from .sdtm import build_sdtm, prepare_forms

    if specs is None:  # a pool's process has them from its start; a Dask worker loads them
        ready = _POOL_SPECS.get(str(Path(job.specs_dir)))
        specs = ready if ready is not None else load_specs(job.specs_dir)
    frames = {name: load(part) for name, part in job.frames.items()}
    subjects = None
    with issues.collect() as log:
        try:
            if job.from_sdtm:  # the input SDTM: the caller has it whole, only ADaM comes back
                sdtm = frames
            else:
                if job.piece is not None:  # a piece of the export: read and checked here
                    export = read_export(job.source, specs.layout)
                    export.notes = [{**note, "form": f"{job.piece}/{note.get('form', '')}"}
                                    for note in export.notes]
                    subject = specs.layout.subject_column
                    subjects = distinct_subjects([frame[subject] for frame in export.forms.values()
                                                  if subject in frame.columns])
                else:
                    export = RawExport(source=job.source or job.specs_dir, kind=job.kind,
                                       forms=frames, files=job.files or {}, notes=job.notes or [])
                forms = prepare_forms(export, specs, require_subjects=job.piece is not None,
                                      origin=job.piece)
                sdtm = build_sdtm(specs, forms)
            adam = build_adam(specs, sdtm) if specs.adam else {}
        except InputError as error:  # reported with the other partitions' errors
            return PartitionResult(job.number, {}, {}, log, error, subjects)
    built = PartitionResult(job.number, {} if job.from_sdtm else sdtm, adam, log, None, subjects)
    level = plan(specs).subject_level
    # what define needs of the data, taken here while it is in memory (combine)
    built.facts = {name: dataset_facts(specs_of[name], frame)
                   for group, specs_of in (("sdtm", specs.sdtm), ("adam", specs.adam))
                   for name, frame in getattr(built, group).items() if name in level}
    if job.store is not None:  # subject-level datasets written here, not sent back
        for group in ("sdtm", "adam"):
            datasets = getattr(built, group)
            for name in [name for name in datasets if name in level]:
                datasets[name] = store(datasets[name],
                                       job.store / f"{group}-{name}-{job.number:05d}.arrow",
                                       job.compression)
    return built


def distinct_subjects(columns: Sequence[pd.Series]) -> pd.Series:
    """The distinct subject ids of the ``columns`` of subject ids (trimmed, blank and missing
    ones left out)."""
    if not columns:
        return pd.Series([], dtype="string")
    found = pd.concat([ids.astype("string").str.strip() for ids in columns],
                      ignore_index=True).drop_duplicates()
    return found[found.notna() & found.ne("")].reset_index(drop=True)


def subjects_in_two_pieces(results: Sequence[PartitionResult], pieces: dict[int, str],
                           where: Path) -> list:
    """An InputError per subject with rows in more than one piece of an export (a subject's
    rows of every form must be in one piece: its records are built from that piece only).
    ``pieces``: partition number -> piece name; ``where``: the export folder."""
    from ..errors import InputError

    found = [pd.DataFrame({"subject": r.subjects, "piece": pieces[r.number]})
             for r in results if r.subjects is not None and len(r.subjects)]
    if not found:
        return []
    every = pd.concat(found, ignore_index=True)
    twice = every[every["subject"].duplicated(keep=False)]
    if twice.empty:
        return []
    listed = twice.groupby("subject", sort=True)["piece"].agg(lambda p: " and ".join(sorted(p)))
    return [InputError(f"subject {subject} has rows in the pieces {in_pieces}",
                       file=str(where), value=subject,
                       expected="all of a subject's rows, of every form, in one piece")
            for subject, in_pieces in listed.items()]


# --------------------------------------------------------------------------------------------
# The store: a partition's datasets as Arrow IPC files, memory-mapped when read


MERGE_ROWS = 262_144
"""Records put together at a time (:func:`merge_files`): the merge holds this many records of a
dataset in memory, whatever the study's size."""
STORE_ROWS = 16_384
"""Records per compressed batch of a partition's stored dataset (:func:`store` with
``compression``): the merge decompresses one batch of each partition at a time."""
STORE_COMPRESSION = "zstd"
"""How a partition's subject-level datasets are compressed in the store (Arrow IPC buffer
compression). CDISC text repeats a lot: about 11x smaller (a 25,000-subject partition of the
shipped study: 944 MB -> 86 MB), so at 1,000,000 subjects the store fits in the page cache
instead of being written to disk and read back (docs/performance.md, "Fifth round")."""
COMPRESS_STORE_ABOVE = 1 << 30
"""A run whose input, as read (its columns' bytes in memory, :func:`input_bytes`), is at most
this many bytes keeps its partitions' datasets uncompressed in the store (about 6x the input:
3.8 GB at 100,000 subjects, which the page cache of a 24 GiB machine holds with the rest of
the run's files); a larger one, or one whose size is not known first (an export in pieces),
compresses them with :data:`STORE_COMPRESSION`. Compressing and decompressing cost about a
tenth of a 100,000-subject run's CPU time (docs/performance.md, "Twelfth round"). A setting
of speed and disk, not of the results."""


def input_bytes(frames: dict[str, pd.DataFrame]) -> int:
    """The bytes of the input ``frames`` as read (their columns in memory)."""
    return sum(int(frame.memory_usage(index=False).sum()) for frame in frames.values())


def store_compression(size: int | None) -> str | None:
    """How a run with ``size`` bytes of input (None: not known) keeps its partitions'
    datasets in the store (:data:`COMPRESS_STORE_ABOVE`)."""
    return None if size is not None and size <= COMPRESS_STORE_ABOVE else STORE_COMPRESSION


def store(frame: pd.DataFrame, path: Path, compression: str | None = None) -> Path:
    """Write ``frame`` as an Arrow IPC file; returns ``path``. The pandas types travel with the
    file. Uncompressed (``compression`` None), it is read back memory-mapped, which costs no
    copy of its text; compressed (``"zstd"``), in batches of :data:`STORE_ROWS` records that
    :func:`merge_files` reads one at a time."""
    from ..io.arrowfile import write_frame

    return write_frame(frame, path, compression, STORE_ROWS if compression else None)


def stored(path: Path):
    """The table of a stored file, memory-mapped (the file's pages, not a copy, when it is not
    compressed)."""
    from ..io.arrowfile import mapped

    return mapped(path)


def input_file(store_dir: Path, name: str, number: int) -> Path:
    """Where partition ``number``'s input form or dataset ``name`` is kept in the store."""
    return store_dir / f"input-{name}-{number:05d}.arrow"


def load(part: pd.DataFrame | Path) -> pd.DataFrame:
    """A partition's dataset as a frame (read from the store when it is a file)."""
    return part if isinstance(part, pd.DataFrame) else stored(part).to_pandas()


class _Part:
    """One partition's records of a dataset, as :func:`merge_files` reads them: the key
    columns whole (``keys``, let go once read), the rest a slice at a time. A stored file is
    read a batch at a time (the batch last read is kept: the merge's slices move forward), so
    a compressed file is never decompressed whole."""

    def __init__(self, part, keys: Sequence[str]) -> None:
        import pyarrow as pa

        self.batch: tuple[int, Any] = (-1, None)
        if isinstance(part, Path):
            source = pa.memory_map(str(part))
            self.reader = pa.ipc.open_file(source)
            self.schema = self.reader.schema
            fields = [self.schema.get_field_index(name) for name in keys]
            self.keys = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(
                included_fields=fields)).read_all()
            self.table = None
        else:
            self.table = part if isinstance(part, pa.Table) else \
                pa.Table.from_pandas(part, preserve_index=False)
            self.schema = self.table.schema
            self.keys = self.table.select(list(keys))
        self.num_rows = self.keys.num_rows
        chunks = self.keys.column(0).chunks if self.keys.num_columns else []
        self.bounds = np.cumsum([0] + [len(chunk) for chunk in chunks])  # the batches' starts

    def slice(self, start: int, length: int):
        """Records ``start`` .. ``start + length - 1`` as a table."""
        import pyarrow as pa

        if self.table is not None:
            return self.table.slice(start, length)
        end = start + length
        first = max(int(np.searchsorted(self.bounds, start, side="right")) - 1, 0)
        last = int(np.searchsorted(self.bounds, end, side="left"))
        pieces = []
        for k in range(first, min(last, len(self.bounds) - 1)):
            if self.batch[0] != k:
                self.batch = (k, self.reader.get_batch(k))
            low = max(start - int(self.bounds[k]), 0)
            pieces.append(self.batch[1].slice(low, min(end, int(self.bounds[k + 1]))
                                              - int(self.bounds[k]) - low))
        return pa.Table.from_batches(pieces, schema=self.schema)


@dataclass(frozen=True)
class Merged:
    """The files :func:`merge_files` wrote for one dataset (small: sent back by a pool process)."""

    path: Path  # the Arrow file: the text columns, in their order
    columns: tuple[str, ...]  # every column, in the dataset's order
    fixed: dict[str, Path]  # column -> its NumPy file (numbers, dates, flags)
    objects: tuple[str, ...] = ()  # ``object`` columns of the partitions' frames
    empty: bool = False  # no records: the Arrow file holds every column
    trace: Path | None = None  # its rows of sdtm/trace.csv, as CSV without a header
    facts: dict | None = None  # define's ColumnFacts of its variables (combine)

    def remove(self) -> None:
        """Remove its files (its XPT file is written; what still maps them keeps the pages
        until it lets go: the system frees them then). One that cannot be removed is left to
        the removal of the store."""
        for path in (self.path, *self.fixed.values(), *([self.trace] if self.trace else [])):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def merged_frame(merged: Merged) -> pd.DataFrame:
    """The merged dataset as a frame whose columns are read-only views of its files."""
    text = stored(merged.path).to_pandas(split_blocks=True)
    if merged.empty:
        return text
    columns = {name: (pd.Series(np.load(merged.fixed[name], mmap_mode="r").view(np.ndarray),
                                name=name, copy=False)
                      if name in merged.fixed else text[name]) for name in merged.columns}
    frame = pd.DataFrame(columns, copy=False)  # numbers and dates: views of the files
    for name in merged.objects:
        values = frame[name].astype(object)
        frame[name] = values.where(values.notna(), None)  # missing as None, as it was
    return frame


def merge_files(parts: Sequence[pd.DataFrame | Path], sort: Sequence[str], path: Path,
                trace: tuple[str, str | None] | None = None) -> Merged:
    """Write the partitions' records of one subject-level dataset in the order of one build
    to ``path`` and beside it, :data:`MERGE_ROWS` records at a time; :func:`merged_frame`
    reads them back memory-mapped. ``trace``: (domain, --SEQ variable) of an SDTM dataset
    whose records trace to raw rows (``_ROW``): their rows of ``sdtm/trace.csv`` are written
    beside too (``NAME.trace.csv``, no header; ``pipeline.write_trace``), by the process
    that merges, not by the run's.

    Each partition's records are in ``sort`` order already and a subject is in one partition,
    so the records with the same values of the sort columns up to USUBJID (a subject's, the
    *blocks*) are together in one partition. The blocks are ordered by those values (a stable
    sort of one key per block, ties in partition order: what a stable sort of all records
    gives), and every record's place follows from its block's. Each partition's records keep
    their order in the result, so a stretch of the result takes one contiguous slice of each
    partition: the merge never holds more than a stretch.

    A column of fixed-width values that pandas holds as a NumPy array (numbers, dates, flags;
    :func:`_fixed_columns`) goes to a NumPy file of its own beside ``path`` (``NAME.K.npy``),
    filled a stretch at a time; the rest (text) to the Arrow file. :func:`merged_frame` maps
    both back: a column of an Arrow file of several record batches would be copied whole into
    memory by pandas (one array), a NumPy file's column is a read-only view of its pages."""
    import pyarrow as pa

    from ..derive.columns import group_codes, run_edges, sort_order

    prefix = list(sort[: list(sort).index(SUBJECT) + 1])  # plan_problems: USUBJID is sorted on
    tables, starts, keys = [], [], []
    for part in parts:  # the first record of each block, and the blocks' keys (the key
        table = _Part(part, prefix)  # columns of one partition held at a time)
        tables.append(table)
        key, table.keys = table.keys.to_pandas(), None
        first = np.flatnonzero(run_edges(group_codes(key, prefix, exact=True), "first"))
        starts.append(first)
        keys.append(key.take(first))
    blocks = pd.concat(keys, ignore_index=True)
    if blocks.empty:
        with arrow_sink(path) as sink, pa.ipc.new_file(sink, tables[0].schema) as writer:
            writer.write_table(tables[0].slice(0, 0))
        return Merged(path, tuple(tables[0].schema.names), {}, empty=True)
    order = sort_order([(blocks[c], True) for c in prefix], len(blocks))
    sizes = np.concatenate([np.diff(np.r_[first, table.num_rows])
                            for first, table in zip(starts, tables)]).astype(np.int64)
    begins = np.empty(len(blocks), dtype=np.int64)  # where each block begins in the result
    begins[order] = np.r_[0, np.cumsum(sizes[order])[:-1]]
    places, done = [], 0  # each partition's records' places in the result, increasing
    for first, table in zip(starts, tables):
        block = np.repeat(np.arange(len(first)), np.diff(np.r_[first, table.num_rows]))
        places.append(begins[done + block] + (np.arange(table.num_rows) - first[block]))
        done += len(first)
    total = sum(table.num_rows for table in tables)
    schema = tables[0].schema
    if any(not table.schema.equals(schema) for table in tables):  # e.g. a column all-null in one
        schema = pa.unify_schemas([table.schema for table in tables], promote_options="permissive")
    fixed = _fixed_columns(tables, schema)
    files = {name: path.with_name(f"{path.stem}.{k}.npy") for k, name in enumerate(fixed)}
    rest = pa.schema([field for field in schema if field.name not in fixed], schema.metadata)
    traced = path.with_name(f"{path.stem}.trace.csv") if trace and "_ROW" in schema.names else None
    with contextlib.ExitStack() as files_open, \
            arrow_sink(path) as sink, pa.ipc.new_file(sink, rest) as writer:
        npy = {name: _npy_writer(files[name], dtype, total, files_open)
               for name, dtype in fixed.items()}
        trace_file = None if traced is None else files_open.enter_context(open(traced, "wb"))
        if trace_file is not None:
            from ..io.csvfile import write_csv_rows
            from .sdtm import TRACE_SCHEMA, trace_rows
        for low in range(0, total, MERGE_ROWS):
            high = min(low + MERGE_ROWS, total)
            slices, at = [], []
            for table, place in zip(tables, places):
                a, b = np.searchsorted(place, [low, high])
                part = table.slice(a, b - a)
                slices.append(part if part.schema.equals(schema) else part.cast(schema))
                at.append(place[a:b] - low)
            stretch = pa.concat_tables(slices)
            into = np.empty(high - low, dtype=np.int64)
            into[np.concatenate(at)] = np.arange(high - low)
            stretch = stretch.take(into)
            if trace_file is not None:
                write_csv_rows(trace_rows(stretch, *trace), trace_file, TRACE_SCHEMA)
            stretch = _as_numpy_values(stretch)
            for name, dtype in fixed.items():  # appended: the stretches come in order
                values = np.ascontiguousarray(stretch.column(name).to_numpy(), dtype=dtype)
                write_in_pieces(npy[name], values)
            writer.write_table(stretch.select(rest.names))
    objects = tuple(name for name in schema.names if any(_object_column(t, name) for t in tables))
    return Merged(path, tuple(schema.names), files, objects, trace=traced)


def _npy_writer(path: Path, dtype: np.dtype, length: int, files_open):
    """``path`` opened for a NumPy file of ``length`` values of ``dtype``, its header written:
    the values are then appended in order (sequential writes, not pages of a mapping)."""
    handle = files_open.enter_context(open(path, "wb"))
    np.lib.format.write_array_header_1_0(handle, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
        "shape": (length,)})
    return handle


def _fixed_columns(tables, schema) -> dict[str, np.dtype]:
    """The columns :func:`merge_files` writes as NumPy files, with their NumPy type: numbers, dates
    without a time zone and flags that pandas holds as that NumPy type (the frames' pandas
    types, kept in the tables' metadata) and that have no missing value a NumPy array could
    not hold (a missing float or date is written as NaN or NaT, :func:`_as_numpy_values`; an
    integer or a flag has none when every partition's frame held it as that NumPy type)."""
    import pyarrow as pa

    metas = [{column.get("name"): column.get("numpy_type")
              for column in (table.schema.pandas_metadata or {}).get("columns", [])}
             for table in tables]
    meta = metas[0]
    fixed = {}
    for field in schema:
        kind = field.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
                or (pa.types.is_timestamp(kind) and kind.tz is None)):
            continue
        dtype = np.dtype(kind.to_pandas_dtype())
        if meta.get(field.name) != str(dtype):  # e.g. pandas' Int64 or a column made all missing
            continue
        if (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and any(
                other.get(field.name) != str(dtype) for other in metas):
            continue
        fixed[field.name] = dtype
    return fixed


def _as_numpy_values(table):
    """``table`` with its missing numbers as NaN and missing dates as NaT's bits, not nulls, so
    that pandas can use the mapped file's numbers and dates as they are (no copy; read-only
    arrays, which pandas copies before any change)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for field, column in zip(table.schema, table.columns):
        if column.null_count and pa.types.is_floating(field.type):
            column = pc.fill_null(column, float("nan"))
        elif column.null_count and pa.types.is_timestamp(field.type) and field.type.tz is None:
            column = pc.fill_null(column.cast(pa.int64()), np.iinfo(np.int64).min).cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _object_column(table, name: str) -> bool:
    """Whether the frame ``table`` was made from had an ``object`` column ``name`` (Arrow keeps
    its values as text or null, so it would come back as ``str``)."""
    meta = table.schema.pandas_metadata or {}
    return any(column.get("name") == name and column.get("numpy_type") == "object"
               for column in meta.get("columns", []))


# --------------------------------------------------------------------------------------------
# Running the partitions and combining them


MergeJob = tuple[list[pd.DataFrame | Path], list[str], Path, tuple[str, str | None] | None]
"""One dataset to merge (:func:`merge_stored`): its partitions' datasets (files of the store,
or frames sent back by a remote cluster), its ``sort``, the path of the merged file, and for
an SDTM dataset of a raw export its domain and --SEQ variable (its ``trace.csv`` rows)."""


def merge_stored(parts: list[pd.DataFrame | Path], sort: list[str], path: Path,
                 trace: tuple[str, str | None] | None = None) -> Merged:
    """:func:`merge_files` of a dataset's partitions; their files in the store are then
    removed (so the store holds each dataset about once while the merges go on)."""
    merged = merge_files(parts, sort, path, trace)
    for part in parts:
        if isinstance(part, Path):
            part.unlink()
    return merged


Merging = Callable[[list[MergeJob], Callable[[int, Merged], None]], list[Merged]]
"""How the subject-level datasets are merged: ``merging(jobs, done)`` merges every job and
returns the results in the jobs' order, calling ``done(k, merged)`` as soon as job ``k`` is
merged (e.g. to start writing its XPT file while the others are merged)."""


def _merge_here(jobs: list[MergeJob], done: Callable[[int, Merged], None]) -> list[Merged]:
    merged = []
    for k, job in enumerate(jobs):
        merged.append(merge_stored(*job))
        done(k, merged[-1])
    return merged


Received = Callable[[PartitionResult], PartitionResult]
"""What the run does with a partition's result as soon as it arrives (:func:`build_partitions`:
its datasets written into the store when they came back as frames)."""


def built_here() -> dict:
    """``run.json``'s ``partitions_built`` of a run built in its own process (one partition,
    ``--jobs 1`` or plug-ins)."""
    return {"in": "the run's process"}


@dataclass(frozen=True)
class Runner:
    """How the partitions are built: ``run`` builds the jobs, handing each result to
    ``received`` as it arrives; ``local``: the builders see this machine's files (the store),
    so inputs and datasets travel as files, not pickled; ``merge`` merges the datasets
    (results in the jobs' order); ``close`` lets go of the runner's processes; ``start(n)``
    starts ``n`` of them ahead of the jobs (they get ready while the caller does other work)."""

    run: Callable[[list[PartitionJob], Received], list[PartitionResult]]
    local: bool = True
    merge: Merging = _merge_here
    close: Callable[[], None] = lambda: None
    start: Callable[[int], None] = lambda processes: None
    built_in: dict = field(default_factory=built_here)
    """Where the partitions are built, as ``run.json`` says (``partitions_built``)."""


def in_process(specs: Specs) -> Runner:
    """Run the partitions one after another in this process (one job, or plugins loaded here)."""
    return Runner(lambda jobs, received: [received(build_partition(job, specs)) for job in jobs])


def use_jemalloc() -> None:
    """Make pyarrow allocate from jemalloc where the installed pyarrow has it (Linux wheels).

    pyarrow's default, mimalloc, hands freed memory back to the system at once; every new
    multi-megabyte column then costs a page fault per 4 KiB page. At 100,000 subjects that was
    a third of the run's CPU time (docs/performance.md). jemalloc keeps freed pages for reuse.
    Elsewhere the default pool stays. Process-wide, so set by the command for its process and
    by each process a run starts (the pool's, the XPT writer's), not by the library."""
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # this pyarrow was built without jemalloc
        pass


_POOL_SPECS: dict[str, Specs] = {}
"""In a process of :func:`process_pool`: the run's specs, by their folder, loaded when the
process started (every partition it builds uses them; a pool lives for one run only)."""


def _start_pool_process(specs_dir: str) -> None:
    """A pool process's start: jemalloc, the modules that build a partition, the run's specs."""
    use_jemalloc()
    from ..spec.model import load_specs
    from . import adam, sdtm  # noqa: F401  (pandas and the derivations: imported once, now)

    try:
        _POOL_SPECS[str(Path(specs_dir))] = load_specs(Path(specs_dir))
    except Exception:  # noqa: BLE001  (a failed initializer breaks the whole pool with no
        pass           # message: the partition that loads them again reports the problem)


def _started() -> None:
    """A task that does nothing: sent to start a pool's processes (:attr:`Runner.start`)."""


def process_pool(workers: int, specs_dir: Path) -> Runner:
    """Run the partitions in a pool of ``workers`` fresh processes (``spawn``: a fork is unsafe
    once pyarrow's threads run); results come back in partition order. The same processes
    then merge the datasets (each dataset's merge in one process, the largest started first),
    so the merges of the large datasets run side by side, outside the run's process. Each
    process imports the derivations and loads the specs in ``specs_dir`` as it starts
    (:func:`_start_pool_process`; about 1.5 s of CPU), once for all the partitions it builds;
    :attr:`Runner.start` starts them before the partitions are ready, e.g. while the export is
    read."""
    from concurrent.futures import ProcessPoolExecutor

    pool: list[ProcessPoolExecutor] = []

    def executor() -> ProcessPoolExecutor:
        if not pool:
            import multiprocessing

            # a process is started for each task that finds none free, up to ``workers``: as
            # many as there are partitions (or merges) when they are fewer
            pool.append(ProcessPoolExecutor(max_workers=max(1, workers),
                                            mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_pool_process,
                                            initargs=(str(specs_dir),)))
        return pool[0]

    def start(processes: int) -> None:
        running = executor()
        for _ in range(min(processes, workers)):
            running.submit(_started)

    def run(jobs: list[PartitionJob], received: Received) -> list[PartitionResult]:
        return [received(result) for result in executor().map(build_partition, jobs)]

    def merge(jobs: list[MergeJob], done: Callable[[int, Merged], None]) -> list[Merged]:
        from concurrent.futures import as_completed

        size = [sum(part.stat().st_size for part in job[0]) for job in jobs]
        futures = {executor().submit(merge_stored, *jobs[k]): k
                   for k in sorted(range(len(jobs)), key=lambda k: -size[k])}
        for future in as_completed(futures):
            done(futures[future], future.result())
        return [future.result() for future in sorted(futures, key=futures.get)]

    def close() -> None:
        if pool:
            pool.pop().shutdown(cancel_futures=True)

    return Runner(run, merge=merge, close=close, start=start,
                  built_in={"in": "a process pool", "jobs": workers})


DASK_IN_FLIGHT = 2
"""Partitions sent to a Dask cluster at a time, per worker: the client holds the inputs and
results of these only (each input read from the store just before it is sent, each result
written into the store as it arrives), whatever the number of partitions."""


SCHEDULER_EXPECTED = "a Dask scheduler's address, e.g. tcp://host:8786, or local"


def check_scheduler(scheduler: str) -> None:
    """Refuse, before any input is read, a ``--scheduler`` that cannot be used: Dask not
    installed, or not an address Dask connects to (a known scheme; a host and a port where the
    scheme needs them). Whether the scheduler answers is found when the partitions are sent."""
    from ..errors import InputError

    try:
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import backends
    except ImportError:
        raise InputError("needs Dask: pip install itp-adam[dask]", option="--scheduler",
                         expected="the dask[distributed] package installed") from None
    if scheduler == "local":
        return
    try:
        scheme, where = parse_address(scheduler)
        if scheme not in backends:
            raise ValueError(f"unknown scheme {scheme}://")
        if scheme != "inproc":
            parse_host_port(where)
    except ValueError as exc:
        raise InputError(f"is not an address Dask can connect to ({exc})", option="--scheduler",
                         value=scheduler, expected=SCHEDULER_EXPECTED) from None


def dask_cluster(scheduler: str) -> Runner:
    """Run the partitions on a Dask cluster: ``scheduler`` is its address (``tcp://host:8786``)
    or ``local`` (a local cluster of one worker per core). Needs ``pip install itp-adam[dask]``.
    On a local cluster the workers share the store; on another address the partitions' inputs
    and datasets travel to and from the workers, which read and write no files: the client
    sends :data:`DASK_IN_FLIGHT` partitions per worker at a time (:func:`_on_cluster`)."""
    def run(jobs: list[PartitionJob], received: Received) -> list[PartitionResult]:
        check_scheduler(scheduler)
        from dask.distributed import Client, LocalCluster

        if scheduler == "local":
            with LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                              processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                return _on_cluster(client, jobs, received, local=True)
        try:
            client = Client(scheduler)
        except OSError as exc:  # no scheduler answers there (a TimeoutError after Dask's wait)
            from ..errors import InputError

            raise InputError(f"cannot be reached ({exc})", option="--scheduler",
                             value=scheduler, expected="a running Dask scheduler that this "
                             "machine can reach at that address") from None
        with client:
            return _on_cluster(client, jobs, received, local=False)
    return Runner(run, local=scheduler == "local", built_in={"in": "Dask", "scheduler": scheduler})


def _on_cluster(client, jobs: list[PartitionJob], received: Received, local: bool
                ) -> list[PartitionResult]:
    """Build ``jobs`` on the cluster of ``client``, at most :data:`DASK_IN_FLIGHT` per worker
    at a time, each result handed to ``received`` as it arrives. For a cluster that does not
    see this machine's files (``local`` False), a job's input files are read here just before
    it is sent."""
    from dask.distributed import as_completed

    def sent(job: PartitionJob):
        if not local:
            job = replace(job, frames={name: load(part) for name, part in job.frames.items()},
                          store=None)
        return client.submit(build_partition, job, pure=False)

    waiting = iter(jobs)
    workers = max(1, len(client.nthreads()))  # the workers there now
    running = as_completed([sent(job) for job in itertools.islice(waiting, workers * DASK_IN_FLIGHT)])
    results = []
    for future in running:
        results.append(received(future.result()))
        future.release()
        job = next(waiting, None)
        if job is not None:
            running.add(sent(job))
    return results


OnMerged = Callable[[str, str, "Merged"], None]
"""Told ``(group, name, merged)`` as soon as a subject-level dataset is merged in the store
(``group`` "sdtm" or "adam"; its :class:`Merged` files, define's facts included), e.g. to
write its XPT file while the other datasets are merged (``pipeline._XptFiles``)."""


def build_partitions(specs: Specs, jobs: list[PartitionJob], runner: Runner, store_dir: Path,
                     inputs: dict[str, pd.DataFrame] | None = None, shared_forms: Sequence[str] = (),
                     on_merged: OnMerged | None = None, compression: str | None = STORE_COMPRESSION
                     ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], Any]:
    """Build every partition with ``runner`` and combine them (:func:`combine`) in
    ``store_dir`` (a new or empty folder, e.g. inside the run's staging folder; the combined
    datasets are memory-mapped from it, so it must outlive them). With a local runner each
    job's input is written there first and let go, and the partitions write their datasets
    there. Every partition is built, also when one fails: the input errors of all of them
    are raised together (:class:`InputErrors`), with, for an export in pieces (jobs with a
    ``piece``), every subject found in two pieces. ``on_merged``: told of each dataset merged
    in the store (:data:`OnMerged`; its files another process can map). ``compression``: of
    the partitions' datasets in the store (:func:`store_compression`)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        job.compression = compression
    if runner.local:
        written: dict[int, Path] = {}  # a reference form is the same frame in every job: once
        for job in jobs:
            job.store = store_dir
            for name, frame in list(job.frames.items()):
                if isinstance(frame, pd.DataFrame):
                    if id(frame) not in written:
                        written[id(frame)] = store(frame, input_file(store_dir, name, job.number))
                    job.frames[name] = written[id(frame)]
    try:
        level = plan(specs).subject_level
        results = sorted(runner.run(jobs, lambda result: _into_store(result, store_dir, level,
                                                                      compression)),
                         key=lambda r: r.number)
        for job in jobs:  # built: their inputs in the store are let go (at 1,000,000 subjects
            for part in job.frames.values():  # the input as read, about 10 GB of disk)
                if isinstance(part, Path):
                    with contextlib.suppress(OSError):  # e.g. Windows: a file still mapped
                        part.unlink(missing_ok=True)
            job.frames.clear()
        failed = [r.error for r in results if r.error is not None]
        pieces = {job.number: job.piece for job in jobs if job.piece is not None}
        if pieces:
            failed += subjects_in_two_pieces(results, pieces, jobs[0].source.parent)
        if failed:
            raise _all_errors(failed)
        return combine(specs, results, store_dir, inputs, shared_forms, runner.merge, on_merged)
    finally:
        runner.close()


def _into_store(result: PartitionResult, store_dir: Path, level: frozenset[str],
                compression: str | None) -> PartitionResult:
    """``result`` with its subject-level datasets that came back as frames (from a remote
    cluster) written into ``store_dir`` as the builders write them (``compression``: the
    run's, :func:`build_partitions`), so the run holds the datasets of the partitions in
    flight only; datasets already stored are left as they are."""
    for group in ("sdtm", "adam"):
        datasets = getattr(result, group)
        for name in [n for n, d in datasets.items() if n in level and isinstance(d, pd.DataFrame)]:
            datasets[name] = store(datasets[name],
                                   store_dir / f"{group}-{name}-{result.number:05d}.arrow",
                                   compression)
    return result


def _all_errors(errors: Sequence[Exception]) -> Exception:
    """The partitions' input errors as one, each problem once (a problem of a reference form
    is found by every partition) and in order of file and row, whatever the partitions;
    ``count`` adds up the problems found."""
    from ..errors import InputErrors

    listed: dict[str, Exception] = {}
    count = 0
    for error in errors:
        found = error.errors if isinstance(error, InputErrors) else [error]
        count += error.count if isinstance(error, InputErrors) else 1
        for one in found:
            if str(one) in listed:
                count -= 1  # the same problem again
            listed.setdefault(str(one), one)
    if len(listed) == 1 and count == 1:
        return next(iter(listed.values()))
    ordered = sorted(listed.values(), key=lambda e: (str(getattr(e, "file", None) or ""),
                                                     getattr(e, "row", None) or 0))
    return InputErrors(ordered, count)


def _combined_facts(parts: Sequence[dict]) -> dict:
    """define's facts of a dataset's variables from those of its partitions (``|``)."""
    return {name: functools.reduce(operator.or_, [facts[name] for facts in parts])
            for name in parts[0]}


def combine(specs: Specs, results: Sequence[PartitionResult], store_dir: Path,
            inputs: dict[str, pd.DataFrame] | None = None, shared_forms: Sequence[str] = (),
            merging: Merging = _merge_here, on_merged: OnMerged | None = None
            ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], Any]:
    """The partitions' datasets as one run's: (SDTM, ADaM, their issues as one log); see the
    module docstring. Subject-level datasets are put together by :func:`merge_files` into
    ``store_dir``. ``inputs``: the input SDTM of a study that starts from SDTM, whole (it is
    the run's SDTM; the partitions send back only their ADaM). ``shared_forms``: the forms
    every partition has whole (:func:`reference_forms`): their own issues once. ``merging``
    merges the subject-level datasets (:data:`Merging`; e.g. in a process pool), in one
    call; ``on_merged`` is told of each as soon as it is merged (:data:`OnMerged`)."""
    from .. import issues
    from ..spec.evaluate import build_dataset
    from .sdtm import trace_seq

    found = plan(specs)
    first = results[0]
    rebuilt = set(found.from_subjects)
    shared = set(shared_forms)
    sdtm: dict[str, pd.DataFrame] = dict(inputs) if inputs is not None else {}
    adam: dict[str, pd.DataFrame] = {}
    jobs: list[MergeJob] = []
    into: list[tuple[str, dict, str]] = []
    for group, out, specs_of in (("sdtm", sdtm, specs.sdtm), ("adam", adam, specs.adam)):
        for name in list(getattr(first, group)):
            if name in found.subject_level:  # each partition's copy let go once put together
                parts = [getattr(r, group).pop(name) for r in results]
                trace = (name, trace_seq(specs_of[name])) if group == "sdtm" else None
                jobs.append((parts, list(specs_of[name].sort), store_dir / f"{group}-{name}.arrow",
                             trace))
                into.append((group, out, name))
                out[name] = None  # its place in the datasets' order, filled below
            else:
                out[name] = load(getattr(first, group)[name])
    facts = [_combined_facts([r.facts[name] for r in results]) for _, _, name in into]

    def done(k: int, made: Merged) -> None:
        if on_merged is not None:
            on_merged(into[k][0], into[k][2], replace(made, facts=facts[k]))

    for (_, out, name), made in zip(into, merging(jobs, done) if jobs else []):
        out[name] = merged_frame(made)
    with issues.collect() as log:
        for r in results:  # a rebuilt dataset's issues come from its rebuild; a shared form's once
            later = r.number > first.number
            log.extend(r.issues, lambda frame, later=later: ~frame["dataset"].isin(rebuilt)
                       & ~(frame["form"].isin(shared) & later))
        for name in found.from_subjects:  # study-level datasets made from subject data: again
            out = sdtm if name in specs.sdtm else adam
            out[name] = build_dataset((specs.sdtm if name in specs.sdtm else specs.adam)[name],
                                      forms={}, built={**sdtm, **adam}, study=specs.study,
                                      codelists=specs.codelists)
    return sdtm, adam, log
