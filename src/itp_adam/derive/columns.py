"""Text columns as pyarrow arrays: the package's text convention, distinct values, spreading back.

Text columns are pandas ``str`` columns, which pandas stores as pyarrow strings. Going through
Python objects (``Series(object_array, dtype="str")``, ``.to_numpy()`` of text, object string
methods) costs about a microsecond per value; pyarrow compute on the whole column costs a few
nanoseconds. So derivations work on the arrow arrays here, and compute anything that needs
Python (regexes, dictionaries, formatting) once per *distinct* value:

    codes, distinct = encode(arrow_text(column))    # one hash of the column
    result = f(distinct)                             # a few thousand values
    spread_text(result, codes, index)                # pyarrow take: no Python objects

``arrow_text`` is the convention every derivation reads text with: stripped of surrounding
whitespace (pyarrow's ``utf8_trim_whitespace``, which is what pandas' ``str.strip`` runs), with
``""`` for missing. Non-text columns are first converted as ``astype("string")`` does
(``7.0`` -> ``"7.0"``).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()


def arrow_array(values: pd.Series) -> pa.Array:
    """The column as one pyarrow ``large_string`` array, nulls kept (no copy for ``str``
    columns in one chunk). Non-text columns are converted as ``astype("string")`` does."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = values.astype("string")
    array = pa.array(values.array)
    if isinstance(array, pa.ChunkedArray):  # combine_chunks copies even a single chunk
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array if array.type == TEXT else array.cast(TEXT)


def arrow_text(values: pd.Series | pa.Array) -> pa.Array:
    """Text stripped of surrounding whitespace, ``""`` for missing, as a pyarrow array."""
    array = arrow_array(values) if isinstance(values, pd.Series) else values
    if array.null_count:
        array = pc.fill_null(array, "")
    return pc.utf8_trim_whitespace(array)


