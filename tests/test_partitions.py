"""Partitions by subject (stages/partitions.py): SDTM and ADaM built per partition of subjects
and put together are the one-partition build, whatever the number of partitions and wherever
they run (this process, a pool of two processes, a local Dask cluster with two workers).

The one-partition build is the shipped study of conftest.py (``shipped``: built once for the
suite); the partitioned builds are compared with it dataset by dataset (pandas'
``assert_frame_equal``: values, types, order) and issue by issue. The shipped study has
subjects with records in only some forms (no AE, no CM), reference forms without subjects
(the AE coding file) and a study-level dataset made from subject data (TS's first informed
consent), so the rules of ``combine`` are all exercised; a command-line run in 7 partitions,
two processes at a time, is compared with the default run file by file. Bad input found in a late partition ends
the run with the usual message and no output.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from itp_adam.cli import main
from itp_adam.io.define import dataset_facts
from itp_adam.io.raw import read_export
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.spec.model import load_specs
from itp_adam.stages.pipeline import leftover_staging
from itp_adam.stages.partitions import (PartitionJob, build_partitions, in_process, partition_of,
                                        plan, plan_problems, reference_forms, split_frames)

SPECS = default_specs_dir()


def default_specs_layout():
    return load_specs(SPECS).layout


@pytest.fixture(scope="module")
def export(shipped):
    return read_export(shipped_study_dir(), shipped.specs.layout)


def _jobs(shipped, export, count: int) -> list[PartitionJob]:
    parts = split_frames(export.forms, shipped.specs.layout.subject_column, count)
    return [PartitionJob(number=k, specs_dir=SPECS, frames=frames, from_sdtm=False,
                         source=export.source, files=export.files, notes=export.notes if k == 0 else [])
            for k, frames in enumerate(parts)]


def _assert_same_build(shipped, built) -> None:
    sdtm, adam, log = built
    assert list(sdtm) == list(shipped.sdtm) and list(adam) == list(shipped.adam)
    for name in shipped.sdtm:
        pd.testing.assert_frame_equal(sdtm[name], shipped.sdtm[name], obj=name)
    for name in shipped.adam:
        pd.testing.assert_frame_equal(adam[name], shipped.adam[name], obj=name)
    pd.testing.assert_frame_equal(log.frame(), shipped.issues, obj="data issues")


# --------------------------------------------------------------------------------------------
# The split


def test_a_subject_is_in_one_partition_whatever_the_form():
    ids = pd.Series([f"S{i:05d}" for i in range(10_000)])
    where = partition_of(ids, 7)
    assert where.min() == 0 and where.max() == 6
    counts = np.bincount(where, minlength=7)
    assert (abs(counts - 10_000 / 7) < 0.1 * 10_000 / 7).all()  # about even
    shuffled = ids.sample(frac=1, random_state=3)
    again = pd.Series(partition_of(shuffled, 7), index=shuffled.index).sort_index()
    assert (again.to_numpy() == where).all()  # by the id alone, not its position
    assert (partition_of(ids, 1) == 0).all()
    assert partition_of(pd.Series(["", None, "S1"], dtype="object"), 5)[:2].tolist() == \
        partition_of(pd.Series(["", ""]), 5).tolist()  # missing: as blank


def test_split_frames_keeps_every_row_once_and_subjects_together(shipped, export):
    subject = shipped.specs.layout.subject_column
    parts = split_frames(export.forms, subject, 3)
    shared = reference_forms(export.forms, subject)
    assert shared and all(subject not in export.forms[name] for name in shared)
    home: dict[str, int] = {}
    for name, frame in export.forms.items():
        if name in shared:  # reference data: whole in every partition
            assert all(part[name] is frame for part in parts)
            continue
        rows = sorted(r for part in parts for r in part[name]["_ROW"].tolist())
        assert rows == sorted(frame["_ROW"].tolist())  # each row once
        for k, part in enumerate(parts):
            for who in part[name][subject].tolist():
                assert home.setdefault(who, k) == k, (name, who)  # every form: the same partition


def test_partition_of_hashes_each_id_as_its_text():
    # a second way: every row's id as text (missing as blank) hashed one by one, as the first
    # version did; ids repeat, are missing in several ways and are not all text
    from itp_adam.stages.partitions import HASH_KEY

    ids = pd.Series(["S3", None, "S1", "S3", "", np.nan, 17, "17", "S1", pd.NA] * 50, dtype=object)
    text = np.array(["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                     else str(v) for v in ids], dtype=object)
    for count in (2, 7, 1000):
        expected = (pd.util.hash_array(text, hash_key=HASH_KEY) % np.uint64(count)).astype(np.int64)
        assert partition_of(ids, count).tolist() == expected.tolist()
    assert partition_of(ids, 7)[6] == partition_of(ids, 7)[7]  # 17 and "17": one subject id


@pytest.mark.parametrize("rows", [7, 1 << 20], ids=["stretches of 7 rows", "one stretch"])
def test_split_frames_into_the_store_writes_each_partitions_rows(shipped, export, tmp_path,
                                                                 monkeypatch, rows):
    from itp_adam.stages import partitions
    from itp_adam.stages.partitions import load

    monkeypatch.setattr(partitions, "SPLIT_ROWS", rows)
    subject = shipped.specs.layout.subject_column
    forms = dict(export.forms)
    first = forms[shipped.specs.layout.subject_form]
    # an object column missing in the first stretch only, and a form without rows
    forms["EXTRA"] = pd.DataFrame({subject: first[subject], "OBJ": pd.Series(
        [None] * 10 + ["x"] * (len(first) - 10), dtype=object)})
    forms["EMPTY"] = first.iloc[:0]
    in_memory = split_frames(forms, subject, 3)
    stored = split_frames(forms, subject, 3, store_in=tmp_path / "store")
    (tmp_path / "whole").mkdir()
    for k, (mine, theirs) in enumerate(zip(stored, in_memory)):
        assert sorted(mine) == sorted(theirs)
        for name, part in theirs.items():
            if subject not in forms[name]:  # reference data: the frame, stored once later
                assert mine[name] is part
                continue
            assert mine[name].parent == tmp_path / "store"
            # what the store gives of the in-memory part written whole (an object column
            # of text comes back as str)
            whole = load(partitions.store(part, tmp_path / "whole" / f"{name}-{k}.arrow"))
            pd.testing.assert_frame_equal(load(mine[name]), whole, check_exact=True)
            if name in export.forms:
                pd.testing.assert_frame_equal(whole, part.reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("split", [["--partitions", "2", "--jobs", "1"], []],
                         ids=["2 partitions", "1 partition by default"])
def test_a_large_export_read_into_the_store_writes_the_same_files(shipped_out, tmp_path,
                                                                   monkeypatch, split):
    # every export counts as large: its forms are read into the store (io.raw.Spill) and
    # split into it, built in 2 partitions in this process, or (167 subjects) built whole
    # from the forms mapped from the store; the files are the default run's, the store is gone
    import json

    from itp_adam.stages import partitions

    monkeypatch.setattr(partitions, "READ_INTO_STORE", 0)
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--raw", str(shipped_study_dir()), *split,
                 "--quiet"]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["partitions"] == (2 if split else 1)
    assert info["partitions_built"] == {"in": "the run's process"}  # --jobs 1, or one partition
    assert ("split" in info["timings_seconds"]) == bool(split)
    mine, default = _files(out), _files(shipped_out)
    assert sorted(mine) == sorted(default)
    assert [name for name in default if mine[name] != default[name]] == []
    assert not (out / ".partitions").exists() and leftover_staging(out) == []  # the store


def test_a_store_that_cannot_be_removed_is_never_published(shipped_out, tmp_path, monkeypatch):
    # e.g. on Windows a file still memory-mapped cannot be removed: the store's removal leaves
    # it whole here. The output published is still the default run's files and nothing else;
    # what is left is beside --out, where the next run names it (leftover_staging)
    from itp_adam.stages import partitions, pipeline

    rmtree = shutil.rmtree

    def held(path, *args, **kwargs):
        if Path(path).name.endswith(".partitions"):
            return None  # as rmtree(ignore_errors=True) when every file is held
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(partitions, "READ_INTO_STORE", 0)
    monkeypatch.setattr(pipeline.shutil, "rmtree", held)
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--raw", str(shipped_study_dir()), "--partitions", "2",
                 "--jobs", "1", "--quiet"]) == 0
    monkeypatch.undo()
    mine, default = _files(out), _files(shipped_out)
    assert sorted(mine) == sorted(default)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in shipped_out.iterdir())
    left = [path for path, _ in leftover_staging(out)]
    assert len(left) == 1 and left[0].name.startswith(".out.tmp-") \
        and left[0].name.endswith(".partitions")


def test_a_large_export_starts_the_pool_while_it_is_read(shipped_out, tmp_path, monkeypatch):
    # every export counts as large: the pool's two processes are started before the export is
    # read, the same pool builds and merges the partitions, and the files are the default run's
    from dataclasses import replace

    import itp_adam.io.raw as raw_module
    from itp_adam.stages import partitions

    monkeypatch.setattr(partitions, "READ_INTO_STORE", 0)
    events = []
    pool_of = partitions.process_pool

    def process_pool(workers, specs_dir):
        runner = pool_of(workers, specs_dir)
        events.append(("pool", workers))
        start, run = runner.start, runner.run
        return replace(runner, start=lambda n: events.append(("start", n)) or start(n),
                       run=lambda jobs, got: events.append(("build", len(jobs))) or run(jobs, got))

    read = raw_module.read_export
    monkeypatch.setattr(partitions, "process_pool", process_pool)
    monkeypatch.setattr(raw_module, "read_export", lambda *a, **k: events.append(("read",)) or read(*a, **k))
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--raw", str(shipped_study_dir()), "--partitions", "3",
                 "--jobs", "2", "--quiet"]) == 0
    assert events == [("pool", 2), ("start", 2), ("read",), ("build", 3)]
    mine, default = _files(out), _files(shipped_out)
    assert sorted(mine) == sorted(default)
    assert [name for name in default if mine[name] != default[name]] == []


def test_a_pool_process_builds_with_the_specs_it_loaded_at_its_start(shipped, export, monkeypatch):
    from itp_adam.spec import model
    from itp_adam.stages import partitions

    def not_again(folder):
        raise AssertionError(f"specs loaded again from {folder}")

    monkeypatch.setitem(partitions._POOL_SPECS, str(SPECS), shipped.specs)
    monkeypatch.setattr(model, "load_specs", not_again)
    job = _jobs(shipped, export, 1)[0]
    assert partitions.build_partition(job).error is None
    monkeypatch.delitem(partitions._POOL_SPECS, str(SPECS))  # another folder's: loaded (refused here)
    with pytest.raises(AssertionError, match="specs loaded again"):
        partitions.build_partition(_jobs(shipped, export, 1)[0])


def test_a_pool_process_starts_even_when_its_specs_cannot_be_loaded(tmp_path, monkeypatch):
    # a failed initializer would break the pool with no message; the specs are then loaded
    # (and their problem reported, file and line) by the partition itself
    from itp_adam.stages import partitions

    monkeypatch.setattr(partitions, "_POOL_SPECS", {})
    partitions._start_pool_process(str(tmp_path / "no-specs"))
    assert partitions._POOL_SPECS == {}
    partitions._start_pool_process(str(SPECS))
    assert list(partitions._POOL_SPECS) == [str(SPECS)]


def test_a_large_export_with_bad_input_read_into_the_store_leaves_nothing(tmp_path, monkeypatch,
                                                                          capsys):
    from itp_adam.stages import partitions

    monkeypatch.setattr(partitions, "READ_INTO_STORE", 0)
    raw = tmp_path / "raw"
    shutil.copytree(shipped_study_dir(), raw)
    lab = pd.read_csv(raw / "LAB.csv", dtype=str, keep_default_na=False)
    lab.loc[7, "LBORNRHI"] = "high"
    lab.to_csv(raw / "LAB.csv", index=False)
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--raw", str(raw), "--quiet"]) == 2
    assert f"LAB.csv, row 9, column LBORNRHI: invalid value: found 'high'" in capsys.readouterr().err
    # no output and no staging folder; the errors' list beside (docs/bad-input.md)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.errors.csv", "raw"]


def test_merge_puts_partitions_in_one_build_order_a_stretch_at_a_time(tmp_path, monkeypatch):
    from itp_adam.stages import partitions

    monkeypatch.setattr(partitions, "MERGE_ROWS", 2)  # stretches of 2 records cut subjects

    def part(ids, seq, val, obj):
        n = len(ids)
        return pd.DataFrame({"STUDYID": pd.Series(["ST"] * n, dtype="str"),
                             "USUBJID": pd.Series(ids, dtype="str"),
                             "SEQ": pd.Series(seq, dtype="float64"),
                             "VAL": pd.Series(val, dtype="str"),
                             "OBJ": pd.Series(obj, dtype=object),
                             "N": pd.Series([int(s) * 10 for s in seq], dtype="int64"),
                             "DT": pd.Series([None if v is None else f"2024-01-0{int(s)}"
                                              for s, v in zip(seq, val)], dtype="datetime64[us]"),
                             "FL": pd.Series([v is None for v in val], dtype=bool)})

    # each partition sorted by STUDYID, USUBJID, SEQ (missing USUBJID last), as a build gives
    # them; one partition empty, one with a column all missing
    parts = [part(["S2", "S2", "S5", None], [1, 2, 1, 1], ["x1", "x2", "x3", "x4"], ["a", None, "b", None]),
             part(["S1", "S4", "S4"], [1, 1, 2], ["y1", "y2", "y3"], ["c", None, None]),
             part([], [], [], []),
             part(["S3"], [1], [None], [None])]
    # one stored compressed in batches of two records (a slice starts inside one), one not
    monkeypatch.setattr(partitions, "STORE_ROWS", 2)
    stored = [parts[0], partitions.store(parts[1], tmp_path / "p1.arrow", "zstd"), parts[2],
              partitions.store(parts[3], tmp_path / "p3.arrow")]
    assert pa.ipc.open_file(tmp_path / "p1.arrow").num_record_batches == 2
    merged = partitions.merged_frame(partitions.merge_files(stored, ["STUDYID", "USUBJID", "SEQ"],
                                                            tmp_path / "merged.arrow"))
    assert merged["VAL"].fillna("-").tolist() == ["y1", "x1", "x2", "-", "y2", "y3", "x3", "x4"]
    # the same as all records in one frame, stably sorted by the sort columns up to USUBJID
    whole = pd.concat(parts, ignore_index=True)
    expected = whole.sort_values(["STUDYID", "USUBJID"], kind="stable", na_position="last")
    pd.testing.assert_frame_equal(merged, expected.reset_index(drop=True))
    assert merged["DT"].isna().tolist() == [False, False, False, True, False, False, False, False]
    # numbers, dates and flags are read-only views of the files the merge wrote (one file per
    # column: an Arrow file of 4 stretches would be copied whole into memory by pandas)
    for name in ("SEQ", "N", "DT", "FL"):
        values = merged[name].to_numpy()
        assert not values.flags.writeable and not values.flags.owndata, name
        while values is not None and not isinstance(values, np.memmap):
            values = values.base
        assert values is not None and Path(values.filename).suffix == ".npy", name


def test_the_study_can_be_split_and_ts_is_made_again(shipped):
    found = plan(shipped.specs)
    assert found.from_subjects == ("TS",)  # SSTDTC: the first informed consent of all subjects
    assert {"TA", "TE", "TV", "TI"} <= found.study_level and "DM" in found.subject_level
    assert plan_problems(shipped.specs) == []


# --------------------------------------------------------------------------------------------
# Builds equal the one-partition build


@pytest.mark.parametrize("compression", ["zstd", None], ids=["store compressed", "not compressed"])
def test_partitions_built_here_equal_one_partition(shipped, export, tmp_path, monkeypatch,
                                                    compression):
    from itp_adam.stages import partitions

    jobs = _jobs(shipped, export, 2)
    assert len({len(j.frames["DM"]) for j in jobs}) > 1  # unequal partitions
    shared = reference_forms(export.forms, shipped.specs.layout.subject_column)
    merged: dict = {}
    stored = []  # (file name, how, file size, bytes of its values) of each partition's dataset
    real_store = partitions.store

    def store(frame, path, how=None):
        real_store(frame, path, how)
        if path.name.startswith(("sdtm-", "adam-")):
            values = pa.ipc.open_file(path).read_all().nbytes  # decompressed when read
            stored.append((path.name, how, path.stat().st_size, values))
        return path

    def on_merged(group, name, made):  # told once per merged dataset, with its group
        assert name not in merged and name in getattr(shipped, group)
        merged[name] = made

    monkeypatch.setattr(partitions, "store", store)
    _assert_same_build(shipped, build_partitions(shipped.specs, jobs, in_process(shipped.specs),
                                                 tmp_path / "store", shared_forms=shared,
                                                 on_merged=on_merged, compression=compression))
    # each partition's subject-level datasets were stored as asked
    assert {name for name, *_ in stored} == {
        f"{group}-{name}-{k:05d}.arrow" for k in range(2) for group in ("sdtm", "adam")
        for name in getattr(shipped, group) if name in plan(shipped.specs).subject_level}
    assert {how for _, how, *_ in stored} == {compression}
    size, values = sum(s[2] for s in stored), sum(s[3] for s in stored)
    assert size < values / 4 if compression else size >= values
    # the partitions' inputs, written into the store for the builders, are gone once built
    assert not list((tmp_path / "store").glob("input-*"))
    # define's facts of each merged dataset, combined from the partitions', are those of the
    # whole dataset of the one-partition build
    assert set(merged) == set(plan(shipped.specs).subject_level) & {*shipped.sdtm, *shipped.adam}
    for name, made in merged.items():
        spec = shipped.specs.sdtm.get(name) or shipped.specs.adam[name]
        whole = shipped.sdtm[name] if name in shipped.sdtm else shipped.adam[name]
        assert made.facts == dataset_facts(spec, whole), name


def test_define_facts_of_7_partitions_combine_into_those_of_the_whole(shipped, export):
    from itp_adam.stages.partitions import _combined_facts, build_partition

    built = [build_partition(job, shipped.specs) for job in _jobs(shipped, export, 7)]
    # partitions differ, e.g. in the longest AEDECOD and the decimals of ADLB.PCHG ...
    differ = {(name, var) for name, facts in built[0].facts.items() for var in facts
              if len({str(b.facts[name][var]) for b in built}) > 1}
    assert {("AE", "AEDECOD"), ("ADLB", "PCHG")} <= differ
    # ... and their combination is what the whole dataset gives
    for name in built[0].facts:
        spec = shipped.specs.sdtm.get(name) or shipped.specs.adam[name]
        whole = shipped.sdtm[name] if name in shipped.sdtm else shipped.adam[name]
        assert _combined_facts([b.facts[name] for b in built]) == dataset_facts(spec, whole), name


def test_partitions_on_a_local_dask_cluster_equal_one_partition(shipped, export, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    shared = reference_forms(export.forms, shipped.specs.layout.subject_column)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        from itp_adam.stages.partitions import dask_cluster

        built = build_partitions(shipped.specs, _jobs(shipped, export, 2),
                                 dask_cluster(cluster.scheduler_address), tmp_path / "store",
                                 shared_forms=shared)
    _assert_same_build(shipped, built)


def test_a_remote_cluster_gets_a_few_partitions_at_a_time(shipped, export, tmp_path, monkeypatch):
    """On a cluster that does not see this machine's files, the client reads a partition's
    input from the store just before sending it, sends DASK_IN_FLIGHT per worker at a time and
    writes each result's datasets into the store as it arrives: the same build as one
    partition, and never more than the window of partitions held by the client."""
    distributed = pytest.importorskip("dask.distributed")
    from itp_adam.stages import partitions

    shared = reference_forms(export.forms, shipped.specs.layout.subject_column)
    jobs = _jobs(shipped, export, 5)
    (tmp_path / "inputs").mkdir()
    for job in jobs:  # the inputs in the store, as a run's split leaves them
        job.frames = {name: frame if name in shared else partitions.store(
            frame, partitions.input_file(tmp_path / "inputs", name, job.number))
            for name, frame in job.frames.items()}
    events = []
    real_load, real_into_store = partitions.load, partitions._into_store

    def load(part):
        if isinstance(part, Path):
            events.append(("sent", part.name.rsplit("-", 1)[-1]))
        return real_load(part)

    def into_store(result, store_dir, level, compression):
        events.append(("received", result.number))
        stored = real_into_store(result, store_dir, level, compression)
        assert all(isinstance(stored.sdtm[name], Path) for name in stored.sdtm if name in level)
        return stored

    monkeypatch.setattr(partitions, "DASK_IN_FLIGHT", 1)
    monkeypatch.setattr(partitions, "load", load)
    monkeypatch.setattr(partitions, "_into_store", into_store)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        built = build_partitions(shipped.specs, jobs, partitions.dask_cluster(
            cluster.scheduler_address), tmp_path / "store", shared_forms=shared)
    _assert_same_build(shipped, built)
    sends = [k for k, (what, _) in enumerate(events) if what == "sent"]
    received = [k for k, (what, _) in enumerate(events) if what == "received"]
    assert len(received) == 5
    # each job's input files read once, just before it was sent: two jobs (2 workers x 1)
    # before the first result, then one more after each result
    jobs_sent = list(dict.fromkeys(events[k][1] for k in sends))
    assert jobs_sent == [f"{k:05d}.arrow" for k in range(5)]
    for count_received, position in enumerate(received, start=1):
        sent_before = {events[k][1] for k in sends if k < position}
        assert len(sent_before) == min(5, 2 + count_received - 1)


_XPT_TIME = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")


def _files(out: Path) -> dict[str, bytes]:
    """Every output but run.json (timings), the XPT headers' timestamps, the tables' run date,
    the guides' date and the define files' creation time blanked (a workbook's parts unzipped
    first): two runs compared may be either side of midnight."""
    import zipfile

    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "run.json":
            data = path.read_bytes()
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as book:
                    data = b"".join(name.encode() + book.read(name) for name in book.namelist())
            data = _XPT_TIME.sub(b"", data)
            data = re.sub(rb"run \d{4}-\d\d-\d\d \d\d:\d\d UTC", b"", data)  # tables' footers
            data = re.sub(rb"(made by itp-adam \S+ on )\d{4}-\d\d-\d\d", rb"\1", data)  # guides
            files[str(path.relative_to(out))] = _STAMP.sub(b"", data)  # define's creation time
    return files


def test_a_run_in_7_partitions_in_a_pool_writes_the_same_files(shipped_out, tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--partitions", "7", "--jobs", "2", "--quiet"]) == 0
    import json

    info = json.loads((out / "run.json").read_text())
    assert info["partitions"] == 7
    assert info["partitions_built"] == {"in": "a process pool", "jobs": 2}
    mine, default = _files(out), _files(shipped_out)
    assert sorted(mine) == sorted(default)
    assert [name for name in default if mine[name] != default[name]] == []


def test_a_run_on_a_remote_dask_cluster_writes_the_same_files(shipped_out, tmp_path):
    """``--scheduler ADDRESS`` (a local cluster given by its address, so the inputs and datasets
    travel as to a real cluster): the input split into the store, sent a few partitions at a
    time, the results stored as they arrive; the same files as the default run."""
    distributed = pytest.importorskip("dask.distributed")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main(["run", "--out", str(out), "--partitions", "3", "--scheduler",
                     cluster.scheduler_address, "--quiet"]) == 0
        import json

        assert json.loads((out / "run.json").read_text())["partitions_built"] == {
            "in": "Dask", "scheduler": cluster.scheduler_address}
    mine, default = _files(out), _files(shipped_out)
    assert sorted(mine) == sorted(default)
    assert [name for name in default if mine[name] != default[name]] == []


def test_the_pilot_in_3_partitions_writes_the_same_files(pilot_out, tmp_path):
    # the second study starts from SDTM and its ADaM adds records (derived parameters such as
    # absolute basophils from WBC and BASOLE, post-baseline minimum and maximum records): built
    # in 3 partitions in this process, then put together, every output is the same
    out = tmp_path / "pilot"
    assert main(["run", "--study", "cdiscpilot01", "--out", str(out), "--partitions", "3",
                 "--jobs", "1", "--quiet"]) == 0
    mine, default = _files(out), _files(pilot_out)
    assert sorted(mine) == sorted(default)
    assert [name for name in default if mine[name] != default[name]] == []



@pytest.mark.parametrize("split", [[], ["--partitions", "2", "--jobs", "1"]])
def test_the_pilot_read_into_the_store_writes_the_same_files(pilot_out, tmp_path, monkeypatch,
                                                             split):
    # every SDTM input counts as large: its domains are read a stretch of 100 records at a
    # time into the store (io.sdtm: numbers and text mapped back), then built in one
    # partition from the mapped frames or split into two; every output is the default run's
    from itp_adam.io import sdtm
    from itp_adam.stages import partitions

    monkeypatch.setattr(partitions, "READ_INTO_STORE", 0)
    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 100)
    spilled = []
    frame = sdtm._Stretches.frame
    monkeypatch.setattr(sdtm._Stretches, "frame", lambda self: spilled.append(self) or frame(self))
    out = tmp_path / "pilot"
    assert main(["run", "--study", "cdiscpilot01", "--out", str(out), *split, "--quiet"]) == 0
    assert len(spilled) == 6  # DM, EX, DS, AE, LB, VS
    mine, default = _files(out), _files(pilot_out)
    assert sorted(mine) == sorted(default)
    assert [name for name in default if mine[name] != default[name]] == []
    assert not (out / ".partitions").exists() and leftover_staging(out) == []  # the store



def test_the_store_is_compressed_for_a_large_input_or_one_of_unknown_size():
    from itp_adam.stages.partitions import COMPRESS_STORE_ABOVE, input_bytes, store_compression

    assert store_compression(0) is None and store_compression(COMPRESS_STORE_ABOVE) is None
    assert store_compression(COMPRESS_STORE_ABOVE + 1) == "zstd"
    assert store_compression(None) == "zstd"  # an export in pieces
    frames = {"A": pd.DataFrame({"X": np.arange(10, dtype="int64")}),  # 80 bytes
              "B": pd.DataFrame({"Y": np.zeros(3)}, index=[7, 8, 9])}  # 24; the index not counted
    assert input_bytes(frames) == 104
    frames["A"]["T"] = pd.Series(["ab", "c"] * 5, dtype="str")  # 15 characters and their offsets
    assert 104 + 15 < input_bytes(frames) < 104 + 15 + 11 * 8 + 64


def test_default_partitions_by_subjects_and_by_input_size():
    from itp_adam.stages.partitions import default_partitions

    MiB = 1 << 20
    assert default_partitions(254, 27 * MiB) == 1  # the shipped pilot: one, in the run's process
    assert default_partitions(25_000, 256 * MiB) == 1  # both limits reached, not passed
    assert default_partitions(25_001, 100 * MiB) == 2  # by subjects: ceil(25,001 / 25,000)
    assert default_partitions(100_000, 644 * MiB) == 4  # the shipped study's 100,000: subjects
    assert default_partitions(10_160, 1079 * MiB) == 5  # the pilot's 10,160: ceil(1079 / 256)
    assert default_partitions(3, 10_000 * MiB) == 3  # never more than one per subject
    assert default_partitions(0, 0) == 1


def _in_pieces(raw: Path, target: Path, subject: str, count: int) -> dict[tuple[str, str, int], int]:
    """Write the export ``raw`` as ``count`` pieces (sub-folders p0, p1, ...: each subject's rows
    of every form in one piece, by the subject hash; a form without the subject column whole
    in every piece). Returns (piece, form, row in the piece's file) -> row in ``raw``'s file."""
    rows = {}
    for path in sorted(raw.glob("*.csv")):
        form = pd.read_csv(path, dtype=str, keep_default_na=False)
        form["_LINE"] = range(2, len(form) + 2)  # the row number the reader gives (header: 1)
        where = (partition_of(form[subject], count) if subject in form
                 else np.full(len(form), -1))
        for k in range(count):
            piece = form[(where == k) | (where == -1)]
            (target / f"p{k}").mkdir(parents=True, exist_ok=True)
            piece.drop(columns="_LINE").to_csv(target / f"p{k}" / path.name, index=False, quoting=1)
            rows.update({(f"p{k}", path.stem, n): line
                         for n, line in enumerate(piece["_LINE"], start=2)})
    return rows


def test_an_export_in_pieces_is_built_piece_by_piece_with_the_same_datasets(shipped_out, tmp_path):
    # the shipped export written as 3 pieces: each read and checked by its own partition; the
    # datasets, define, results and tables are the default run's, and every SDTM record and
    # data issue traces to its piece's file and row, which is the same raw row
    subject = default_specs_layout().subject_column
    rows = _in_pieces(shipped_study_dir(), tmp_path / "export", subject, 3)
    out = tmp_path / "out"
    assert main(["run", "--raw", str(tmp_path / "export"), "--out", str(out), "--jobs", "1",
                 "--quiet"]) == 0
    import json

    info = json.loads((out / "run.json").read_text())
    assert info["partitions"] == 3 and len(info["inputs"]) == 3 * 9
    mine, default = _files(out), _files(shipped_out)
    assert sorted(mine) == sorted(default)
    traced = ("sdtm/trace.csv", "data-issues.csv", "sdtm/csdrg.md", "sdtm/csdrg.html")
    assert [n for n in default if mine[n] != default[n] and n not in traced] == []
    # the cSDRG counts the data issues per piece and form: added up per form, the default's
    def counts(guide: Path) -> dict[tuple[str, str, str], int]:
        found: dict[tuple[str, str, str], int] = {}
        for line in guide.read_text().splitlines():
            m = re.fullmatch(r"\| (error|warning|info) \| (?:p\d/)?(\w+) \| (.+) \| (\d+) \|", line)
            if m:
                key = m.group(1, 2, 3)
                found[key] = found.get(key, 0) + int(m.group(4))
        return found

    assert counts(out / "sdtm/csdrg.md") == counts(shipped_out / "sdtm/csdrg.md") != {}

    def back(frame: pd.DataFrame, form: str, row: str) -> pd.DataFrame:
        """Piece, form and row -> the form and row of the export in one folder."""
        pieces = frame[form].str.split("/", n=1).str[0]
        names = frame[form].str.split("/", n=1).str[1]
        lines = [rows.get((p, f, int(r)), -1) if r else r for p, f, r in zip(pieces, names, frame[row])]
        return frame.assign(**{form: names.astype("str"),
                               row: pd.Series([str(x) for x in lines], index=frame.index, dtype="str")})

    trace = pd.read_csv(out / "sdtm/trace.csv", dtype=str, keep_default_na=False)
    assert trace["FORM"].str.match(r"p[012]/").all()
    expected = pd.read_csv(shipped_out / "sdtm/trace.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back(trace, "FORM", "ROW"), expected)
    found = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
    expected = pd.read_csv(shipped_out / "data-issues.csv", dtype=str, keep_default_na=False)
    same = found["value"].str.extract(r"^same as row (\d+)$")[0]  # a duplicate's first row
    piece, name = found["form"].str.split("/", n=1).str[0], found["form"].str.split("/", n=1).str[1]
    found["value"] = [v if pd.isna(r) else f"same as row {rows[(p, f, int(r))]}"
                      for v, r, p, f in zip(found["value"], same, piece, name)]
    found = back(found, "form", "row")  # the coding file's issues: once per piece that has it
    found = found.drop_duplicates().sort_values(list(found.columns)).reset_index(drop=True)
    expected = expected.sort_values(list(expected.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(found, expected)


def test_a_subject_in_two_pieces_is_refused(tmp_path, capsys):
    subject = default_specs_layout().subject_column
    _in_pieces(shipped_study_dir(), tmp_path / "export", subject, 2)
    ae = pd.read_csv(tmp_path / "export/p0/AE.csv", dtype=str, keep_default_na=False)
    moved = ae[subject].iloc[0]  # one of this subject's AE rows goes to the other piece
    other = pd.read_csv(tmp_path / "export/p1/AE.csv", dtype=str, keep_default_na=False)
    pd.concat([other, ae.iloc[:1]]).to_csv(tmp_path / "export/p1/AE.csv", index=False, quoting=1)
    ae.iloc[1:].to_csv(tmp_path / "export/p0/AE.csv", index=False, quoting=1)
    out = tmp_path / "out"
    code = main(["run", "--raw", str(tmp_path / "export"), "--out", str(out), "--jobs", "1",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"subject {moved} has rows in the pieces p0 and p1" in err, err
    assert not out.exists()


def test_bad_input_in_every_partition_is_reported_in_one_pass(shipped, export, tmp_path, capsys):
    # a second DM row, with another age, for a subject of each of 2 partitions: DM has one row
    # per subject, so each partition's preparation refuses the export; both problems are
    # reported, after every partition was built, and nothing is written
    subject, form = shipped.specs.layout.subject_column, shipped.specs.layout.subject_form
    ids = export.forms[form][subject]
    where = partition_of(ids, 2)
    bad = [ids[where == 0].iloc[0], ids[where == 1].iloc[0]]
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in shipped_study_dir().iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
    dm = pd.read_csv(raw / f"{form}.csv", dtype=str, keep_default_na=False)
    twice = dm.loc[dm[subject].isin(bad)].assign(AGE="99")
    pd.concat([dm, twice]).to_csv(raw / f"{form}.csv", index=False, quoting=1)
    out = tmp_path / "out"
    code = main(["run", "--raw", str(raw), "--out", str(out), "--partitions", "2", "--jobs", "1",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{form}.csv" in err and "one row per" in err, err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    listed = pd.read_csv(tmp_path / "out.errors.csv", dtype=str, keep_default_na=False)
    rows = len(dm) + 2, len(dm) + 3  # the added rows (1-based, after the header line)
    assert listed["row"].tolist() == [str(r) for r in rows]  # in row order, one per subject
    assert listed["value"].tolist() == dm.loc[dm[subject].isin(bad), subject].tolist()


def test_input_errors_travel_between_processes_whole():
    import pickle

    from itp_adam.errors import InputError, InputErrors
    from itp_adam.spec.evaluate import BuildError

    one = InputError("has two rows", file="dm.csv", row=4, column="SUBJID", value="S1",
                     expected="one row per subject")
    both = pickle.loads(pickle.dumps(InputErrors([one, BuildError("no such column", file="ae.yaml")], 3)))
    assert type(both) is InputErrors and both.count == 3
    assert [type(e).__name__ for e in both.errors] == ["InputError", "BuildError"]
    first = both.errors[0]
    assert (first.file, first.row, first.column, first.value, first.message) == (
        "dm.csv", 4, "SUBJID", "S1", "has two rows")
    assert str(both) == "dm.csv, row 4, column SUBJID: has two rows: found 'S1'; expected one row per subject"


def test_errors_of_partitions_are_listed_once_and_counted():
    from itp_adam.errors import InputError, InputErrors
    from itp_adam.stages.partitions import _all_errors

    coding = InputError("unknown code", file="coding.csv", row=2)  # a reference form's: in both
    a, b = InputError("two rows", file="dm.csv", row=5), InputError("two rows", file="dm.csv", row=9)
    merged = _all_errors([InputErrors([coding, a], 2), InputErrors([coding, b], 4)])
    assert [str(e) for e in merged.errors] == [str(coding), str(a), str(b)]  # by file, row
    assert merged.count == 5  # 2 + 4 problems found, the coding file's counted once
    assert _all_errors([coding, coding]) is coding


def test_summary_issues_of_two_partitions_are_one_entry():
    from itp_adam.issues import IssueLog

    def records(subjects: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"USUBJID": subjects, "DOMAIN": "LB", "PARAMU": "mmol/L"})

    rule = "HGB in unit 'mmol/L': not graded ({count} records with a value)"
    whole, first, second = IssueLog(), IssueLog(), IssueLog()
    whole.add_summary(records(["S3", "S1", "S2", "S1"]), rule=rule, severity="warning",
                      column="PARAMU", values="mmol/L")
    first.add_summary(records(["S3"]), rule=rule, severity="warning", column="PARAMU", values="mmol/L")
    second.add_summary(records(["S1", "S2", "S1"]), rule=rule, severity="warning", column="PARAMU",
                       values="mmol/L")
    merged = IssueLog()
    merged.extend(first)
    merged.extend(second)
    expected = ["warning", "", "S1", "PARAMU", "mmol/L",
                "HGB in unit 'mmol/L': not graded (4 records with a value)", "LB"]
    for log in (whole, merged):
        frame = log.frame()
        assert len(frame) == 1 and log.counts()["warning"] == 1
        assert frame.drop(columns="row").iloc[0].tolist() == expected


def test_a_study_that_cannot_be_split_says_why(shipped, tmp_path, capsys):
    import dataclasses

    specs = shipped.specs
    unsorted = dataclasses.replace(specs, sdtm={
        **specs.sdtm, "AE": specs.sdtm["AE"].model_copy(update={"sort": ["STUDYID", "AESEQ"]})})
    assert plan_problems(unsorted) == ["AE is not sorted by USUBJID (sort: STUDYID, AESEQ)"]
    # asked for partitions of a study that cannot have them: exit 2 before any data is built
    specs_dir = tmp_path / "specs"
    import shutil

    shutil.copytree(SPECS, specs_dir)
    ae = specs_dir / "sdtm" / "ae.yaml"
    ae.write_text(ae.read_text().replace("sort: [STUDYID, USUBJID, AESEQ]", "sort: [STUDYID, AESEQ]"))
    out = tmp_path / "out"
    assert main(["run", "--specs", str(specs_dir), "--raw", str(shipped_study_dir()), "--out", str(out),
                 "--partitions", "2", "--quiet"]) == 2
    assert "cannot be built per partition of subjects: AE is not sorted by USUBJID" in capsys.readouterr().err
    assert not out.exists()


def test_more_partitions_than_subjects_are_refused(tmp_path, capsys):
    # the shipped study has 167 subjects: 168 partitions would leave at least one empty (each a
    # process's work for nothing); refused with the count, nothing written
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--partitions", "168", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--partitions asks for more partitions than the input has subjects (167): found " \
        "'168'; expected at most 167" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_scheduler_for_a_run_in_one_partition_is_said_not_used(tmp_path, capsys):
    # a small study is one partition by default: built in the run's process, and the command
    # says that the address given (here one nothing listens at) was not used
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]) == 0
    said = capsys.readouterr().out
    assert "one partition: built in this process (--scheduler applies to a run in partitions: " \
        "--partitions N)" in said
    import json

    info = json.loads((out / "run.json").read_text())
    assert info["partitions"] == 1 and info["partitions_built"] == {"in": "the run's process"}


@pytest.mark.parametrize("address, why", [
    ("bogus", "missing port number in address 'bogus'"),
    ("http://host:8786", "unknown scheme http://"),
    ("tcp://host:port", "invalid literal for int() with base 10: 'port'")])
def test_a_scheduler_address_dask_cannot_use_is_refused_before_the_input_is_read(
        tmp_path, capsys, address, why):
    # 'bogus' went through the whole read and build to a ValueError traceback (exit 1) in
    # Dask's client; now exit 2 first thing: the missing --raw is not even looked at
    out = tmp_path / "out"
    assert main(["run", "--raw", str(tmp_path / "no-export"), "--out", str(out), "--scheduler",
                 address, "--partitions", "2", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"itp-adam: error: --scheduler is not an address Dask can connect to ({why}): found "
        f"'{address}'; expected a Dask scheduler's address, e.g. tcp://host:8786, or local\n")
    assert list(tmp_path.iterdir()) == []


def test_a_scheduler_without_dask_installed_is_refused_first(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed.comm.addressing", None)  # import fails
    assert main(["run", "--raw", str(tmp_path / "no-export"), "--out", str(tmp_path / "out"),
                 "--scheduler", "local"]) == 2
    assert capsys.readouterr().err == ("itp-adam: error: --scheduler needs Dask: pip install "
                                       "itp-adam[dask]; expected the dask[distributed] package "
                                       "installed\n")


def test_a_scheduler_nobody_answers_at_is_a_message_naming_the_option(tmp_path, capsys):
    # a TimeoutError (an OSError) came out as a file's error: "itp-adam: error: Timed out ..."
    import dask

    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(["run", "--out", str(out), "--scheduler", "tcp://127.0.0.1:9",
                     "--partitions", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("itp-adam: error: --scheduler cannot be reached (Timed out trying to "
                          "connect to tcp://127.0.0.1:9 after 1 s): found 'tcp://127.0.0.1:9'; "
                          "expected a running Dask scheduler that this machine can reach at "
                          "that address\n"), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kernel", ["copy_file_range", "refused", "missing"])
def test_append_file_puts_the_rows_between_what_was_written(tmp_path, monkeypatch, kernel):
    """trace.csv's rows written by the merges are appended by the kernel where it can
    (``os.copy_file_range``), else through Python: the same bytes, in place, either way."""
    import os

    from itp_adam.io.csvfile import append_file

    rows = bytes(range(256)) * 40_000 + b"last row\n"  # about 10 MB, every byte value
    (tmp_path / "rows.csv").write_bytes(rows)
    if kernel == "refused":
        def refuse(*args, **kwargs):
            raise OSError(22, "Invalid argument")
        monkeypatch.setattr(os, "copy_file_range", refuse)
    elif kernel == "missing" and hasattr(os, "copy_file_range"):
        monkeypatch.delattr(os, "copy_file_range")
    with open(tmp_path / "out.csv", "wb") as out:
        out.write(b"header\n")  # buffered, not yet on disk
        append_file(tmp_path / "rows.csv", out)
        out.write(b"after\n")
        append_file(tmp_path / "rows.csv", out)
    assert (tmp_path / "out.csv").read_bytes() == b"header\n" + rows + b"after\n" + rows
