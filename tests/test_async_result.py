"""AsyncResult: WinINet's INTERNET_ASYNC_RESULT in its native layout."""

import copy
import ctypes
import pickle
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbring import AsyncResult

DWORD_PTR_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_void_p)) - 1


class INTERNET_ASYNC_RESULT(ctypes.Structure):
    _fields_ = [("dwResult", ctypes.c_size_t), ("dwError", ctypes.c_uint32)]


def test_size_is_that_of_the_c_struct_with_its_padding():
    assert AsyncResult.SIZE == ctypes.sizeof(INTERNET_ASYNC_RESULT)
    assert AsyncResult.SIZE == 2 * ctypes.sizeof(ctypes.c_void_p)


def test_defaults_are_zero():
    r = AsyncResult()
    assert (r.dwResult, r.dwError) == (0, 0)
    assert bytes(r) == bytes(AsyncResult.SIZE)


def test_bytes_is_the_native_layout_with_padding_zeroed():
    r = AsyncResult(0x0102030405060708, 0x0A0B0C0D)
    want = bytes(INTERNET_ASYNC_RESULT(0x0102030405060708, 0x0A0B0C0D))
    assert bytes(r) == want
    assert bytes(r) == struct.pack("=QI4x", 0x0102030405060708, 0x0A0B0C0D)


@given(st.integers(0, DWORD_PTR_MAX), st.integers(0, 2**32 - 1))
def test_from_bytes_reads_back_what_bytes_wrote(result, error):
    r = AsyncResult(result, error)
    back = AsyncResult.from_bytes(bytes(r))
    assert back == r
    assert (back.dwResult, back.dwError) == (result, error)
    assert hash(back) == hash(r)


def test_from_bytes_accepts_any_bytes_like_object():
    c = INTERNET_ASYNC_RESULT(77, 5)
    for data in (bytes(c), bytearray(bytes(c)), memoryview(bytes(c)), c):
        assert AsyncResult.from_bytes(data) == AsyncResult(77, 5)


@pytest.mark.parametrize("size", [0, 8, 12, 15, 17, 32])
def test_from_bytes_of_the_wrong_size_raises_value_error_with_the_sizes(size):
    with pytest.raises(ValueError, match=rf"{AsyncResult.SIZE} bytes, got {size}"):
        AsyncResult.from_bytes(bytes(size))


def test_fields_take_their_whole_c_ranges():
    r = AsyncResult(DWORD_PTR_MAX, 2**32 - 1)
    assert (r.dwResult, r.dwError) == (DWORD_PTR_MAX, 2**32 - 1)


def test_fields_are_read_only_an_async_result_is_a_value():
    r = AsyncResult(1, 2)
    for field in ("dwResult", "dwError"):
        with pytest.raises(AttributeError):
            setattr(r, field, 5)
    assert (r.dwResult, r.dwError) == (1, 2)


@pytest.mark.parametrize("field, value", [("dwResult", -1), ("dwResult", DWORD_PTR_MAX + 1),
                                          ("dwError", -1), ("dwError", 2**32)])
def test_fields_out_of_range_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        AsyncResult(**{field: value})


@pytest.mark.parametrize("field, value", [("dwResult", 1.0), ("dwResult", "1"), ("dwError", None)])
def test_fields_that_are_not_integers_raise_type_error_naming_the_field(field, value):
    with pytest.raises(TypeError, match=field):
        AsyncResult(**{field: value})


def test_equality_compares_both_fields_and_nothing_else():
    assert AsyncResult(1, 2) == AsyncResult(1, 2)
    assert AsyncResult(1, 2) != AsyncResult(1, 3)
    assert AsyncResult(1, 2) != AsyncResult(2, 2)
    assert AsyncResult(1, 2) != (1, 2)
    assert len({AsyncResult(1, 2), AsyncResult(1, 2), AsyncResult(0, 0)}) == 2


def test_repr_shows_both_fields():
    assert repr(AsyncResult(5, 12002)) == "AsyncResult(dwResult=5, dwError=12002)"


@given(st.integers(0, DWORD_PTR_MAX), st.integers(0, 2**32 - 1))
def test_pickle_and_copy_give_an_equal_value(result, error):
    r = AsyncResult(result, error)
    for back in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        assert back == r and hash(back) == hash(r)
        assert type(back) is AsyncResult
