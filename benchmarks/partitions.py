"""Benchmark of partitions by subject: `itp-adam run --partitions P --jobs J` on simulated
studies, against the one-partition run of the same export.

Usage (from the repository root; docs/partitions.md, docs/performance.md):

    python benchmarks/partitions.py                          # 10,000 subjects; 1x1, 2x1, 2x2, 4x2
    python benchmarks/partitions.py --sizes 10000 100000     # more sizes
    python benchmarks/partitions.py --configs 1:1 2:2        # PARTITIONS:JOBS pairs
    python benchmarks/partitions.py --sizes 100000 --configs 1:1 auto:2
                                  # auto: no --partitions (the run's default)
    python benchmarks/partitions.py --configs 1:1 4:2:pieces # the export written as 4 pieces
    python benchmarks/partitions.py --sizes 100000 1000000 --configs per25000:2:simulated
                                  # simulated in pieces of 25,000 subjects (4, then 40 pieces)
    python benchmarks/partitions.py --sizes 1000000 --configs per25000:2:simulated per25000:2:joined
                                  # and the same export joined into one folder
    python benchmarks/partitions.py --sizes 30000 --configs 1:1:pilot auto:2:pilot 2:2:pilot
                                  # the CDISC pilot's SDTM copied to 30,000 subjects

Each run is a fresh subprocess (`python -m itp_adam run --raw EXPORT ...`): its wall time, CPU
time and peak resident memory (of the run's own process, all of it and its anonymous part,
which leaves out the mapped pages of the partitions' store; and the anonymous memory of it
and every process it started together, at the peak of their sum), and the stage timings of
run.json. Every run's outputs are compared with the first configuration's: the datasets and
results (the XPT files, results CSV files; XPT header times blanked: the digest the docs quote)
and every other file but run.json (define, guides, tables and figures, trace.csv,
data-issues.csv, the ARD's Parquet and ARS JSON; creation times and the tables' run date blanked, workbooks unzipped, as
tests/test_partitions.py does); they must be equal.
The exports are benchmarks/run.py's (cached under benchmarks/out/); a `:pieces` configuration
runs the same export written as that many pieces (docs/partitions.md, "An export in pieces";
cached too), whose trace.csv and data-issues.csv name the pieces, so only its datasets and
results are compared. A `:simulated` configuration runs an export simulated in that many pieces
(`itp-adam simulate --pieces`, one piece in memory at a time: the way to a study larger than
the machine's memory); its data differ from the one-folder export's, so it is compared only
with other runs of the same simulated export. A `:joined` configuration runs that simulated
export joined into one folder (each form's pieces one after another, a form without the subject
column once; cached), read by the run itself (into its store when large: docs/partitions.md,
"Memory") and split by the subject hash; it is compared with the `:simulated` runs of the same
size. A `:pilot` configuration runs the second study (`--study cdiscpilot01 --sdtm DIR`) on
the CDISC pilot's SDTM copied until it holds that many subjects (`_pilot`, cached; each copy's
subject ids suffixed), with `--partitions PARTITIONS` (`auto`: none, the run's default): `--partitions 1` reads the
input in memory, any other a large input into the store (docs/partitions.md, "Memory"); it is
compared with the other `:pilot` runs of the same size. The disk used at the peak (the output, its
staging folder and the partitions' store) is measured too. Results are printed as a table and
saved as benchmarks/out/partitions.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ANONYMOUS_PEAK, DISK_PEAK, WORK, _export, _run_child  # noqa: E402  (the same exports and runner)

GiB = 1024**3
_XPT_TIME = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def _digest(out: Path, paths: Iterable[Path], blocks: Callable[[Path, BinaryIO], Iterator[bytes]]
            ) -> tuple[str, dict[str, str]]:
    """One digest of the files ``paths`` of the run's folder ``out`` (each one's name, then its
    bytes as compared: ``blocks(path, open_file)``), and each file's own digest (so a run that
    differs names the files)."""
    digest, files = hashlib.sha256(), {}
    for path in paths:
        name = path.relative_to(out).as_posix()
        digest.update(name.encode())
        own = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in blocks(path, fh):
                digest.update(block)
                own.update(block)
        files[name] = own.hexdigest()
    return digest.hexdigest(), files


def _is_data(path: Path, out: Path) -> bool:
    """Whether ``path`` is one of the run's datasets (XPT) or results CSV files."""
    return path.is_file() and (path.suffix == ".xpt" or (
        path.suffix == ".csv" and path.relative_to(out).parts[0] == "results"))


