"""itp_adam.derive.columns: each helper against the plain pandas operation it replaces (the second
implementation), on generated frames with missing values, blanks, whitespace, -0.0 and ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam.derive.columns import (
    column_codes,
    distinct_rows,
    first_positions,
    group_codes,
    has_duplicates,
    key_ranks,
    order_of_ranks,
    positions,
    row_positions,
    run_edges,
    sort_order,
    sort_order_unique,
    spread_text,
    text,
)

TEXTS = st.one_of(st.none(), st.sampled_from(["", " ", "a", "A", "a ", " b", "b", "é", "Z", "10", "9",
                                              "\x1cx", "\u00a0y", "2024-11-03T08:30"]))
FLOATS = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, -2.0, 1e300, np.inf]))


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    return pd.DataFrame({
        "t": pd.Series(draw(st.lists(TEXTS, min_size=n, max_size=n)), dtype="str"),
        "u": pd.Series(draw(st.lists(TEXTS, min_size=n, max_size=n)), dtype="str"),
        "f": pd.Series(draw(st.lists(FLOATS, min_size=n, max_size=n)), dtype="float64"),
        "i": pd.Series(draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n)), dtype="int64"),
        "d": pd.to_datetime(pd.Series(draw(st.lists(
            st.one_of(st.none(), st.sampled_from(["2024-01-01", "2023-12-31"])),
            min_size=n, max_size=n)), dtype=object)),
    })


COLUMNS = st.lists(st.sampled_from(["t", "u", "f", "i", "d"]), min_size=1, max_size=4, unique=True)


@settings(max_examples=60, deadline=None)
@given(frames(), COLUMNS, st.lists(st.booleans(), min_size=4, max_size=4))
def test_sort_order_is_pandas_stable_sort_with_missing_last(df: pd.DataFrame, names: list[str],
                                                            ascending: list[bool]) -> None:
    ascending = ascending[: len(names)]
    expected = df.sort_values(names, ascending=ascending, kind="stable", na_position="last").index
    got = sort_order([(df[name], up) for name, up in zip(names, ascending)], len(df))
    assert got.tolist() == expected.tolist()


@settings(max_examples=60, deadline=None)
@given(frames(), st.lists(st.sampled_from(["t", "u", "f", "i", "d"]), max_size=4, unique=True))
def test_sort_order_unique_is_pandas_sort_and_duplicated(df: pd.DataFrame, names: list[str]) -> None:
    order, unique = sort_order_unique([df[name] for name in names], len(df))
    if names:
        expected = df.sort_values(names, kind="stable", na_position="last").index
        assert order.tolist() == expected.tolist()
        assert unique == (not df.duplicated(names).any())
    else:  # no keys: every row has the same (empty) key
        assert order.tolist() == list(range(len(df))) and unique == (len(df) < 2)


@settings(max_examples=60, deadline=None)
@given(frames(), COLUMNS)
def test_group_codes_number_pandas_groups_in_order_of_appearance(df: pd.DataFrame,
                                                                 names: list[str]) -> None:
    expected = df.groupby(names, dropna=False, sort=False).ngroup()
    assert group_codes(df, names).tolist() == expected.tolist()


@settings(max_examples=60, deadline=None)
@given(frames(), COLUMNS)
def test_distinct_rows_give_back_every_value_exactly(df: pd.DataFrame, names: list[str]) -> None:
    codes, distinct = distinct_rows(df, names)
    back = distinct.iloc[codes].reset_index(drop=True)
    for name in names:  # text of the values (repr keeps -0.0 apart from 0.0)
        assert back[name].map(repr).tolist() == df[name].map(repr).tolist()
    assert len(distinct) == len(df[names].map(repr).drop_duplicates())


@settings(max_examples=60, deadline=None)
@given(frames())
def test_text_strips_and_blanks_missing_as_pandas_does(df: pd.DataFrame) -> None:
    for name in df:
        expected = df[name].astype("string").fillna("").str.strip().astype("str")
        got = text(df[name])
        assert got.dtype == "str" and got.tolist() == expected.tolist()
        assert got.index.equals(df.index)


@settings(max_examples=60, deadline=None)
@given(frames(), frames())
def test_positions_and_row_positions_are_index_and_merge_lookups(df: pd.DataFrame,
                                                                 other: pd.DataFrame) -> None:
    keys = other.drop_duplicates(["t"])
    assert positions(df["t"], keys["t"]).tolist() == pd.Index(keys["t"]).get_indexer(df["t"]).tolist()
    assert has_duplicates(other["t"]) == other["t"].duplicated().any()
    keys = other.drop_duplicates(["t", "i"]).reset_index(drop=True)
    merged = df[["t", "i"]].merge(keys[["t", "i"]].assign(_pos=np.arange(len(keys))),
                                  on=["t", "i"], how="left")["_pos"]
    assert row_positions(df, keys, ["t", "i"]).tolist() == merged.fillna(-1).astype(int).tolist()


@settings(max_examples=60, deadline=None)
@given(frames(), frames())
def test_row_positions_name_the_first_of_duplicate_keys(df: pd.DataFrame, other: pd.DataFrame) -> None:
    first = other[["t", "i"]].assign(_pos=np.arange(len(other))).drop_duplicates(["t", "i"])
    merged = df[["t", "i"]].merge(first, on=["t", "i"], how="left")["_pos"]
    assert row_positions(df, other, ["t", "i"]).tolist() == merged.fillna(-1).astype(int).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=40), st.integers(0, 3))
def test_first_positions_are_the_first_occurrences(codes: list[int], extra: int) -> None:
    size = max(codes, default=-1) + 1 + extra  # codes beyond the largest do not occur
    expected = [codes.index(code) if code in codes else -1 for code in range(size)]
    got = first_positions(np.array(codes, dtype=np.int64), size)
    assert got.tolist() == expected
    assert first_positions(np.array(codes, dtype=np.int64)).tolist() == expected[:size - extra]


def test_spread_text_takes_each_rows_result_and_keeps_missing() -> None:
    got = spread_text(np.array(["x", None, "z"], dtype=object), np.array([2, 0, 1, 2]),
                      pd.Index([5, 6, 7, 8]))
    assert got.dtype == "str"
    assert got.index.tolist() == [5, 6, 7, 8]
    assert got.iloc[[0, 1, 3]].tolist() == ["z", "x", "z"] and pd.isna(got.iloc[2])


@pytest.mark.parametrize(("values", "n_distinct"), [([2.0, -0.0, 0.0, np.nan, -0.0], 4),
                                                   ([np.nan, np.nan], 1)])
def test_distinct_rows_keep_negative_zero_apart_but_one_nan(values: list[float],
                                                            n_distinct: int) -> None:
    codes, distinct = distinct_rows(pd.DataFrame({"x": values}), ["x"])
    assert len(distinct) == n_distinct
    assert np.signbit(distinct["x"].to_numpy()[codes]).tolist() == np.signbit(values).tolist()


def test_remembered_codes_follow_each_new_column_and_a_frames_shallow_copies() -> None:
    """Codes are remembered per pyarrow array: a shallow copy reuses them, and a new column
    (often at the address of a freed one) never gets another column's codes."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        values = rng.choice(["a", "b", "c", None], size=int(rng.integers(1, 12))).tolist()
        df = pd.DataFrame({"t": pd.Series(values, dtype="str")})
        expected_groups = df.groupby("t", dropna=False, sort=False).ngroup().tolist()
        expected_order = df.sort_values("t", kind="stable", na_position="last").index.tolist()
        for frame in (df, df.copy(deep=False).assign(x=1)):  # the same array twice
            assert group_codes(frame, ["t"]).tolist() == expected_groups
            assert sort_order([(frame["t"], True)], len(frame)).tolist() == expected_order
        codes, distinct = column_codes(df["t"])
        assert [distinct[code].as_py() for code in codes] == values
        del df, frame


