"""Arrow IPC files written and memory-mapped back: the run's store (``stages/partitions.py``,
a partition's input and datasets) and the read of a large export (``io/raw.py: Spill``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from .pieces import arrow_sink


def write_frame(frame: pd.DataFrame, path: Path, compression: str | None = None,
                rows: int | None = None) -> Path:
    """Write ``frame`` as an Arrow IPC file (the pandas types travel with it), in record
    batches of ``rows`` records (None: one), compressed with ``compression`` (e.g. "zstd";
    None: not, so that :func:`mapped` costs no copy of its text); returns ``path``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_batches(table.to_batches(max_chunksize=rows), table.schema, path, compression)
    return path


def write_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path,
                  compression: str | None = None) -> Path:
    """Write record batches (e.g. a streaming CSV reader's) as an Arrow IPC file."""
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with arrow_sink(path) as sink, pa.ipc.new_file(sink, schema, options=options) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return path


def mapped(path: Path) -> pa.Table:
    """The table of an Arrow IPC file, memory-mapped (the file's pages, not a copy, when it is
    not compressed)."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
