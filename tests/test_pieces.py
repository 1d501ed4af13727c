"""Large buffers written a piece at a time (io/pieces.py): the same bytes as one write, in
pieces of at most WRITE_PIECE bytes, for plain files, Arrow files and XPT files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from itp_adam.io import pieces
from itp_adam.io.arrowfile import write_frame
from itp_adam.io.xpt import write_xpt


class Recorder:
    """A binary file that keeps the size of every write it is given."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.sizes: list[int] = []

    @property
    def closed(self) -> bool:
        return self.handle.closed

    def write(self, data) -> int:
        self.sizes.append(memoryview(data).nbytes)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def test_a_large_buffer_goes_in_pieces_of_at_most_write_piece(tmp_path: Path):
    values = np.arange(pieces.WRITE_PIECE + 1000, dtype=np.uint16)  # 2.0x WRITE_PIECE bytes
    with open(tmp_path / "values.bin", "wb") as handle:
        recorder = Recorder(handle)
        assert pieces.write_in_pieces(recorder, values) == values.nbytes
    size = pieces.WRITE_PIECE
    assert recorder.sizes == [size, size, values.nbytes - 2 * size]
    assert (tmp_path / "values.bin").read_bytes() == values.tobytes()


def test_dates_are_written_as_their_values_bytes(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(pieces, "WRITE_PIECE", 16)
    dates = np.array(["2024-01-31", "NaT", "1960-01-01"], dtype="datetime64[ns]")
    with open(tmp_path / "dates.bin", "wb") as handle:
        recorder = Recorder(handle)
        assert pieces.write_in_pieces(recorder, dates) == 24
    assert recorder.sizes == [16, 8]
    back = np.frombuffer((tmp_path / "dates.bin").read_bytes(), dtype="datetime64[ns]")
    assert str(back[0])[:10] == "2024-01-31" and np.isnat(back[1])
    assert back[2] == np.datetime64("1960-01-01")


def test_a_small_or_two_dimensional_buffer_is_written_whole(tmp_path: Path):
    rows = np.arange(12, dtype=np.uint8).reshape(3, 4)  # an XPT block: records x bytes
    with open(tmp_path / "rows.bin", "wb") as handle:
        recorder = Recorder(handle)
        assert pieces.write_in_pieces(recorder, rows) == 12
    assert recorder.sizes == [12]
    assert (tmp_path / "rows.bin").read_bytes() == bytes(range(12))


def test_an_arrow_file_through_the_sink_is_what_pyarrow_writes_itself(tmp_path: Path,
                                                                      monkeypatch):
    monkeypatch.setattr(pieces, "WRITE_PIECE", 4096)
    frame = pd.DataFrame({"USUBJID": [f"S-{k:05d}" for k in range(3000)],
                          "AVAL": np.linspace(0, 1, 3000), "AVISITN": np.arange(3000)})
    made = write_frame(frame, tmp_path / "sink.arrow")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.OSFile(str(tmp_path / "own.arrow"), "wb") as sink, \
            pa.ipc.new_file(sink, table.schema) as writer:  # pyarrow's own file sink
        writer.write_batch(table.to_batches()[0])
    assert made.read_bytes() == (tmp_path / "own.arrow").read_bytes()

    sizes = []
    opened = pieces.PieceWriter

    class Recording(opened):
        def __init__(self, path) -> None:
            super().__init__(path)
            self.handle = Recorder(self.handle)
            sizes.append(self.handle.sizes)

    monkeypatch.setattr(pieces, "PieceWriter", Recording)
    write_frame(frame, tmp_path / "again.arrow")
    assert max(sizes[0]) == 4096 and len(sizes[0]) > 24000 // 4096  # AVAL alone is 24,000 bytes
    assert (tmp_path / "again.arrow").read_bytes() == made.read_bytes()


def test_an_xpt_file_in_small_pieces_has_the_same_bytes_and_checksum(tmp_path: Path,
                                                                     monkeypatch):
    frame = pd.DataFrame({"USUBJID": [f"S-{k:04d}" for k in range(500)],
                          "AVAL": np.arange(500) / 7})
    labels = {"USUBJID": "Unique Subject Identifier", "AVAL": "Analysis Value"}
    from itp_adam.io import xpt

    monkeypatch.setattr(xpt, "_timestamp", lambda: "01DEC26:00:00:00")  # one creation time
    whole = write_xpt(frame, tmp_path / "whole.xpt", "ADX", "Pieces", labels)
    monkeypatch.setattr(pieces, "WRITE_PIECE", 97)  # not a multiple of a record or a row
    pieced = write_xpt(frame, tmp_path / "pieced.xpt", "ADX", "Pieces", labels)
    data = (tmp_path / "pieced.xpt").read_bytes()
    assert data == (tmp_path / "whole.xpt").read_bytes()
    assert pieced == whole == hashlib.sha256(data).hexdigest()