WHOLE = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 3.0, -7.0, 2.0, 1e15]))


@settings(max_examples=80, deadline=None)
@given(frames(), st.data())
def test_key_ranks_sort_as_pandas_with_whole_number_floats_and_integers(df: pd.DataFrame,
                                                                        data: st.DataObject) -> None:
    # "w": whole-number floats (ranked as value - min unless 1e15 widens the range), with -0.0
    # tied to 0.0 and missing last in both directions, as pandas sorts them
    df["w"] = pd.Series(data.draw(st.lists(WHOLE, min_size=len(df), max_size=len(df))),
                        dtype="float64")
    names = data.draw(st.lists(st.sampled_from(["t", "f", "i", "w"]), min_size=1, max_size=4,
                               unique=True))
    ascending = data.draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
    expected = df.sort_values(names, ascending=ascending, kind="stable", na_position="last").index
    as_arrays = data.draw(st.booleans())  # numpy arrays rank as their Series do
    ranks = [key_ranks(df[name].to_numpy() if as_arrays and name != "t" else df[name], up)
             for name, up in zip(names, ascending)]
    assert order_of_ranks(ranks, len(df)).tolist() == expected.tolist()


def test_key_ranks_of_narrow_integers_and_all_missing() -> None:
    codes, k = key_ranks(np.array([-100, 100, 0], dtype=np.int8))  # 100 - (-100) overflows int8
    assert codes.tolist() == [0, 200, 100] and k == 201
    codes, k = key_ranks(np.array([np.nan, np.nan]), ascending=False)
    assert codes.tolist() == [k, k]


