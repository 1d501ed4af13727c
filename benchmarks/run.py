"""Benchmark of `itp-adam run` against a bare I/O floor, for simulated studies of several sizes.

Usage (from the repository root; see benchmarks/README.md and docs/performance.md):

    python benchmarks/run.py                       # 167, 10,000 and 100,000 subjects
    python benchmarks/run.py --sizes 167 10000     # fewer sizes
    python benchmarks/run.py --repeat 3            # best of 3 (a shared machine is noisy)

For each size, in fresh subprocesses:
- `python -m itp_adam run --raw EXPORT --out OUT --quiet`: wall time (interpreter start
  included), the stage timings of OUT/run.json and the peak resident memory of the process;
- the bare I/O floor on the same data: read every raw CSV with pandas' pyarrow engine, and
  write the same final SDTM/ADaM datasets as uncompressed Parquet with pyarrow (the datasets are
  built in that process before the clock starts, with the package's own code);
then, once, the XPT v5 writer on a 3,000,000-row ADLB-like frame (the shipped ADLB tiled, with
unique subjects), checks included, beside pyarrow's uncompressed Parquet of the same frame.

Simulated exports are cached under benchmarks/out/ (seed 20250414 for every size, the seed of
the shipped study), so reruns only pay for the measurements. Results are printed as a table
and saved as benchmarks/out/results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "out"
SEED = 20250414
XPT_ROWS = 3_000_000
GiB = 1024**3


def _env() -> dict[str, str]:
    """Environment for the children: this checkout's package first on the path, and Python's
    bytecode cache on as on a user's machine (some machines set PYTHONDONTWRITEBYTECODE, and
    a checkout's modules are then compiled at every start, about 0.4 s of the shipped study;
    an installed package is compiled once, by pip). The first run after a change compiles
    (``--repeat`` keeps the fastest)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


ANONYMOUS_PEAK = [0, 0]
"""The last child's peak anonymous memory in bytes (RssAnon of /proc/PID/status, sampled every
50 ms): its resident memory that is not pages of mapped files, which the kernel can drop and
read again, so the memory a run needs (a run maps the partitions' store: docs/partitions.md);
and the peak of the same summed over the child and every process it started (the pool's
processes, the XPT and drawing processes) at each sample."""


DISK_PEAK = [0]
"""The last child's peak use of the disk holding ``WORK`` in bytes: the largest drop of its free
space below the free space at the start, sampled with the memory (the output, its staging
folder and the partitions' store; other writers on the same disk count too)."""


def _free(path: Path) -> int:
    """Free bytes, for an unprivileged user, on the disk holding ``path``."""
    found = os.statvfs(path)
    return found.f_bavail * found.f_frsize


def _anonymous(pid: int) -> int:
    """RssAnon of process ``pid`` in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (``/proc/PID/task/TID/children``)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as fh:
                    children = [int(child) for child in fh.read().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class _AnonymousPeak:
    """Samples a process's RssAnon, alone and with its descendants', in a thread until
    ``stop``."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.peak, self.total, self.done = pid, 0, 0, threading.Event()
        WORK.mkdir(parents=True, exist_ok=True)
        self.free = self.least_free = _free(WORK)
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            own = _anonymous(self.pid)
            if not own and not os.path.exists(f"/proc/{self.pid}"):
                return
            self.peak = max(self.peak, own)
            self.total = max(self.total, own + sum(map(_anonymous, _descendants(self.pid))))
            self.least_free = min(self.least_free, _free(WORK))
            self.done.wait(0.05)

    def stop(self) -> tuple[int, int]:
        self.done.set()
        self.thread.join()
        return self.peak, self.total


