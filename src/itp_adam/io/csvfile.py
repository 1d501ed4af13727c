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
