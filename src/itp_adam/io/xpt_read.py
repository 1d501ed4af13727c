"""A vectorised reader of SAS XPORT version 5 files (SAS technical note TS-140): how a study
that starts from SDTM reads its ``.xpt`` datasets (``io/sdtm.py``).

The file is memory-mapped and its observations, fixed-width records, are read as one 2-D byte
array: a text column is the bytes of its field with the trailing blanks cut (one pyarrow
string array, built from two NumPy arrays), a number is its field's IBM 370 double converted to
an IEEE double on the whole column. Nothing is done per record in Python, and any stretch of
records can be read on its own (:meth:`XptRecords.columns`), so a file larger than memory is
read a stretch at a time. It gives what pyreadstat's ``read_xport`` gives (tests compare the
two on a shipped study's SDTM files, on files with every kind of value and on random IBM bit
patterns), about 8 times faster (``docs/xpt.md``, "Reading XPT input").

Only the common case is read here: one member, version 5, 140-byte NAMESTR records. Anything
else (version 8 ``LIBV8`` files, VAX 136-byte NAMESTRs) raises :class:`XptFormatError`, and
the caller reads the file with pyreadstat instead; several members (a transport library) is
bad input (:func:`one_member`), whoever reads the file.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_RECORD = 80
_HEADER = b"HEADER RECORD*******"
_LIBRARY = _HEADER + b"LIBRARY HEADER RECORD!!!!!!!"
_MEMBER = _HEADER + b"MEMBER  HEADER RECORD!!!!!!!"
_MEMBER_V8 = _HEADER + b"MEMBV8  HEADER RECORD!!!!!!!"
_DESCRIPTOR = _HEADER + b"DSCRPTR HEADER RECORD!!!!!!!"
_NAMES = _HEADER + b"NAMESTR HEADER RECORD!!!!!!!"
_OBSERVATIONS = _HEADER + b"OBS     HEADER RECORD!!!!!!!"
# NAMESTR record (TS-140, 140 bytes, big-endian): ntype nhfun nlng nvar0 nname nlabel nform nfl
# nfd nfj nfill niform nifl nifd npos rest
_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")


class XptFormatError(ValueError):
    """The file is not one this reader handles (not XPT v5 with one member): read it with
    pyreadstat instead."""


def member_names(path: str | Path) -> list[str]:
    """The names of the datasets (members) a transport file holds, in order, version 5 or 8.
    A SAS transport *library* may hold several; pyreadstat reads the first and takes the
    others' headers and records for more records of it, so a reader checks there is one."""
    names = []
    with open(path, "rb") as fh:
        if not fh.seek(0, 2):
            return names
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for marker, width in ((_MEMBER, 8), (_MEMBER_V8, 32)):
                at = data.find(marker)
                while at >= 0:
                    if at % _RECORD == 0:  # headers start a record; the name: 2 records on
                        start = at + 2 * _RECORD + 8
                        names.append(data[start:start + width].decode("ascii", "replace").strip())
                    at = data.find(marker, at + _RECORD)
    return names


def one_member(path: str | Path, names: list[str] | None = None) -> None:
    """Bad input when the transport file ``path`` holds more than one dataset (``names``:
    its members, when already known): which one is meant is unknown, and the FDA takes one
    dataset per file."""
    from ..errors import InputError

    names = member_names(path) if names is None else names
    if len(names) > 1:
        raise InputError(f"the file holds {len(names)} datasets ({', '.join(names)}): a SAS "
                         "transport library", file=str(path),
                         expected="one dataset per transport file, as the FDA asks (write each "
                         "with its own XPORT libname or PROC COPY)")


@dataclass(frozen=True)
class XptVariable:
    """One variable of the NAMESTR records."""

    name: str
    type: str  # "Char" or "Num"
    length: int  # bytes in each record
    position: int  # offset in each record
    label: str
    format: str  # e.g. "DATE9.", "" when none


