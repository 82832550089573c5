"""The text a status carries reaches Python whole, decoded, through both callbacks.

Ring.status_callback is for InternetSetStatusCallbackA (every text status
ANSI); Ring.status_callback_w for InternetSetStatusCallbackW, which gets
RESOLVING_NAME and REDIRECT in UTF-16LE and the address statuses in ANSI,
as WinINet passes them.  A wide string's dwStatusInformationLength may
count characters (Windows, for RESOLVING_NAME) or bytes (Wine): either
way the text is read up to its terminator, never past it, nor past the
length, nor past PAYLOAD_MAX bytes.
"""

import copy
import pickle
import sys

import numpy as np
import pytest

import cbring
from cbring import InternetStatus as S
from cbring import _testing

TRUNCATED, PAYLOAD = 1, 16
ADDRESS_STATUSES = [S.NAME_RESOLVED, S.CONNECTING_TO_SERVER, S.CONNECTED_TO_SERVER]
WIDE_STATUSES = [S.RESOLVING_NAME, S.REDIRECT]
TEXT_STATUSES = WIDE_STATUSES[:1] + ADDRESS_STATUSES + WIDE_STATUSES[1:]

LONG_URL = "http://downloads.example.test:8080/" + "/".join(
    f"segment{i:04d}" for i in range(200))[:1965] + "?q=end"
LONG_HOST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 5]) + ".test"


def ansi(text):
    return text.encode("ascii") + b"\0"


def wide(text):
    return text.encode("utf-16-le") + b"\0\0"


def chars(text):
    """The length in characters, with the NUL, as Windows gives RESOLVING_NAME's."""
    return len(text.encode("utf-16-le")) // 2 + 1


def one(ring):
    batch = ring.drain()
    assert len(batch) == 1
    return batch[0]


def call(callback, status, info, length=None, context=0):
    _testing.call_status(callback, 1, context, status, info, length)


def test_the_long_test_strings_are_as_long_as_the_issue_asks():
    assert len(LONG_URL) == 2006 and len(LONG_HOST) >= 200
    assert cbring.PAYLOAD_MAX >= 4168  # a 2,084-character URL in UTF-16, without its NUL


@pytest.mark.parametrize("status", TEXT_STATUSES)
@pytest.mark.parametrize("text", ["example.test", "10.0.0.1", "a" * 19, "a" * 20, "a" * 21,
                                  pytest.param(LONG_URL, id="url-2006"),
                                  pytest.param(LONG_HOST, id="host-201")])
def test_every_text_status_through_the_a_callback_is_whole_ansi_text(ring, status, text):
    call(ring.status_callback, status, ansi(text))
    event = one(ring)
    assert event.info == text and type(event.info) is str
    assert event.raw == text.encode("ascii")
    assert event.length == len(text) + 1
    assert not event.truncated


@pytest.mark.parametrize("status", WIDE_STATUSES)
@pytest.mark.parametrize("text", ["example.test", "a" * 9, "a" * 10, "a" * 11,
                                  pytest.param(LONG_URL, id="url-2006"),
                                  pytest.param(LONG_HOST, id="host-201")])
@pytest.mark.parametrize("count", ["bytes", "characters"])
def test_wide_statuses_through_the_w_callback_are_whole_with_either_length(ring, status, text,
                                                                             count):
    data = wide(text)
    length = len(data) if count == "bytes" else chars(text)
    call(ring.status_callback_w, status, data, length)
    event = one(ring)
    assert event.info == text
    assert event.raw == text.encode("utf-16-le")
    assert event.length == length
    assert not event.truncated


@pytest.mark.parametrize("status", ADDRESS_STATUSES)
@pytest.mark.parametrize("text", ["127.0.0.1", "fe80::1234:5678:9abc:def0%eth0",
                                  pytest.param("a" * 200, id="a-200")])
def test_address_statuses_through_the_w_callback_stay_ansi(ring, status, text):
    call(ring.status_callback_w, status, ansi(text))
    event = one(ring)
    assert event.info == text and event.raw == text.encode("ascii")
    assert event.length == len(text) + 1 and not event.truncated


@pytest.mark.parametrize("text", ["bücher.example", "例え.テスト", "host-\U0001F600.test",
                                  pytest.param("http://example.test/ü/€/\u4e2d\u6587?" + "ß" * 900,
                                               id="url-ß-927")])
