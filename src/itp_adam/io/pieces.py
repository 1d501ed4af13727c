"""Large buffers written to files a piece of :data:`WRITE_PIECE` bytes at a time.

A run writes gigabytes at 100,000 subjects (the store's Arrow files, the merged columns, the
XPT files). On the machines this package is measured on (virtual machines whose freed memory
goes back to the host), the system time of a ``write`` depends on its size: a GiB handed to
the kernel in one ``write`` cost 2.1-2.5 s, in pieces of 256 KiB 0.23-0.28 s (the kernel
caches a large write in large pages, each newly backed by the host; small pieces take the
small free pages the guest still has). In a 100,000-subject run, the pieces took the
system time from 21.5-22.4 s to 17.8-18.8 s (docs/performance.md, "Fourteenth round").
Elsewhere they cost a few thousand system calls per GiB. Every file of more than a few
megabytes the package writes goes through :func:`write_in_pieces` or :func:`arrow_sink`."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

WRITE_PIECE = 1 << 18
"""Bytes handed to the system per ``write`` (256 KiB: the fastest on the measured machine;
1 MiB pieces already cost 1.2 s per GiB there)."""


def write_in_pieces(handle: BinaryIO, data) -> int:
    """Write the bytes of ``data`` (any contiguous buffer: bytes, a NumPy array, a pyarrow
    Buffer) to the open binary file ``handle``, :data:`WRITE_PIECE` bytes per ``write``;
    returns the number of bytes. A NumPy array's bytes are its values' (dates included)."""
    if isinstance(data, np.ndarray):  # a buffer of dates is not a memoryview's
        data = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    size = len(view)
    if size <= WRITE_PIECE:
        handle.write(view)
        return size
    for start in range(0, size, WRITE_PIECE):
        handle.write(view[start:start + WRITE_PIECE])
    return size


class PieceWriter:
    """A binary file that writes every large buffer in pieces (:func:`write_in_pieces`),
    small ones through its buffer; for pyarrow's ``PythonFile`` (:func:`arrow_sink`)."""

    def __init__(self, path: str | Path) -> None:
        self.handle = open(path, "wb")

    @property
    def closed(self) -> bool:
        return self.handle.closed

    def write(self, data) -> int:
        return write_in_pieces(self.handle, data)

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def arrow_sink(path: str | Path):
    """A pyarrow output stream onto a new file ``path`` (for ``pa.ipc.new_file``) that writes
    in pieces: pyarrow hands it the columns' buffers as they are (no copy)."""
    import pyarrow as pa

    return pa.PythonFile(PieceWriter(path), mode="w")