def _data_digest(out: Path) -> tuple[str, dict[str, str]]:
    """The digest of the run's datasets and results CSV files (XPT header times blanked: they
    are in the library and member headers, the first 2,000 bytes). Files are read in 16 MiB
    blocks, so an XPT file of many GB is never held."""
    def blocks(path: Path, fh: BinaryIO) -> Iterator[bytes]:
        head = fh.read(2000)
        yield _XPT_TIME.sub(b"", head) if path.suffix == ".xpt" else head
        yield from iter(lambda: fh.read(16 << 20), b"")

    return _digest(out, sorted(p for p in out.rglob("*") if _is_data(p, out)), blocks)


_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")
_RUN_DATE = re.compile(rb"run \d{4}-\d\d-\d\d \d\d:\d\d UTC")
_WHOLE = 256 << 20  # a file up to this size is read whole, to blank its times


def _documents_digest(out: Path) -> tuple[str, dict[str, str]]:
    """The digest of every other file of the run (define, reviewer guides, tables and
    figures, trace.csv, data-issues.csv, the ARD's Parquet and ARS JSON; run.json aside), as
    tests/test_partitions.py compares them: a workbook's parts unzipped, the tables' run date
    and the define files' creation time blanked. A file larger than ``_WHOLE`` (trace.csv of
    a large run) is read in blocks as it is: it holds no time."""
    import zipfile

    def blocks(path: Path, fh: BinaryIO) -> Iterator[bytes]:
        if path.stat().st_size > _WHOLE:
            yield from iter(lambda: fh.read(16 << 20), b"")
            return
        data = fh.read()
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                data = b"".join(part.encode() + book.read(part) for part in book.namelist())
        yield _STAMP.sub(b"", _RUN_DATE.sub(b"", data))

    return _digest(out, sorted(p for p in out.rglob("*") if p.is_file() and p.relative_to(out).as_posix() != "run.json"
                               and not _is_data(p, out)), blocks)


