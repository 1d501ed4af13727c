"""Benchmark of partitions by subject: `itp-adam run --partitions P --jobs J` on simulated
studies, against the one-partition run of the same export.

Usage (from the repository root; docs/partitions.md, docs/performance.md):

    python benchmarks/partitions.py                          # 10,000 subjects; 1x1, 2x1, 2x2, 4x2
    python benchmarks/partitions.py --sizes 10000 100000     # more sizes
    python benchmarks/partitions.py --configs 1:1 2:2        # PARTITIONS:JOBS pairs

Each run is a fresh subprocess (`python -m itp_adam run --raw EXPORT ...`): its wall time, CPU
time and peak resident memory (of the run's own process, and the largest of its pool
processes), and the stage timings of run.json. Every run's data outputs are compared with the
first configuration's (the XPT files, CSV files; XPT header times blanked): they must be equal.
The exports are benchmarks/run.py's (cached under benchmarks/out/). Results are printed as a
table and saved as benchmarks/out/partitions.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import WORK, _export, _run_child  # noqa: E402  (the same exports and child runner)

GiB = 1024**3
_XPT_TIME = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def _data_digest(out: Path) -> str:
    """One digest of the run's datasets and CSV files (XPT header times blanked)."""
    digest = hashlib.sha256()
    for path in sorted(list(out.rglob("*.xpt")) + list(out.rglob("*.csv"))):
        digest.update(str(path.relative_to(out)).encode())
        digest.update(_XPT_TIME.sub(b"", path.read_bytes()))
    return digest.hexdigest()


def measure(subjects: int, partitions: int, jobs: int) -> dict:
    export = _export(subjects)
    out = WORK / f"partitions-{subjects}-{partitions}x{jobs}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    wall, peak, _, cpu = _run_child(["-m", "itp_adam", "run", "--raw", str(export), "--out", str(out),
                                     "--partitions", str(partitions), "--jobs", str(jobs), "--quiet"])
    pool_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # any descendant
    info = json.loads((out / "run.json").read_text())
    return {"subjects": subjects, "partitions": info.get("partitions", 1), "jobs": jobs,
            "wall": wall, "cpu": cpu, "peak": peak,
            "largest_process_peak": pool_peak if pool_peak > before * 1024 else None,
            "stages": info["timings_seconds"], "digest": _data_digest(out)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    p.add_argument("--configs", nargs="+", default=["1:1", "2:1", "2:2", "4:2"],
                   help="PARTITIONS:JOBS pairs; the first is the reference")
    args = p.parse_args(argv)
    results = []
    for subjects in args.sizes:
        reference = None
        for config in args.configs:
            partitions, jobs = (int(x) for x in config.split(":"))
            found = measure(subjects, partitions, jobs)
            reference = reference or found["digest"]
            found["same_outputs"] = found["digest"] == reference
            results.append(found)
            print(f"{subjects:>9,} subjects  {partitions} partitions x {jobs} jobs: "
                  f"{found['wall']:6.1f} s wall, {found['cpu']:6.1f} s CPU, "
                  f"peak {found['peak'] / GiB:.2f} GiB, partitions stage "
                  f"{found['stages'].get('partitions', 0):.1f} s, same outputs: {found['same_outputs']}",
                  flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "partitions.json").write_text(json.dumps(results, indent=2))
    return 0 if all(r["same_outputs"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