@pytest.mark.parametrize("count", ["bytes", "characters"])
def test_non_ascii_text_through_the_w_callback_is_decoded_from_utf16(ring, text, count):
    data = wide(text)
    length = len(data) if count == "bytes" else chars(text)
    for status in WIDE_STATUSES:
        call(ring.status_callback_w, status, data, length)
    for event in ring.drain():
        assert event.info == text and not event.truncated


def test_a_lone_surrogate_through_the_w_callback_is_kept_not_an_error(ring):
    data = "ab".encode("utf-16-le") + b"\x00\xd8" + "cd".encode("utf-16-le") + b"\0\0"
    call(ring.status_callback_w, S.REDIRECT, data)
    event = one(ring)
    assert event.info == "ab\ud800cd"
    assert event.raw == data[:-2]


def test_ansi_text_decodes_with_the_documented_codec(ring):
    raw = bytes(range(1, 256))
    call(ring.status_callback, S.REDIRECT, raw + b"\0")
    event = one(ring)
    assert event.raw == raw
    assert cbring.ANSI_ENCODING == ("mbcs" if sys.platform == "win32" else "latin-1")
    assert event.info == raw.decode(cbring.ANSI_ENCODING, "replace")


def test_ansi_text_without_a_terminator_is_read_to_its_length_and_no_further(ring):
    call(ring.status_callback, S.RESOLVING_NAME, b"example.testXXXX\0", 12)
    event = one(ring)
    assert event.info == "example.test" and event.length == 12