def _pieces(export: Path, count: int) -> Path:
    """``export`` written as ``count`` pieces by the subject hash (cached): each form's rows
    of a piece's subjects, a form without the subject column whole in every piece. Each form
    is streamed in blocks of rows (pyarrow, every column as text, quoted when written), so a
    1,000,000-subject export is split without being held."""
    import shutil

    import numpy as np
    import pyarrow as pa
    from pyarrow import csv

    from itp_adam.paths import default_specs_dir
    from itp_adam.spec.model import load_specs
    from itp_adam.stages.partitions import partition_of

    folder = export.with_name(f"{export.name}-pieces{count}")
    if (folder / "done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    subject = load_specs(default_specs_dir()).layout.subject_column
    names = [f"piece-{k:03d}" for k in range(count)]
    for name in names:
        (folder / name).mkdir(parents=True)
    for path in sorted(export.glob("*.csv")):
        header = csv.open_csv(path).schema.names
        reader = csv.open_csv(path, read_options=csv.ReadOptions(block_size=64 << 20),
                              convert_options=csv.ConvertOptions(
                                  column_types={c: pa.string() for c in header},
                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
        schema = pa.schema([(c, pa.string()) for c in header])
        writers = [csv.CSVWriter(str(folder / name / path.name), schema) for name in names]
        try:
            for batch in reader:
                if subject not in header:
                    for writer in writers:
                        writer.write_batch(batch)
                    continue
                where = partition_of(batch.column(subject).to_pandas(), count)
                for k, writer in enumerate(writers):
                    rows = batch.filter(pa.array(where == k))
                    if rows.num_rows:
                        writer.write_batch(rows)
        finally:
            for writer in writers:
                writer.close()
    (folder / "done").write_text("")
    return folder


def _joined(export: Path) -> Path:
    """The pieces of ``export`` (an export simulated in pieces) joined into one folder
    (cached): each form's pieces one after another, the header once; a form without the
    subject column (the same in every piece) once. Copied a block of bytes at a time."""
    from pyarrow import csv

    from itp_adam.paths import default_specs_dir
    from itp_adam.spec.model import load_specs

    folder = export.with_name(f"{export.name}-joined")
    if (folder / "done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    subject = load_specs(default_specs_dir()).layout.subject_column
    pieces = sorted(p for p in export.iterdir() if p.is_dir() and p.name.startswith("piece-"))
    for path in sorted(pieces[0].glob("*.csv")):
        once = subject not in csv.open_csv(path).schema.names
        with open(folder / path.name, "wb") as out:
            for k, piece in enumerate(pieces[:1] if once else pieces):
                with open(piece / path.name, "rb") as source:
                    if k:
                        source.readline()  # the header, written once
                    shutil.copyfileobj(source, out, 16 << 20)
    (folder / "done").write_text("")
    return folder


PILOT_SUBJECTS = 254  # subjects in the CDISC pilot's SDTM (DM)


def _pilot(subjects: int) -> Path:
    """The CDISC pilot's input SDTM (the shipped ``sdtm.zip``) copied until it holds at least
    ``subjects`` subjects (cached): copy ``c`` of every declared domain, its USUBJID and SUBJID
    suffixed ``-Cnnnn``, written as XPT v5 one copy at a time (``io.xpt.XptWriter``, the
    widths of the longest copy), so a study larger than memory can be made. The copies'
    records of a domain follow one another, so each domain stays sorted by its keys."""
    from itp_adam.io.xpt import XptWriter, prepare_xpt, xpt_layout
    from itp_adam.paths import shipped_input, study_dir
    from itp_adam.spec.model import load_specs
    from itp_adam.stages.pipeline import read_sdtm_input

    copies = -(-subjects // PILOT_SUBJECTS)
    folder = WORK / f"pilot-{copies * PILOT_SUBJECTS}"
    if (folder / "done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    specs_dir = study_dir("cdiscpilot01")
    domains = load_specs(specs_dir).study.inputs.sdtm.domains
    data, _ = read_sdtm_input(shipped_input(specs_dir, "sdtm"), domains)

    def copy(frame, c: int):
        frame = frame.copy()
        for name in ("USUBJID", "SUBJID"):
            if name in frame.columns:
                frame[name] = frame[name].where(frame[name].eq(""), frame[name] + f"-C{c:04d}")
        return frame

    for domain, frame in data.datasets.items():
        labels = {name: var.label for name, var in data.variables[domain].items()}
        layout = xpt_layout(copy(frame, copies - 1))
        writer = XptWriter(folder / f"{domain.lower()}.xpt")
        for c in range(copies):
            writer.add(prepare_xpt(copy(frame, c), domain, data.labels.get(domain, ""), labels,
                                   layout=layout.stretch(c == copies - 1)))
        writer.close()
    (folder / "done").write_text("")
    return folder


def measure(subjects: int, partitions: int, jobs: int, how: str = "") -> dict:
    """One run: ``how`` "" (the export, split by --partitions), "pieces" (the export written
    as pieces), "simulated" (an export simulated in pieces) or "joined" (that export joined
    into one folder)."""
    if how == "pilot":  # the second study, from SDTM: --study cdiscpilot01 --sdtm DIR
        return _measure(subjects, _pilot(subjects), ["--study", "cdiscpilot01", "--sdtm"],
                        partitions, jobs, how, ["--partitions", str(partitions)] if partitions else [])
    export = _export(subjects, partitions if how in ("simulated", "joined") else 1)
    if how == "pieces":
        export = _pieces(export, partitions)
    elif how == "joined":
        export = _joined(export)
    split = ([] if (how and how != "joined") or not partitions
             else ["--partitions", str(partitions)])
    return _measure(subjects, export, ["--raw"], partitions, jobs, how, split)


def _measure(subjects: int, export: Path, given: list[str], partitions: int, jobs: int, how: str,
             split: list[str]) -> dict:
    out = WORK / f"partitions-{subjects}-{partitions}x{jobs}{'-' + how if how else ''}"
    if (out / "run.json").is_file():  # this benchmark's earlier run, removed first: the disk
        shutil.rmtree(out)  # then holds one run's output at a time (63 GiB at 1,000,000 subjects)
    wall, peak, _, cpu = _run_child(["-m", "itp_adam", "run", *given, str(export), "--out", str(out),
                                     *split, "--jobs", str(jobs), "--quiet"])
    anonymous, with_processes = ANONYMOUS_PEAK
    info = json.loads((out / "run.json").read_text())
    return {"subjects": subjects, "partitions": info.get("partitions", 1), "jobs": jobs,
            "pieces": how,
            "wall": wall, "cpu": cpu, "peak": peak, "anonymous_peak": anonymous,
            "anonymous_peak_with_processes": with_processes, "disk_peak": DISK_PEAK[0],
            "stages": info["timings_seconds"], **dict(zip(("digest", "files"), _data_digest(out))),
            **dict(zip(("documents_digest", "documents"), _documents_digest(out)))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    p.add_argument("--configs", nargs="+", default=["1:1", "2:1", "2:2", "4:2"],
                   help="PARTITIONS:JOBS[:pieces|:simulated|:joined|:pilot]; PARTITIONS perN: as many as make "
                   "N subjects each, auto: the run's default; the first of each export is the reference")
    args = p.parse_args(argv)
    results = []
    for subjects in args.sizes:
        reference: dict[str, dict] = {}  # the first run of each export
        documents_reference: dict[tuple, dict] = {}  # ... and of each kind of it (pieces or not)
        for config in args.configs:
            partitions, jobs, *how = config.split(":")
            how = how[0] if how else ""
            if how not in ("", "pieces", "simulated", "joined", "pilot"):
                p.error(f"{config}: expected PARTITIONS:JOBS[:pieces|:simulated|:joined|:pilot]")
            if partitions == "auto":  # no --partitions: the run's default
                partitions = "0"
            elif partitions.startswith("per"):  # perN: as many as make N subjects each
                partitions = str(max(1, round(subjects / int(partitions[3:]))))
            found = measure(subjects, int(partitions), int(jobs), how)
            export = (f"simulated{partitions}" if how in ("simulated", "joined")
                      else "pilot" if how == "pilot" else "")
            first = reference.setdefault(export, found)
            # the other files only against a run of the same kind of export: an export in
            # pieces names its pieces in trace.csv, data-issues.csv and the guides
            kind = (export, how in ("pieces", "simulated"))
            first_kind = documents_reference.setdefault(kind, found)
            found["same_outputs"] = (found["digest"] == first["digest"] and
                                     found["documents_digest"] == first_kind["documents_digest"])
            results.append(found)
            if not found["same_outputs"]:  # name the files that differ
                print("  differ from the first run:", ", ".join(
                    [name for name in sorted(set(found["files"]) | set(first["files"]))
                     if found["files"].get(name) != first["files"].get(name)]
                    + [name for name in sorted(set(found["documents"]) | set(first_kind["documents"]))
                       if found["documents"].get(name) != first_kind["documents"].get(name)]),
                      flush=True)
            print(f"{subjects:>9,} subjects  {found['partitions']} {how or 'partitions'} x {jobs} jobs: "
                  f"{found['wall']:6.1f} s wall, {found['cpu']:6.1f} s CPU, "
                  f"peak {found['peak'] / GiB:.2f} GiB ({found['anonymous_peak'] / GiB:.2f} "
                  f"anonymous; {found['anonymous_peak_with_processes'] / GiB:.2f} with its "
                  f"processes), disk {found['disk_peak'] / GiB:.1f} GiB, partitions stage "
                  f"{found['stages'].get('partitions', 0):.1f} s, same outputs: {found['same_outputs']}",
                  flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "partitions.json").write_text(json.dumps(results, indent=2))
    return 0 if all(r["same_outputs"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