def _run_child(args: list[str]) -> tuple[float, int, str, float]:
    """Run ``python ARGS`` in a child process; its wall time, its peak resident memory in bytes
    (ru_maxrss of that child alone, from wait4), its standard output and its CPU time (user +
    system: less disturbed than wall time by other work on a shared machine). Exits if it
    fails."""
    start = time.perf_counter()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: stdout to the pipe, stderr kept
        os.close(read_fd)
        os.dup2(write_fd, 1)
        os.chdir(ROOT)
        try:
            os.execve(sys.executable, [sys.executable, *args], _env())
        finally:
            os._exit(127)
    os.close(write_fd)
    anonymous = _AnonymousPeak(pid)
    with os.fdopen(read_fd) as pipe:
        out = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    ANONYMOUS_PEAK[:] = anonymous.stop()
    DISK_PEAK[0] = anonymous.free - anonymous.least_free
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): python {' '.join(args)}")
    return wall, usage.ru_maxrss * 1024, out, usage.ru_utime + usage.ru_stime


def _export(subjects: int, pieces: int = 1) -> Path:
    """The cached simulated export of this size (simulated on first use); with ``pieces`` > 1
    simulated as an export in that many pieces (`itp-adam simulate --pieces`: one piece held
    at a time, so a study larger than memory; other data than the one-folder export's)."""
    folder = WORK / (f"export-{subjects}-seed{SEED}" + (f"-simulated{pieces}" if pieces > 1 else ""))
    if not (folder / "simulate.json").is_file():  # the simulator's marker: written last, atomically
        print(f"simulating {subjects:,} subjects into {folder} ...", flush=True)
        _run_child(["-m", "itp_adam", "simulate", "--out", str(folder),
                    "--subjects", str(subjects), "--seed", str(SEED), "--pieces", str(pieces)])
    return folder


def _best(runs: list[dict]) -> dict:
    """The fastest of repeated measurements (by wall time)."""
    return min(runs, key=lambda r: r["wall"])


def measure_size(subjects: int, repeat: int) -> dict:
    """End-to-end run and floor for one study size."""
    export = _export(subjects)
    out = WORK / f"run-{subjects}"
    runs = []
    for _ in range(repeat):
        wall, peak, _, cpu = _run_child(["-m", "itp_adam", "run", "--raw", str(export),
                                         "--out", str(out), "--quiet"])
        info = json.loads((out / "run.json").read_text())
        runs.append({"wall": wall, "cpu": cpu, "peak": peak, "stages": info["timings_seconds"],
                     "worker": info.get("worker_seconds", {}), "rows": info["rows"]})
    run = _best(runs)
    floors = []
    for _ in range(repeat):
        _, peak, text, _ = _run_child([str(Path(__file__).resolve()), "--floor", str(export)])
        floors.append(json.loads(text.strip().splitlines()[-1]) | {"peak": peak})
    floor = min(floors, key=lambda f: f["read"] + f["write"])
    return {"subjects": subjects, "run": run, "floor": floor}