@given(st.lists(st.integers(0, 3), max_size=20))
def test_run_edges_mark_first_and_last_of_each_run(values: list[int]) -> None:
    codes = np.sort(np.asarray(values, dtype=np.int64))
    series = pd.Series(codes)
    assert run_edges(codes, "first").tolist() == (~series.duplicated(keep="first")).tolist()
    assert run_edges(codes, "last").tolist() == (~series.duplicated(keep="last")).tolist()


def test_arrow_array_keeps_one_chunk_without_copying_and_joins_several():
    import pyarrow as pa

    from itp_adam.derive.columns import arrow_array

    one = pa.chunked_array([pa.array(["a", None, " b"], pa.large_string())])
    series = pd.Series(pd.array(one, dtype="str"))
    got = arrow_array(series)
    assert got.to_pylist() == ["a", None, " b"]
    assert got.buffers()[2].address == one.chunk(0).buffers()[2].address  # the same bytes
    two = pa.chunked_array([pa.array(["a"], pa.large_string()), pa.array([None, "c"], pa.large_string())])
    assert arrow_array(pd.Series(pd.array(two, dtype="str"))).to_pylist() == ["a", None, "c"]


@settings(max_examples=80, deadline=None)
@given(st.lists(TEXTS, max_size=25), st.lists(st.integers(0, 25), max_size=4))
def test_codes_of_a_column_in_several_chunks_without_joining_them(values, cuts):
    # a column of a dataset merged from partitions is one pyarrow chunk per stretch: it is
    # encoded chunk by chunk with one dictionary, as the values in order of first appearance
    import pyarrow as pa

    bounds = sorted({0, len(values), *[min(c, len(values)) for c in cuts]})
    chunks = [pa.array(values[a:b], pa.large_string()) for a, b in zip(bounds, bounds[1:])]
    column = pd.Series(pd.array(pa.chunked_array(chunks, pa.large_string()), dtype="str"))
    first_seen: dict = {}
    for value in values:  # a second implementation: a dict in order of first appearance
        first_seen.setdefault(value, len(first_seen))
    codes, distinct = column_codes(column)
    assert codes.tolist() == [first_seen[v] for v in values]
    assert distinct.to_pylist() == list(first_seen)
    assert positions(column, pd.Series(list(reversed(first_seen)), dtype="str")).tolist() == \
        [len(first_seen) - 1 - first_seen[v] for v in values]


def test_concat_text_codes_text_and_text_bytes():
    """Rows put together from text columns and constants, by hand; the bytes of a slice of a
    text array are its values' bytes only; a missing value has no text."""
    import pyarrow as pa

    from itp_adam.derive.columns import codes_text, concat_text, text_bytes

    names = codes_text(["Ann", "Bo", "Cé"], np.array([2, 0, 0, 1]))
    assert names.to_pylist() == ["Cé", "Ann", "Ann", "Bo"]
    rows = concat_text(["<", names, pa.array(["1", "2", "3", "4"]), ">"])
    assert rows.to_pylist() == ["<Cé1>", "<Ann2>", "<Ann3>", "<Bo4>"]
    assert text_bytes(rows) == "<Cé1><Ann2><Ann3><Bo4>".encode()
    assert text_bytes(rows.slice(1, 2)) == b"<Ann2><Ann3>"
    assert text_bytes(pa.array(["ab", "c"]).slice(1)) == b"c"  # 32-bit offsets
    assert text_bytes(rows.slice(0, 0)) == b""
    with pytest.raises(ValueError, match="missing"):
        text_bytes(pa.array(["a", None]))