class XptRecords:
    """An XPT v5 file's dataset: its name, label and variables, and its records, read a
    stretch at a time (:meth:`columns`). Keeps the file mapped until :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            size = fh.seek(0, 2)
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        try:
            self._parse(memoryview(self._map) if self._map is not None else memoryview(b""))
        except BaseException:
            self.close()
            raise

    def _parse(self, data: memoryview) -> None:
        def record(k: int) -> bytes:
            return bytes(data[k * _RECORD:(k + 1) * _RECORD])

        if len(data) < 8 * _RECORD or not record(0).startswith(_LIBRARY):
            raise XptFormatError("not a SAS transport file, version 5 (no LIBRARY header)")
        member = record(3)
        if not member.startswith(_MEMBER) or not record(4).startswith(_DESCRIPTOR):
            raise XptFormatError("no MEMBER header where version 5 has it")
        if member[74:78] != b"0140":
            raise XptFormatError(f"NAMESTR records of {member[74:78].decode('ascii', 'replace')} "
                                 "bytes (140 expected)")
        self.name = record(5)[8:16].decode("ascii", "replace").strip()
        self.label = record(6)[32:72].decode("utf-8", "replace").rstrip()
        names = record(7)
        if not names.startswith(_NAMES):
            raise XptFormatError("no NAMESTR header where version 5 has it")
        try:
            count = int(names[54:58])
        except ValueError:
            raise XptFormatError("no variable count in the NAMESTR header") from None
        start = 8 * _RECORD
        block = bytes(data[start:start + count * _NAMESTR.size])
        self.variables = [self._variable(_NAMESTR.unpack_from(block, k * _NAMESTR.size))
                          for k in range(count)]
        start += -(-count * _NAMESTR.size // _RECORD) * _RECORD
        if bytes(data[start:start + len(_OBSERVATIONS)]) != _OBSERVATIONS:
            raise XptFormatError("no OBS header after the NAMESTR records")
        start += _RECORD
        self.reclen = max((v.position + v.length for v in self.variables), default=0)
        if self._map is not None and self._map.find(_MEMBER, start) >= 0:
            one_member(self.path)  # more than one member: bad input, not a file to read otherwise
        total = len(data) - start
        self.rows = self._count(data, start, total)
        self._records = (np.frombuffer(self._map, dtype=np.uint8, count=self.rows * self.reclen,
                                       offset=start).reshape(self.rows, self.reclen)
                         if self.rows and self.reclen else np.zeros((0, self.reclen), np.uint8))

    def _count(self, data: memoryview, start: int, total: int) -> int:
        """The number of records. The observations are padded with blanks to a whole 80-byte
        record, so records of blanks only that lie wholly in the last 80 bytes are padding,
        not records (as SAS and ReadStat read them); a blank record before those is a record."""
        if self.reclen == 0 or total <= 0:
            return 0
        rows = total // self.reclen
        first = max(0, -(-(total - _RECORD) // self.reclen))  # the first record in the last 80
        tail = np.frombuffer(data[start + first * self.reclen:start + rows * self.reclen],
                             dtype=np.uint8).reshape(-1, self.reclen)
        filled = np.flatnonzero((tail != 0x20).any(axis=1))
        return first + (filled[-1] + 1 if len(filled) else 0)

    @staticmethod
    def _variable(fields: tuple) -> XptVariable:
        ntype, _, length, _, name, label, form, width, decimals, *_rest = fields
        npos = fields[14]
        form = form.decode("ascii", "replace").strip()
        spelled = (f"{form}{width or ''}.{decimals or ''}" if form or width else "")
        return XptVariable(name.decode("ascii", "replace").strip(), "Num" if ntype == 1 else "Char",
                           length, npos, label.decode("utf-8", "replace").rstrip(), spelled)

    def columns(self, start: int = 0, stop: int | None = None) -> dict[str, pa.Array | np.ndarray]:
        """Records ``start`` to ``stop`` (default: the last), each variable as a pyarrow
        ``large_string`` array (trailing blanks cut) or a float64 array (NaN for SAS missing
        values, special ones included). Raises ValueError naming the first record and the
        variable whose text is not UTF-8."""
        rows = self._records[start:stop]
        out: dict[str, pa.Array | np.ndarray] = {}
        for var in self.variables:
            field = rows[:, var.position:var.position + var.length]
            out[var.name] = (ibm_to_ieee(field) if var.type == "Num"
                             else _text(field, start, var.name))
        return out

    def close(self) -> None:
        self._records = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a column still points into the mapping: closed when let go
                pass
            self._map = None


def ibm_to_ieee(field: np.ndarray) -> np.ndarray:
    """IBM 370 doubles (the rows of ``field``: 2 to 8 big-endian bytes each, the missing bytes
    zero) as IEEE float64. A SAS missing value (``.``, ``.A``-``.Z``, ``._``: that byte, then
    zeros; ReadStat reads any first byte followed by zeros so, and so does this) is NaN. The
    56-bit fraction keeps its first 53 significant bits (the rest cut, as TS-140's
    ``xpt2ieee`` and ReadStat do). An unnormalised number (first hex digit 0, which SAS does
    not write) is read by its value (ReadStat reads it as if normalised)."""
    n, width = field.shape
    if width == 8:
        bits = np.ascontiguousarray(field).view(">u8").ravel().astype(np.uint64)
    else:
        padded = np.zeros((n, 8), dtype=np.uint8)
        padded[:, :width] = field
        bits = padded.view(">u8").ravel().astype(np.uint64)
    fraction = bits & np.uint64(0x00FF_FFFF_FFFF_FFFF)
    top = (fraction >> np.uint64(53)).astype(np.int64)  # 0-7: the bits beyond IEEE's 53
    cut = (top > 0).astype(np.int64) + (top > 1) + (top > 3)
    exponent = ((bits >> np.uint64(56)) & np.uint64(0x7F)).astype(np.int64)
    values = np.ldexp((fraction >> cut.astype(np.uint64)).astype(np.float64),
                      4 * (exponent - 64) - 56 + cut)
    values[(bits >> np.uint64(63)) == 1] *= -1
    values[(fraction == 0) & (bits != 0)] = np.nan  # a first byte, then zeros: missing
    return values


def _text(field: np.ndarray, start: int, name: str) -> pa.Array:
    """The fixed-width byte fields as a ``large_string`` array, trailing blanks cut (a NUL
    byte, which SAS does not write, ends a value, as ReadStat reads it). Raises ValueError
    naming the first record whose bytes are not UTF-8."""
    n, width = field.shape
    block = np.ascontiguousarray(field)
    if (block == 0).any():  # values end at their first NUL: own lengths, then trimmed
        nul = block == 0
        lengths = np.where(nul.any(axis=1), np.argmax(nul, axis=1), width)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = block[np.arange(width) < lengths[:, None]]
    else:  # every value its whole field
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
        data = block
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        values = array.view(pa.large_binary()).to_pylist()  # the error path only
        bad = next(k for k, value in enumerate(values) if not _utf8(value))
        raise ValueError(f"record {start + bad + 1}, variable {name}: {values[bad].rstrip()!r} "
                         "is not UTF-8 text") from None
    return pc.utf8_rtrim(array, characters=" ")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
