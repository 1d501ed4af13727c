"""Errors for bad input: one clear message naming the place and what was expected.

The command line turns an :class:`InputError` into exit status 2 and one message, with no
traceback (unless ``--debug``).
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input or bad usage: names the file, row/record, column, value and expectation."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, value: str | None = None,
                 expected: str | None = None) -> None:
        self.file, self.row, self.column, self.value, self.expected = file, row, column, value, expected
        parts = []
        if file is not None:
            parts.append(str(file))
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column}")
        where = ", ".join(parts)
        text = f"{where}: {message}" if where else message
        if value is not None:
            text += f": found {value!r}"
        if expected is not None:
            text += f"; expected {expected}"
        super().__init__(text)
