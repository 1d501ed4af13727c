"""Partitions by subject: SDTM and ADaM built per group of subjects, on both cores.

Almost every rule of a study is per subject (mapping, --SEQ, baseline, windows, flags, ADSL
merges), so a run can split the subjects into **partitions** by a stable hash of the subject
id (:func:`partition_of`: a subject's records from every form land in the same one), build
SDTM and ADaM of each partition with the ordinary stages (:func:`build_partition`, in a process
pool or on a Dask cluster), and combine them (:func:`combine`):

- a **subject-level** dataset (one with USUBJID) is the partitions' records put together and
  sorted again by the dataset's ``sort`` (a stable sort: records that tie are one subject's,
  so they keep the order their partition gave them, which is the one-partition order);
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

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..spec.model import Specs, _dataset_references, build_order

SUBJECT = "USUBJID"
HASH_KEY = "itp-adam-subject"
"""The key of the subject hash (16 bytes): the same partition for a subject on every machine."""
SUBJECTS_PER_PARTITION = 25_000
"""Default partition size on a Dask cluster (``--scheduler`` without ``--partitions``); on one
machine a run splits only when ``--partitions`` asks for it (partitions do not pay there yet:
docs/partitions.md)."""


def partition_of(ids: pd.Series | np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 .. partitions - 1) of each subject id, from a stable 64-bit hash of
    its text; a missing id is partition 0."""
    values = pd.Series(ids).astype("string").fillna("").astype(object).to_numpy()
    if partitions <= 1 or len(values) == 0:
        return np.zeros(len(values), dtype=np.int64)
    hashed = pd.util.hash_array(values, hash_key=HASH_KEY, categorize=True)
    return (hashed % np.uint64(partitions)).astype(np.int64)


def default_partitions(subjects: int) -> int:
    """How many partitions a run of this many subjects makes on a cluster by default."""
    return max(1, -(-subjects // SUBJECTS_PER_PARTITION))


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
                 subjects_from: str | None = None) -> list[dict[str, pd.DataFrame]]:
    """Each frame's rows by the partition of their subject (``subject`` column); a frame
    without that column (reference data such as a coding file) goes whole into every
    partition (its own issues are kept from the first only: :func:`reference_forms`)."""
    parts: list[dict[str, pd.DataFrame]] = [{} for _ in range(partitions)]
    for name, frame in frames.items():
        if subject not in frame.columns:
            for k in range(partitions):
                parts[k][name] = frame
            continue
        where = partition_of(frame[subject], partitions)
        order = np.argsort(where, kind="stable")
        edges = np.searchsorted(where[order], np.arange(partitions + 1))
        for k in range(partitions):
            parts[k][name] = frame.take(order[edges[k]:edges[k + 1]])
    return parts


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


@dataclass
class PartitionResult:
    number: int
    sdtm: dict[str, pd.DataFrame]
    adam: dict[str, pd.DataFrame]
    issues: Any  # the partition's IssueLog


def build_partition(job: PartitionJob, specs: Specs | None = None) -> PartitionResult:
    """SDTM and ADaM of one partition's subjects, with the data issues found (the ordinary
    stages: ``prepare_forms``, ``build_sdtm``, ``build_adam``). ``specs``: the loaded specs
    (in-process); a worker loads them from ``job.specs_dir``."""
    from .. import issues
    from ..io.raw import RawExport
    from ..spec.model import load_specs
    from .adam import build_adam
    from .sdtm import build_sdtm, prepare_forms

    specs = specs if specs is not None else load_specs(job.specs_dir)
    with issues.collect() as log:
        if job.from_sdtm:  # the input SDTM: the caller has it whole, only ADaM comes back
            sdtm = dict(job.frames)
        else:
            export = RawExport(source=job.source or job.specs_dir, kind=job.kind, forms=job.frames,
                               files=job.files or {}, notes=job.notes or [])
            forms = prepare_forms(export, specs, require_subjects=False)
            sdtm = build_sdtm(specs, forms)
        adam = build_adam(specs, sdtm) if specs.adam else {}
    return PartitionResult(job.number, {} if job.from_sdtm else sdtm, adam, log)


# --------------------------------------------------------------------------------------------
# Running the partitions and combining them


Runner = Callable[[list[PartitionJob]], list[PartitionResult]]


def in_process(specs: Specs) -> Runner:
    """Run the partitions one after another in this process (one job, or plugins loaded here)."""
    return lambda jobs: [build_partition(job, specs) for job in jobs]


def process_pool(workers: int) -> Runner:
    """Run the partitions in a pool of ``workers`` fresh processes (``spawn``: a fork is unsafe
    once pyarrow's threads run); results come back in partition order."""
    def run(jobs: list[PartitionJob]) -> list[PartitionResult]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
            return list(pool.map(build_partition, jobs))
    return run


def dask_cluster(scheduler: str) -> Runner:
    """Run the partitions on a Dask cluster: ``scheduler`` is its address (``tcp://host:8786``)
    or ``local`` (a local cluster of one worker per core). Needs ``pip install itp-adam[dask]``;
    the workers need the package and read nothing themselves (the partitions are sent)."""
    def run(jobs: list[PartitionJob]) -> list[PartitionResult]:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            from ..errors import InputError

            raise InputError("--scheduler needs Dask: pip install itp-adam[dask]",
                             expected="the dask[distributed] package installed") from None
        if scheduler == "local":
            with LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                              processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                return client.gather(client.map(build_partition, jobs, pure=False))
        with Client(scheduler) as client:
            return client.gather(client.map(build_partition, jobs, pure=False))
    return run


def build_partitions(specs: Specs, jobs: list[PartitionJob], runner: Runner,
                     inputs: dict[str, pd.DataFrame] | None = None, shared_forms: Sequence[str] = ()
                     ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], Any]:
    """Build every partition with ``runner`` and combine them (:func:`combine`). The jobs'
    input frames are let go (emptied) once the partitions are built."""
    results = sorted(runner(jobs), key=lambda r: r.number)
    for job in jobs:
        job.frames.clear()
    return combine(specs, results, inputs, shared_forms)


