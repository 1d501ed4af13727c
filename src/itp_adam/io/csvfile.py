"""CSV files written with pyarrow (10-20x faster than ``DataFrame.to_csv`` on millions of
rows): the header and text quoted, numbers not, missing values as empty fields. Used for
``data-issues.csv`` and ``sdtm/trace.csv`` (also appended a stretch at a time by the merges of
a partitioned run)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
from pyarrow import csv

from .pieces import WRITE_PIECE


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as one CSV file: the header, then its rows (``write_csv_rows``)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = table.schema.remove_metadata()
    with open(path, "wb") as out:
        csv.write_csv(schema.empty_table(), out)  # the header
        write_csv_rows(table, out, schema)


def write_csv_rows(table: pa.Table, out: BinaryIO, schema: pa.Schema) -> None:
    """Append ``table``'s rows (cast to ``schema``) to the open binary file ``out`` as
    ``write_csv`` writes rows; no header."""
    table = table.select(schema.names).cast(schema)
    # pyarrow before 15 writes a record batch twice when a column has an empty chunk
    # (seen on 14.0: the rows before it appeared again), so only the non-empty batches go
    batches = [batch for batch in table.to_batches() if batch.num_rows]
    if batches:
        csv.write_csv(pa.Table.from_batches(batches, schema=schema), out,
                      csv.WriteOptions(include_header=False))


def append_file(source: Path, out: BinaryIO) -> None:
    """Append the bytes of the file ``source`` to the open file ``out`` (e.g. CSV rows written
    by another process). Where the system has it (Linux), the kernel copies them
    (``os.copy_file_range``: about 5x faster than through Python's buffers, which matters for
    the gigabytes of ``trace.csv`` rows of a large run); elsewhere a block at a time."""
    import os
    import shutil

    with open(source, "rb") as rows:
        copy = getattr(os, "copy_file_range", None)
        if copy is not None:
            out.flush()
            left = os.fstat(rows.fileno()).st_size
            try:
                while left > 0:
                    done = copy(rows.fileno(), out.fileno(), left)
                    if done == 0:
                        break
                    left -= done
            except OSError:  # e.g. a file system that refuses it: the rest through Python
                pass
            out.seek(0, os.SEEK_END)  # the buffered file's position after the kernel's writes
        shutil.copyfileobj(rows, out, WRITE_PIECE)  # what is left (all without the kernel copy)