def as_str(values: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """A pyarrow string array as a ``str`` column with ``index`` (no conversion of the values)."""
    return pd.Series(pd.array(values, dtype="str"), index=index, copy=False)


def text(values: pd.Series) -> pd.Series:
    """Values as stripped ``str`` with ``""`` for missing (``arrow_text`` as a column)."""
    return as_str(arrow_text(values), values.index)


def encode(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """``(codes, distinct)``: per row the position of its value in ``distinct`` (the distinct
    values in order of first appearance; a null is a distinct value of its own). A chunked
    array is encoded chunk by chunk, with one dictionary for all, without joining its chunks
    into one array first (a copy of the whole column's text)."""
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):
        if encoded.num_chunks == 0:
            return np.empty(0, dtype=np.int32), pa.array([], type=values.type)
        # pyarrow gives every chunk the one dictionary of all of them; checked, not assumed
        distinct = encoded.chunk(encoded.num_chunks - 1).dictionary
        if not all(chunk.dictionary.equals(distinct) for chunk in encoded.chunks):
            return encode(values.combine_chunks())
        codes = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
        return np.concatenate(codes), distinct
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary


def spread_text(results: Sequence[object] | np.ndarray | pa.Array, codes: np.ndarray,
                index: pd.Index) -> pd.Series:
    """The ``str`` column holding ``results[code]`` per row: text computed once per distinct
    value, taken back by code with pyarrow (``None``/NaN in ``results`` become missing)."""
    if not isinstance(results, pa.Array):
        results = pa.array(np.asarray(results, dtype=object), type=TEXT, from_pandas=True)
    return as_str(results.take(pa.array(codes)), index)


def concat_text(parts: Sequence[str | pa.Array]) -> pa.Array:
    """Per row, the texts of ``parts`` one after another: each part a text array (one value per
    row) or one text for every row. One pyarrow pass (``binary_join_element_wise``), e.g. the
    lines of a long listing put together from its columns."""
    values = [pa.scalar(part, TEXT) if isinstance(part, str)
              else part if part.type == TEXT else part.cast(TEXT) for part in parts]
    return pc.binary_join_element_wise(*values, pa.scalar("", TEXT))


def codes_text(distinct: Sequence[str], codes: np.ndarray) -> pa.Array:
    """The text array holding ``distinct[code]`` per row (text made once per distinct value)."""
    return pa.array(list(distinct), type=TEXT).take(pa.array(np.asarray(codes, dtype=np.int64)))


def text_bytes(values: pa.Array) -> bytes:
    """The texts of ``values`` (no missing value) one after another, as UTF-8 bytes: their
    data buffer, which holds them in order."""
    if values.null_count:
        raise ValueError("text_bytes: a missing value has no text")
    if not len(values):
        return b""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64 if values.type == TEXT
                            else np.int32)[values.offset:values.offset + len(values) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    return values.buffers()[2].slice(start, end - start).to_pybytes()


def labels(choices: Sequence[object], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """The ``str`` column holding ``choices[code]`` per row (a few labels, many rows)."""
    return spread_text(pa.array([str(choice) for choice in choices], type=TEXT), codes, index)


# --------------------------------------------------------------------------------------------
# integer codes: look-ups, grouping and sorting on integers instead of text


def positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Per value, the position of the first equal key (-1: none; missing matches missing),
    as ``pd.Index(keys).get_indexer(values)`` for unique keys. One pyarrow hash lookup."""
    codes, distinct = column_codes(values)  # looked up once per distinct value
    found = pc.index_in(distinct, value_set=arrow_array(keys))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)[codes]


def has_duplicates(values: pd.Series) -> bool:
    """Whether a value occurs twice (two missing values count as equal)."""
    return pc.count_distinct(arrow_array(values), mode="all").as_py() < len(values)


def _is_arrow_text(values: pd.Series | np.ndarray) -> bool:
    return isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype) \
        and values.dtype.storage == "pyarrow"


class _Encoded:
    """A text column's ``encode`` (read-only codes) and, once asked for, its distinct values'
    ranks."""

    __slots__ = ("codes", "distinct", "rank")

    def __init__(self, codes: np.ndarray, distinct: pa.Array) -> None:
        codes.flags.writeable = False
        self.codes, self.distinct, self.rank = codes, distinct, None


# id of a column's pyarrow array -> (weak reference to the array, its _Encoded). pyarrow arrays
# are immutable and pandas shares them between shallow copies of a frame, so grouping, sorting
# and key checks of the same column in successive derivations hash it once. An entry goes when
# its array is freed (the weak reference's callback), so an id is never matched to a new array.
_ENCODED: dict[int, tuple[weakref.ref, _Encoded]] = {}


def _encoded(values: pd.Series) -> _Encoded:
    """``encode(arrow_array(values))`` of a pyarrow ``str`` column, remembered per array."""
    array = getattr(values.array, "_pa_array", None)
    key = id(array)
    found = _ENCODED.get(key) if array is not None else None
    if found is not None and found[0]() is array:
        return found[1]
    chunked = isinstance(array, pa.ChunkedArray) and array.num_chunks > 1 and array.type == TEXT
    entry = _Encoded(*encode(array if chunked else arrow_array(values)))  # chunked: not joined
    if array is not None:
        _ENCODED[key] = (weakref.ref(array, lambda _, key=key: _ENCODED.pop(key, None)), entry)
    return entry


def column_codes(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """``encode(arrow_array(values))``: per row the code of its value (read-only) and the
    distinct values, unstripped; for a ``str`` column remembered while its array lives."""
    if _is_arrow_text(values):
        entry = _encoded(values)
        return entry.codes, entry.distinct
    return encode(arrow_array(values))


def rank_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, int]:
    """``(codes, k)``: dense ascending ranks ``0..k-1`` of the values, missing values ``k``
    (after every value). Text ranks in code point order, as pandas sorts it."""
    if _is_arrow_text(values):
        entry = _encoded(values)
        if entry.rank is None:  # ranks of the distinct values, once per column
            order = pc.array_sort_indices(entry.distinct, null_placement="at_end").to_numpy()
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            entry.rank = rank
        return entry.rank[entry.codes], len(entry.distinct) - entry.distinct.null_count
    codes, distinct = pd.factorize(values, sort=True)
    k = len(distinct)
    return np.where(codes < 0, k, codes).astype(np.int64), k


def sort_order(keys: Sequence[tuple[pd.Series | np.ndarray, bool]], n: int) -> np.ndarray:
    """The stable permutation sorting rows by ``(values, ascending)`` keys, missing values last
    in both directions: pandas' ``sort_values(kind="stable", na_position="last")``. Each key
    becomes integer ranks; the ranks are combined into one int64 (one argsort) when they fit.
    ``n`` is the number of rows (the order of no keys is ``0..n-1``)."""
    return _sorted(keys, n)[0]


def sort_order_unique(keys: Sequence[pd.Series | np.ndarray], n: int) -> tuple[np.ndarray, bool]:
    """``(order, unique)``: ``sort_order`` of ascending ``keys``, and whether no two rows share
    the values of every key (missing equal to missing), read off neighbours in that order."""
    order, ranks = _sorted([(values, True) for values in keys], n)
    if n < 2 or not ranks:
        return order, n < 2
    same = np.ones(n - 1, dtype=bool)
    for codes in ranks:
        ordered = codes[order]
        same &= ordered[1:] == ordered[:-1]
    return order, not same.any()


def _sorted(keys: Sequence[tuple[pd.Series | np.ndarray, bool]], n: int
            ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``sort_order`` and the keys' rank arrays (one int64 when they fit, else one per key)."""
    ranks, sizes = [], []
    for values, ascending in keys:
        codes, k = rank_codes(values)
        ranks.append(codes if ascending else np.where(codes < k, k - 1 - codes, k))
        sizes.append(k + 1)
    if not ranks:
        return np.arange(n), []
    if float(np.prod(np.asarray(sizes, dtype=np.float64))) < 2.0 ** 62:
        combined = np.zeros(len(ranks[0]), dtype=np.int64)
        for codes, size in zip(ranks, sizes):
            combined = combined * size + codes
        return np.argsort(combined, kind="stable"), [combined]
    return np.lexsort(ranks[::-1]), ranks


def _value_codes(values: pd.Series, exact: bool) -> tuple[np.ndarray, int]:
    """``(codes, k)``: per row its value's code ``0..k-1``; missing values share a code.
    ``exact``: floats by bit pattern, so ``-0.0`` and ``0.0`` differ (as their text does)."""
    if _is_arrow_text(values):
        entry = _encoded(values)
        return entry.codes, len(entry.distinct)
    if exact and pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        bits = np.where(np.isnan(numbers), np.nan, numbers).view(np.int64)  # one NaN
        codes, uniques = pd.factorize(bits)
        return codes, len(uniques)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, len(uniques)


def group_codes(df: pd.DataFrame, names: Sequence[str], exact: bool = False) -> np.ndarray:
    """One integer per row naming its combination of values of the columns ``names``: 0, 1, ...
    in order of first appearance (missing values form their own group; no columns: one group).
    ``exact``: float values group by bit pattern (see ``_value_codes``)."""
    ids, size = np.zeros(len(df), dtype=np.int64), 1  # ids < size
    for name in names:
        codes, k = _value_codes(df[name], exact)
        if size * (k + 1) >= 2 ** 62:  # renumber 0, 1, ... before the product could overflow
            ids, size = pd.factorize(ids)[0].astype(np.int64), len(df) + 1
        ids, size = ids * (k + 1) + codes, size * (k + 1)
    return pd.factorize(ids)[0].astype(np.int64) if names else ids


def first_positions(codes: np.ndarray, size: int | None = None, missing: int = -1) -> np.ndarray:
    """The first position in ``codes`` of each code ``0 .. size - 1`` (``size``: by default
    the largest code + 1); ``missing`` for a code that does not occur.

    ``np.minimum.at`` applies every position in turn, so the result is defined; an assignment
    ``first[codes[::-1]] = positions[::-1]`` ("the last write wins") is not: NumPy leaves the
    value of an element assigned more than once unspecified."""
    codes = np.asarray(codes)
    count = len(codes)
    size = int(codes.max(initial=-1)) + 1 if size is None else size
    first = np.full(size, count, dtype=np.intp)
    np.minimum.at(first, codes, np.arange(count, dtype=np.intp))
    first[first == count] = missing
    return first


def distinct_rows(df: pd.DataFrame, names: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """``(codes, distinct)``: the distinct combinations of the columns ``names`` (the first
    row of each, in order of appearance, index 0, 1, ...) and per row the position of its
    combination. A row-wise rule computed on ``distinct`` is taken back with ``[codes]``."""
    codes = group_codes(df, names, exact=True)
    first = first_positions(codes)  # every code occurs
    return codes, df[list(names)].iloc[first].reset_index(drop=True)


def row_positions(df: pd.DataFrame, other: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Per row of ``df``, the first row of ``other`` with the same values of the columns
    ``names`` (-1: none; missing matches missing, as in ``DataFrame.merge``): a left merge on
    integer codes, without the merge."""
    both = pd.concat([df[list(names)], other[list(names)]], ignore_index=True)
    codes = group_codes(both, names)
    left, right = codes[:len(df)], codes[len(df):]
    return first_positions(right, int(codes.max(initial=-1)) + 1)[left]


# --------------------------------------------------------------------------------------------
# sorting on ranks computed once per whole column, then taken by row


def key_ranks(values: pd.Series | np.ndarray, ascending: bool = True) -> tuple[np.ndarray, int]:
    """``(codes, k)``: per row a rank ``0..k-1`` ordering the values (``ascending`` or not),
    ``k`` for missing, which sorts last in both directions as in ``sort_order``. Ranks need
    not be dense: whole-number floats in a small range rank as ``value - min`` (no sort; ``-0.0``
    ties with ``0.0`` as in ``pd.factorize``) and integers likewise; other columns as
    ``rank_codes``."""
    codes, k = _number_ranks(values)
    if codes is None:
        codes, k = rank_codes(values)
    return (codes, k) if ascending else (np.where(codes < k, k - 1 - codes, k), k)


def _number_ranks(values: pd.Series | np.ndarray) -> tuple[np.ndarray | None, int]:
    """``value - min`` ranks of numpy integer or float64 values that are all whole numbers in
    a range at most four times the number of rows (``(None, 0)`` otherwise)."""
    if isinstance(values, pd.Series):
        if not isinstance(values.dtype, np.dtype):
            return None, 0
        values = values.to_numpy()
    if values.dtype.kind not in "iuf" or (values.dtype.kind == "f" and values.dtype != np.float64) \
            or not len(values):
        return None, 0
    missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
    present = values[~missing] if values.dtype.kind == "f" else values
    if not len(present):
        return np.zeros(len(values), dtype=np.int64), 0
    low, high = present.min(), present.max()
    if values.dtype.kind == "f" and (not (np.isfinite(low) and np.isfinite(high))
                                     or not np.array_equal(present, np.floor(present))):
        return None, 0
    if float(high) - float(low) > max(4 * len(values), 1024):
        return None, 0
    k = int(high) - int(low) + 1
    if values.dtype.kind == "f":
        return np.where(missing, k, values - low).astype(np.int64), k
    return values.astype(np.int64) - np.int64(low), k  # int64 first: no narrow overflow


def order_of_ranks(ranks: Sequence[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """The stable permutation sorting ``n`` rows by ``(codes, k)`` rank keys (codes ``0..k``,
    first key leading): one int64 argsort when the keys fit, else ``np.lexsort``."""
    if not ranks:
        return np.arange(n)
    sizes = [k + 1 for _, k in ranks]
    if float(np.prod(np.asarray(sizes, dtype=np.float64))) < 2.0 ** 62:
        combined = np.zeros(n, dtype=np.int64)
        for (codes, _), size in zip(ranks, sizes):
            combined = combined * size + codes
        return np.argsort(combined, kind="stable")
    return np.lexsort([codes for codes, _ in ranks][::-1])


def run_edges(sorted_codes: np.ndarray, mode: str = "first") -> np.ndarray:
    """Per position of already grouped ``sorted_codes``, whether it is the first (``mode``
    ``"first"``) or last (``"last"``) of its run of equal codes."""
    n = len(sorted_codes)
    if not n:
        return np.zeros(0, dtype=bool)
    change = sorted_codes[1:] != sorted_codes[:-1]
    return np.r_[True, change] if mode == "first" else np.r_[change, True]