def floor_child(export: Path) -> None:
    """In a child process: the bare I/O floor (prints one JSON line)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from itp_adam import issues
    from itp_adam.stages.adam import build_adam
    from itp_adam.paths import default_specs_dir
    from itp_adam.io.raw import read_export
    from itp_adam.stages.sdtm import build_sdtm, prepare_forms
    from itp_adam.spec.model import load_specs

    start = time.perf_counter()
    raw = {p.stem: pd.read_csv(p, engine="pyarrow") for p in sorted(export.glob("*.csv"))}
    read = time.perf_counter() - start
    raw_bytes = sum(p.stat().st_size for p in export.glob("*.csv"))
    del raw

    specs = load_specs(default_specs_dir())  # the datasets themselves, untimed
    with issues.collect():
        forms = prepare_forms(read_export(export, specs.layout), specs)
        sdtm = build_sdtm(specs, forms)
        adam = build_adam(specs, sdtm)
    datasets = {}
    for group, frames, spec_group in (("sdtm", sdtm, specs.sdtm), ("adam", adam, specs.adam)):
        for name, frame in frames.items():
            datasets[f"{group}/{name.lower()}"] = frame[[v.name for v in spec_group[name].variables]]

    folder = WORK / f"floor-{export.name}"
    (folder / "sdtm").mkdir(parents=True, exist_ok=True)
    (folder / "adam").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for name, frame in datasets.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, folder / f"{name}.parquet", compression="none")
    write = time.perf_counter() - start
    written = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    print(json.dumps({"read": read, "write": write, "raw_bytes": raw_bytes,
                      "parquet_bytes": written}))


def xpt_child(rows: int, with_pyreadstat: bool) -> None:
    """In a child process: write_xpt on an ADLB-like frame of ``rows`` rows (prints JSON)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from itp_adam import issues
    from itp_adam.stages.adam import build_adam
    from itp_adam.paths import default_specs_dir, shipped_study_dir
    from itp_adam.io.raw import read_export
    from itp_adam.stages.sdtm import build_sdtm, prepare_forms
    from itp_adam.spec.model import load_specs
    from itp_adam.io.xpt import write_xpt

    specs = load_specs(default_specs_dir())
    with issues.collect():
        forms = prepare_forms(read_export(shipped_study_dir(), specs.layout), specs)
        adam = build_adam(specs, build_sdtm(specs, forms))
    spec = specs.adam["ADLB"]
    adlb = adam["ADLB"][[v.name for v in spec.variables]]
    copies = -(-rows // len(adlb))
    big = pd.concat([adlb] * copies, ignore_index=True).iloc[:rows]
    copy = pd.Series(np.repeat(np.arange(copies), len(adlb))[:rows].astype(str), dtype="str")
    big["USUBJID"] = big["USUBJID"] + "-" + copy
    labels = {v.name: v.label for v in spec.variables}
    dates = [v.name for v in spec.variables if (v.format or "").upper().startswith("DATE")]
    folder = WORK / "xpt"
    folder.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    write_xpt(big, folder / "adlb.xpt", "ADLB", spec.label, labels, date_columns=dates)
    result = {"rows": rows, "columns": big.shape[1], "xpt": time.perf_counter() - start,
              "xpt_bytes": (folder / "adlb.xpt").stat().st_size}
    start = time.perf_counter()
    pq.write_table(pa.Table.from_pandas(big, preserve_index=False), folder / "adlb.parquet",
                   compression="none")
    result["parquet"] = time.perf_counter() - start
    if with_pyreadstat:
        import pyreadstat

        from itp_adam.io.xpt import _prepare

        # pyreadstat's input as write_xpt used to build it (text "" for missing, trimmed; dates
        # as SAS days), prepared before the clock starts
        _, columns = _prepare(big, "ADLB", spec.label, labels, tuple(dates))
        given = pd.DataFrame({
            c.name: (c.numbers if c.kind != "char"
                     else c.texts.take(c.codes).to_pandas().astype("str"))
            for c in columns})
        start = time.perf_counter()
        pyreadstat.write_xport(given, folder / "adlb-pyreadstat.xpt", file_label=spec.label,
                               column_labels=[labels[n] for n in given.columns],
                               table_name="ADLB", file_format_version=5,
                               variable_format={d: "DATE9." for d in dates})
        result["pyreadstat"] = time.perf_counter() - start
    print(json.dumps(result))


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.2f}"