def test_wide_text_without_a_terminator_and_a_character_count_is_read_to_twice_it(ring):
    data = "example.test".encode("utf-16-le")
    call(ring.status_callback_w, S.RESOLVING_NAME, data + "XX".encode("utf-16-le") + b"\0\0",
         len(data) // 2)
    event = one(ring)
    assert event.info == "example.test" and event.length == 12


def test_wide_text_without_a_terminator_and_a_byte_count_is_read_to_twice_that_and_no_further(ring):
    # a byte count read as characters: 2 x length bytes may be read, and are
    # here (the caller's buffer must hold them, as README's trust section says)
    data = "example.test".encode("utf-16-le")
    after = ("Z" * 12 + "never read").encode("utf-16-le") + b"\0\0"
    call(ring.status_callback_w, S.REDIRECT, data + after, len(data))
    event = one(ring)
    assert event.info == "example.test" + "Z" * 12
    assert event.length == len(data)


@pytest.mark.parametrize("callback, data", [("status_callback", b"short\0and more"),
                                            ("status_callback_w", wide("short") + wide("and more"))])
def test_text_ends_at_its_terminator_within_the_length(ring, callback, data):
    call(getattr(ring, callback), S.REDIRECT, data)
    event = one(ring)
    assert event.info == "short" and event.length == len(data)


@pytest.mark.parametrize("callback, data", [("status_callback", b"\0"), ("status_callback_w", b"\0\0")])
@pytest.mark.parametrize("status", WIDE_STATUSES)
def test_an_empty_string_is_empty_text(ring, callback, data, status):
    call(getattr(ring, callback), status, data)
    event = one(ring)
    assert event.info == "" and event.raw == b""
    assert event.length == len(data) and not event.truncated


def test_an_empty_wide_string_counted_in_characters_is_empty_text(ring):
    call(ring.status_callback_w, S.RESOLVING_NAME, b"\0\0", 1)
    event = one(ring)
    assert event.info == "" and event.length == 1


@pytest.mark.parametrize("callback, encode, unit", [("status_callback", lambda t: t.encode("ascii"), 1),
                                                    ("status_callback_w", lambda t: t.encode("utf-16-le"), 2)])
def test_text_beyond_payload_max_keeps_a_prefix_of_payload_max_bytes_and_is_truncated(ring, callback,
                                                                                     encode, unit):
    text = "x" * (cbring.PAYLOAD_MAX // unit + 100)
    data = encode(text) + b"\0" * unit
    call(getattr(ring, callback), S.REDIRECT, data)
    event = one(ring)
    assert event.truncated and event.length == len(data)
    assert event.raw == encode(text)[:cbring.PAYLOAD_MAX]
    assert event.info == text[:cbring.PAYLOAD_MAX // unit]


def test_text_of_exactly_payload_max_bytes_is_whole(ring):
    text = "y" * cbring.PAYLOAD_MAX
    call(ring.status_callback, S.REDIRECT, text.encode("ascii") + b"\0")
    event = one(ring)
    assert event.info == text and not event.truncated


def test_unknown_statuses_keep_their_bytes_as_bytes(ring):
    call(ring.status_callback, 9999, b"\x01\x02\x03")
    call(ring.status_callback_w, 9999, b"\x01\x02\x03")
    assert [(e.info, e.raw) for e in ring.drain()] == [(b"\x01\x02\x03", b"\x01\x02\x03")] * 2


def test_statuses_without_text_have_no_raw_bytes(ring):
    call(ring.status_callback, S.REQUEST_SENT, (7).to_bytes(4, sys.byteorder))
    event = one(ring)
    assert event.info == 7 and event.raw is None


def test_an_event_with_a_long_payload_is_a_value(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL[:-1] + "!"))
    a, b, c = ring.drain()
    assert a.flags & PAYLOAD
    assert a != b  # seq differs
    again = pickle.loads(pickle.dumps(a))
    assert again == a and hash(again) == hash(a) and again.info == LONG_URL
    assert copy.copy(a) is a and copy.deepcopy(a) is a
    assert a.raw[:-1] == c.raw[:-1] and a.raw != c.raw


def test_batch_payload_gives_the_whole_bytes_of_each_record(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback_w, S.RESOLVING_NAME, wide(LONG_HOST))
    call(ring.status_callback, S.NAME_RESOLVED, ansi("10.0.0.1"))
    call(ring.status_callback, S.REQUEST_SENT, (5).to_bytes(4, sys.byteorder))
    batch = ring.drain()
    assert [batch.payload(i) for i in range(4)] == [
        LONG_URL.encode(), LONG_HOST.encode("utf-16-le"), b"10.0.0.1", None]
    assert batch.payload(-4) == batch[0].raw
    with pytest.raises(IndexError):
        batch.payload(4)


def test_the_zero_copy_view_shows_a_long_payload_as_size_and_offset(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback, S.RESOLVING_NAME, ansi(LONG_HOST))
    batch = ring.drain()
    records = np.asarray(batch)
    assert records.dtype.itemsize == 64
    sizes = records["result"] >> np.uint64(32)
    offsets = records["result"] & np.uint64(0xFFFFFFFF)
    assert (records["flags"] & PAYLOAD).all()
    assert sizes.tolist() == [len(LONG_URL), len(LONG_HOST)]
    assert offsets.tolist() == [0, len(LONG_URL)]
    assert records["data_len"].tolist() == [20, 20]
    assert records["data"].tolist() == [LONG_URL.encode()[:20], LONG_HOST.encode()[:20]]


def test_slices_and_pickles_of_a_batch_keep_their_payloads(ring):
    urls = [LONG_URL[:100 + 37 * i] for i in range(6)]
    for u in urls:
        call(ring.status_callback, S.REDIRECT, ansi(u))
        call(ring.status_callback, S.REQUEST_SENT, (1).to_bytes(4, sys.byteorder))
    batch = ring.drain()
    assert [e.info for e in batch[::2]] == urls
    assert [e.info for e in batch[4:0:-2]] == [urls[2], urls[1]]
    assert [batch[::2].payload(i) for i in range(6)] == [u.encode() for u in urls]
    again = pickle.loads(pickle.dumps(batch))
    assert list(again) == list(batch)
    assert again.column("info")[::2] == urls


def test_tuples_and_column_decode_text_as_the_events_do(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback_w, S.RESOLVING_NAME, wide("bücher.example"))
    call(ring.status_callback, S.CONNECTED_TO_SERVER, ansi("10.0.0.1"))
    batch = ring.drain()
    assert batch.column("info") == [LONG_URL, "bücher.example", "10.0.0.1"]
    assert batch.column("raw") == [e.raw for e in batch]
    assert batch.tuples("info", "truncated", "length") == [
        (e.info, e.truncated, e.length) for e in batch]


def test_drain_into_with_a_payload_buffer_gives_each_long_payload_whole(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback, S.NAME_RESOLVED, ansi("10.0.0.1"))
    call(ring.status_callback_w, S.RESOLVING_NAME, wide(LONG_HOST))
    records = np.zeros(8, dtype=cbring.EVENT_DTYPE)
    payloads = bytearray(cbring.PAYLOAD_MAX)
    assert ring.drain_into(records, payloads) == 3
    got = []
    for r in records[:3]:
        if r["flags"] & PAYLOAD:
            size, offset = int(r["result"]) >> 32, int(r["result"]) & 0xFFFFFFFF
            got.append(bytes(payloads[offset:offset + size]))
        else:
            got.append(r["data"][:r["data_len"]])
    assert got == [LONG_URL.encode(), b"10.0.0.1", LONG_HOST.encode("utf-16-le")]
    assert ring.stats.payloads_truncated == 0


def test_drain_into_without_a_payload_buffer_truncates_long_payloads_and_counts_them(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    call(ring.status_callback, S.NAME_RESOLVED, ansi("10.0.0.1"))
    records = np.zeros(8, dtype=cbring.EVENT_DTYPE)
    assert ring.drain_into(records) == 2
    assert records["flags"][0] & TRUNCATED and not records["flags"][1] & TRUNCATED
    assert records["data"][0] == LONG_URL.encode()[:20]
    assert ring.stats.payloads_truncated == 1


def test_drain_into_with_a_small_payload_buffer_stops_before_what_does_not_fit(make_ring):
    ring = make_ring(64)
    for i in range(5):
        call(ring.status_callback, S.REDIRECT, ansi(LONG_URL), context=i)
    records = bytearray(64 * 16)
    payloads = bytearray(cbring.PAYLOAD_MAX)  # two 2,006-byte URLs fit, not three
    seen = []
    while True:
        n = ring.drain_into(records, payloads)
        if n == 0:
            break
        batch = np.frombuffer(records, dtype=cbring.EVENT_DTYPE, count=n)
        for r in batch:
            size, offset = int(r["result"]) >> 32, int(r["result"]) & 0xFFFFFFFF
            assert bytes(payloads[offset:offset + size]) == LONG_URL.encode()
            seen.append(int(r["context"]))
    assert seen == list(range(5))
    assert ring.stats.payloads_truncated == 0


@pytest.mark.parametrize("make", [
    pytest.param(lambda: np.zeros(64, dtype=np.uint64), id="numpy-uint64"),
    pytest.param(lambda: np.zeros(128, dtype=np.float32), id="numpy-float32"),
    pytest.param(lambda: np.zeros(32, dtype="V16"), id="numpy-void16"),
    pytest.param(lambda: np.zeros(4, dtype="V128"), id="numpy-void128"),
])
def test_drain_into_takes_any_writable_contiguous_buffer_by_bytes(ring, make):
    call(ring.status_callback, S.NAME_RESOLVED, ansi("10.0.0.1"), context=77)
    buffer = make()
    assert ring.drain_into(buffer) == 1
    record = np.frombuffer(memoryview(buffer).cast("B"), dtype=cbring.EVENT_DTYPE, count=1)[0]
    assert record["context"] == 77 and record["data"] == b"10.0.0.1"


def test_drain_into_takes_a_payload_buffer_of_any_item_size(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    records = np.zeros(4, dtype=cbring.EVENT_DTYPE)
    payloads = np.zeros(cbring.PAYLOAD_MAX // 8, dtype=np.uint64)
    assert ring.drain_into(records, payloads) == 1
    size, offset = int(records["result"][0]) >> 32, int(records["result"][0]) & 0xFFFFFFFF
    assert payloads.tobytes()[offset:offset + size] == LONG_URL.encode()


@pytest.mark.parametrize("payloads, error, match", [
    pytest.param(bytes(8192), TypeError, "payloads must be writable", id="bytes"),
    pytest.param(bytearray(100), ValueError, "at least PAYLOAD_MAX", id="small"),
    pytest.param(np.zeros((128, 128), dtype=np.uint8)[:, ::2], ValueError, "C-contiguous",
                 id="strided"),
    pytest.param("x" * 8192, TypeError, None, id="str"),
])
def test_a_refused_payload_buffer_raises_and_nothing_is_lost(ring, payloads, error, match):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    with pytest.raises(error, match=match):
        ring.drain_into(bytearray(640), payloads)
    assert one(ring).info == LONG_URL


def test_overlapping_record_and_payload_buffers_are_refused(ring):
    call(ring.status_callback, S.REDIRECT, ansi(LONG_URL))
    shared = bytearray(64 * 4 + cbring.PAYLOAD_MAX)
    view = memoryview(shared)
    with pytest.raises(ValueError, match="overlap"):
        ring.drain_into(view[:256], view[128:])
    assert ring.drain_into(view[:256], view[256:]) == 1


@pytest.mark.parametrize("overflow", ["spill", "drop", "block"])
def test_long_payloads_come_whole_and_in_order_when_the_ring_overflows(make_ring, overflow):
    ring = make_ring(4, overflow, block_timeout=0)
    urls = [LONG_URL[:300 + i] for i in range(12)]
    for i, u in enumerate(urls):
        call(ring.status_callback, S.REDIRECT, ansi(u), context=i)
    batch = ring.drain()
    stats = ring.stats
    contexts = [e.context for e in batch]
    assert contexts == sorted(contexts) and len(contexts) + stats.dropped == 12
    for e in batch:
        if e.truncated:  # only where the ring could not keep it, and counted
            assert e.info == urls[e.context][:len(e.info)]
        else:
            assert e.info == urls[e.context]
    assert sum(e.truncated for e in batch) == stats.payloads_truncated
    if overflow == "spill":
        assert contexts == list(range(12)) and stats.payloads_truncated == 0


def test_text_from_native_threads_through_both_callbacks_comes_whole_and_counted(make_ring):
    """Two threads per callback replay WinINet's strings, long and short,
    while this thread drains: every event arrives once, in each thread's
    order, every string whole."""
    ring = make_ring(256)
    calls_a = [(S.RESOLVING_NAME, ansi(LONG_HOST), None), (S.NAME_RESOLVED, ansi("10.0.0.1"), None),
               (S.CONNECTING_TO_SERVER, ansi("10.0.0.1"), None), (S.REDIRECT, ansi(LONG_URL), None),
               (S.REQUEST_SENT, (9).to_bytes(4, sys.byteorder), None), (S.REDIRECT, b"\0", None)]
    calls_w = [(S.RESOLVING_NAME, wide(LONG_HOST), chars(LONG_HOST)),
               (S.CONNECTED_TO_SERVER, ansi("10.0.0.1"), None),
               (S.REDIRECT, wide(LONG_URL), None), (S.REDIRECT, wide("http://例え.test/"), chars("http://例え.test/"))]
    want = {0: [LONG_HOST, "10.0.0.1", "10.0.0.1", LONG_URL, 9, ""],
            1: [LONG_HOST, "10.0.0.1", LONG_URL, "http://例え.test/"]}
    rounds = 150
    a = _testing.Replay(ring.status_callback, calls_a, threads=2, rounds=rounds)
    w = _testing.Replay(ring.status_callback_w, calls_w, threads=2, rounds=rounds, first_thread=2)
    seen = {}

    def take(batch):
        for handle, context, info, truncated in batch.tuples("handle", "context", "info", "truncated"):
            assert not truncated, (handle, context)
            seen.setdefault(handle - 1, []).append((context, info))

    with a, w:
        while not (a.finished() and w.finished()):
            ring.wait(0.1)
            take(ring.drain())
    take(ring.drain())  # the threads are joined: what they pushed is all there
    stats = ring.stats
    assert stats.pushed == stats.drained == a.total + w.total
    assert stats.dropped == stats.late == stats.payloads_truncated == 0
    for thread in range(4):
        texts = want[thread // 2]
        n = len(texts)
        assert seen[thread] == [(_testing.replay_context(thread, r * n + k), texts[k])
                                for r in range(rounds) for k in range(n)]


def test_each_ring_has_its_own_a_and_w_callbacks(make_ring):
    a, b = make_ring(8), make_ring(8)
    addresses = {a.status_callback, a.status_callback_w, b.status_callback, b.status_callback_w}
    assert len(addresses) == 4
    call(a.status_callback_w, S.REDIRECT, wide("http://a.test/"))
    call(b.status_callback_w, S.REDIRECT, wide("http://b.test/"))
    assert [e.info for e in a.drain()] == ["http://a.test/"]
    assert [e.info for e in b.drain()] == ["http://b.test/"]


def test_the_w_callback_of_a_closed_ring_only_counts_late_calls(make_ring):
    ring = make_ring(8)
    ring.close()
    call(ring.status_callback_w, S.REDIRECT, wide(LONG_URL))
    stats = ring.stats
    assert (stats.late, stats.pushed, stats.payloads_truncated) == (1, 0, 0)
    assert len(ring.drain()) == 0


def test_the_w_callback_of_a_collected_ring_only_counts_late_calls():
    ring = cbring.Ring(8)
    address = ring.status_callback_w
    del ring  # refcounting frees it
    before = cbring._core._orphaned_late_calls()
    call(address, S.REDIRECT, wide(LONG_URL))
    call(address, S.RESOLVING_NAME, wide("example.test"))
    assert cbring._core._orphaned_late_calls() - before == 2