def combine(specs: Specs, results: Sequence[PartitionResult],
            inputs: dict[str, pd.DataFrame] | None = None, shared_forms: Sequence[str] = ()
            ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], Any]:
    """The partitions' datasets as one run's: (SDTM, ADaM, their issues as one log); see the
    module docstring. ``inputs``: the input SDTM of a study that starts from SDTM, whole (it is
    the run's SDTM; the partitions send back only their ADaM). ``shared_forms``: the forms
    every partition has whole (:func:`reference_forms`): their own issues once."""
    from .. import issues
    from ..derive.columns import sort_order
    from ..spec.evaluate import build_dataset

    found = plan(specs)
    first = results[0]
    rebuilt = set(found.from_subjects)
    shared = set(shared_forms)

    def put_together(name: str, frames: list[pd.DataFrame], sort: list[str]) -> pd.DataFrame:
        """The partitions' records in the dataset's sort order. Each partition's frame is sorted
        already and a subject is in one partition, so a stable sort by the sort columns up to
        USUBJID is enough (the rest of the order is within a subject, kept as it is)."""
        if len(frames) == 1:
            return frames[0]
        whole = pd.concat(frames, ignore_index=True)
        prefix = sort[: sort.index(SUBJECT) + 1]  # plan_problems: USUBJID is a sort column
        order = sort_order([(whole[c], True) for c in prefix], len(whole))
        return whole.take(order).reset_index(drop=True)

    sdtm: dict[str, pd.DataFrame] = dict(inputs) if inputs is not None else {}
    adam: dict[str, pd.DataFrame] = {}
    for group, out, specs_of in (("sdtm", sdtm, specs.sdtm), ("adam", adam, specs.adam)):
        for name in list(getattr(first, group)):
            if name in found.subject_level:  # each partition's copy let go once put together
                out[name] = put_together(name, [getattr(r, group).pop(name) for r in results],
                                         specs_of[name].sort)
            else:
                out[name] = getattr(first, group)[name]
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