def table(results: list[dict], xpt: dict | None) -> str:
    """The results as a markdown table: one column per size, one row per measure."""
    stages: list[str] = []
    for r in results:
        stages += [s for s in r["run"]["stages"] if s not in stages]
    head = ["measure"] + [f"{r['subjects']:,} subjects" for r in results]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(name: str, values: list[str]) -> None:
        lines.append("| " + " | ".join([name] + values) + " |")

    row("LB / ADLB rows", [f"{r['run']['rows'].get('LB', 0):,} / "
                           f"{r['run']['rows'].get('ADLB', 0):,}" for r in results])
    for stage in stages:
        row(f"stage {stage} (s)", [_fmt_s(r["run"]["stages"].get(stage, 0.0)) for r in results])
    row("stages total (s)", [_fmt_s(sum(r["run"]["stages"].values())) for r in results])
    row("tables and figures, worker process (s)",
        [_fmt_s(r["run"].get("worker", {}).get("tables", 0.0)) for r in results])
    row("**end to end, wall (s)**", [f"**{_fmt_s(r['run']['wall'])}**" for r in results])
    row("end to end, CPU user+sys (s)", [_fmt_s(r["run"]["cpu"]) for r in results])
    row("floor: read CSV, pyarrow (s)", [_fmt_s(r["floor"]["read"]) for r in results])
    row("floor: write Parquet (s)", [_fmt_s(r["floor"]["write"]) for r in results])
    row("**floor total (s)**", [f"**{_fmt_s(r['floor']['read'] + r['floor']['write'])}**"
                                for r in results])
    row("**end to end / floor**", [
        f"**{r['run']['wall'] / (r['floor']['read'] + r['floor']['write']):.1f}x**"
        for r in results])
    row("LB rows/s (end to end)", [f"{r['run']['rows'].get('LB', 0) / r['run']['wall']:,.0f}"
                                   for r in results])
    row("ADLB rows/s (end to end)", [f"{r['run']['rows'].get('ADLB', 0) / r['run']['wall']:,.0f}"
                                     for r in results])
    row("**peak memory, run (GiB)**", [f"**{r['run']['peak'] / GiB:.2f}**" for r in results])
    row("peak memory, floor process (GiB)", [f"{r['floor']['peak'] / GiB:.2f}" for r in results])
    for prev, cur in zip(results, results[1:]):
        growth = cur["run"]["wall"] / prev["run"]["wall"]
        cpu = cur["run"]["cpu"] / prev["run"]["cpu"]
        lines.append(f"\nGrowth {prev['subjects']:,} -> {cur['subjects']:,} subjects "
                     f"({cur['subjects'] / prev['subjects']:.0f}x): end to end {growth:.1f}x wall, "
                     f"{cpu:.1f}x CPU")
    if xpt:
        lines.append(
            f"\nXPT v5 write of a {xpt['rows']:,}-row ADLB-like frame ({xpt['columns']} "
            f"variables, {xpt['xpt_bytes'] / 1e9:.2f} GB), checks included: "
            f"**{xpt['xpt']:.2f} s**; Parquet (pyarrow, uncompressed) of the same frame: "
            f"{xpt['parquet']:.2f} s"
            + (f"; pyreadstat write_xport: {xpt['pyreadstat']:.1f} s" if "pyreadstat" in xpt
               else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[167, 10_000, 100_000],
                   help="numbers of subjects (default 167 10000 100000)")
    p.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest is kept")
    p.add_argument("--xpt-rows", type=int, default=XPT_ROWS,
                   help=f"rows of the ADLB-like XPT write (default {XPT_ROWS:,}; 0 skips it)")
    p.add_argument("--pyreadstat", action="store_true",
                   help="also time pyreadstat.write_xport on that frame (slow: about 80 s)")
    p.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--xpt-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if args.floor:
        floor_child(args.floor)
        return 0
    if args.xpt_child:
        xpt_child(args.xpt_rows, args.pyreadstat)
        return 0

    results = []
    for subjects in args.sizes:
        print(f"measuring {subjects:,} subjects ...", flush=True)
        results.append(measure_size(subjects, args.repeat))
    xpt = None
    if args.xpt_rows:
        print(f"measuring the XPT write of {args.xpt_rows:,} ADLB-like rows ...", flush=True)
        child = [str(Path(__file__).resolve()), "--xpt-child", "--xpt-rows", str(args.xpt_rows)]
        runs = [json.loads(_run_child(child + (["--pyreadstat"] if args.pyreadstat and i == 0
                                               else []))[2].strip().splitlines()[-1])
                for i in range(args.repeat)]
        xpt = min(runs, key=lambda r: r["xpt"]) | next(
            ({"pyreadstat": r["pyreadstat"]} for r in runs if "pyreadstat" in r), {})
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GiB:.0f} GiB, "
               f"Python {platform.python_version()}")
    text = table(results, xpt)
    print(f"\nmachine: {machine}\n\n{text}")
    (WORK / "results.json").write_text(json.dumps(
        {"machine": machine, "sizes": results, "xpt": xpt}, indent=2) + "\n")
    (WORK / "results.md").write_text(f"machine: {machine}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
