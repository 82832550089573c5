"""End-to-end events/s, native producer threads -> Python, 1 and 2 producers.

The same cases as ``python -m cbring bench e2e`` (cbring._bench.e2e, whose
docstring says what each row does).  Python-object rows build and keep the
five-field tuple (handle, context, status, result, error) per event:
Batch.tuples, the StatusEvent loop and every per-event peer (cffi, ctypes,
the pywin32-shaped extension, SimpleQueue).  Zero-copy rows make no
per-event object and are compared with the C consumer.  "spill" rows use
the Ring's default overflow policy, the others overflow="block".  Each run
checks that every event arrived."""


def test_e2e_1p_batch_tuples(case):
    case("e2e", "Batch.tuples, 1p")


def test_e2e_1p_batch_tuples_spill(case):
    case("e2e", "Batch.tuples spill, 1p")


def test_e2e_1p_statusevent_loop(case):
    case("e2e", "StatusEvent loop, 1p")


def test_e2e_1p_statusevent_status_code(case):
    case("e2e", "StatusEvent status_code, 1p")


def test_e2e_1p_cffi_callback(case):
    case("e2e", "cffi callback, 1p")


def test_e2e_1p_cffi_def_extern(case):
    case("e2e", "cffi def_extern, 1p")


def test_e2e_1p_ctypes(case):
    case("e2e", "ctypes, 1p")


def test_e2e_1p_ctypes_kept_tstate(case):
    case("e2e", "ctypes kept tstate, 1p")


def test_e2e_1p_pywin32_shaped(case):
    case("e2e", "pywin32-shaped, 1p")


def test_e2e_1p_simplequeue(case):
    case("e2e", "SimpleQueue, 1p")


def test_e2e_1p_zero_copy_drain_into(case):
    case("e2e", "zero-copy drain_into, 1p")


def test_e2e_1p_zero_copy_drain_into_spill(case):
    case("e2e", "zero-copy drain_into spill, 1p")


def test_e2e_1p_zero_copy_buffer(case):
    case("e2e", "zero-copy buffer, 1p")


def test_e2e_1p_c_consumer(case):
    case("e2e", "C consumer, 1p")


def test_e2e_2p_batch_tuples(case):
    case("e2e", "Batch.tuples, 2p")


def test_e2e_2p_batch_tuples_spill(case):
    case("e2e", "Batch.tuples spill, 2p")


def test_e2e_2p_statusevent_loop(case):
    case("e2e", "StatusEvent loop, 2p")


def test_e2e_2p_statusevent_status_code(case):
    case("e2e", "StatusEvent status_code, 2p")


def test_e2e_2p_cffi_callback(case):
    case("e2e", "cffi callback, 2p")


def test_e2e_2p_cffi_def_extern(case):
    case("e2e", "cffi def_extern, 2p")


def test_e2e_2p_ctypes(case):
    case("e2e", "ctypes, 2p")


def test_e2e_2p_ctypes_kept_tstate(case):
    case("e2e", "ctypes kept tstate, 2p")


def test_e2e_2p_pywin32_shaped(case):
    case("e2e", "pywin32-shaped, 2p")


def test_e2e_2p_simplequeue(case):
    case("e2e", "SimpleQueue, 2p")


def test_e2e_2p_zero_copy_drain_into(case):
    case("e2e", "zero-copy drain_into, 2p")


def test_e2e_2p_zero_copy_drain_into_spill(case):
    case("e2e", "zero-copy drain_into spill, 2p")


def test_e2e_2p_zero_copy_buffer(case):
    case("e2e", "zero-copy buffer, 2p")


def test_e2e_2p_zero_copy_shards(case):
    case("e2e", "zero-copy shards, 2p")


def test_e2e_2p_c_consumer(case):
    case("e2e", "C consumer, 2p")
