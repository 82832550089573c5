"""The public surface of the cbring package: names, headers, optional numpy."""

import inspect
import os
import subprocess

import pytest

import cbring
from cbring import _testing

PUBLIC = ["ANSI_ENCODING", "EVENT_FORMAT", "EVENT_SIZE", "MAX_CAPACITY", "MAX_RINGS", "PAYLOAD_MAX",
          "AsyncResult", "Batch",
          "DispatcherClosed", "EventsDropped",
          "InternetStatus", "Ring", "RingStats", "StatusEvent", "WinINetError", "error_name",
          "WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS", "WinHttpApi", "WinHttpError",
          "WinHttpSecureFailure", "WinHttpStatus",
          "get_include"]


def test_all_lists_exactly_the_public_names_and_each_exists():
    assert sorted(cbring.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(cbring, name) is not None


def test_public_types_say_they_belong_to_cbring():
    assert cbring.RingStats.__module__ == "cbring"
    assert cbring.InternetStatus.__module__ == "cbring"


def test_version_is_a_string():
    assert isinstance(cbring.__version__, str) and cbring.__version__


def test_get_include_is_a_folder_holding_the_c_headers():
    folder = cbring.get_include()
    assert os.path.isabs(folder)
    for header in ["record.h", "ring.h", "atomics.h", "wininet_compat.h", "status.h",
                   "wakeup.h", "clock.h", "decode.h", "winhttp.h", "winhttp_compat.h"]:
        assert os.path.isfile(os.path.join(folder, "cbring", header)), header


DOWNSTREAM = r"""
#include <stdio.h>
#include <string.h>
#include <cbring/status.h>

int main(void)
{
    static cbr_ring ring;
    cbr_record out[4];
    cbr_async_result ar = {0x1234, 0};
    if (cbr_ring_init(&ring, cbr_ring_round_capacity(3), CBR_OVERFLOW_DROP, 0, 0) != 0)
        return 1;
    cbr_ring_push_status(&ring, (cbr_hinternet)0x10, 7, 60, &ar, sizeof ar);
    size_t n = cbr_ring_drain(&ring, out, 4);
    cbr_ring_close(&ring);
    cbr_ring_destroy(&ring);
    printf("%u %zu %llu %u\n", (unsigned)sizeof(cbr_record), n,
           (unsigned long long)out[0].result, (unsigned)out[0].status);
    return 0;
}
"""


def test_a_c_program_compiled_against_get_include_uses_the_ring(tmp_path, c_compiler):
    source = tmp_path / "downstream.c"
    source.write_text(DOWNSTREAM)
    exe = tmp_path / "downstream"
    build = subprocess.run([*c_compiler, "-std=c11", "-D_GNU_SOURCE", "-I", cbring.get_include(),
                            str(source), "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert run.stdout.split() == ["64", "1", str(0x1234), "60"]


def test_importing_cbring_does_not_import_numpy(run_python):
    result = run_python("""
        import sys
        import cbring, cbring._testing
        print("numpy" in sys.modules)
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_everything_but_numpy_asarray_works_without_numpy(run_python):
    result = run_python("""
        import sys
        sys.modules["numpy"] = None          # any import of numpy now fails
        import cbring
        from cbring import _testing
        with cbring.Ring(8) as ring:
            _testing.call_status(ring.status_callback, 1, 2, 31, b"\\x05\\0\\0\\0")
            _testing.call_status(ring.status_callback, 1, 3, 31, b"\\x06\\0\\0\\0")
            batch = ring.drain(1)
            view = memoryview(batch)
            buf = bytearray(64)
            n = ring.drain_into(buf)
            print(len(batch), batch[0].info, view.format == cbring.EVENT_FORMAT, view.nbytes, n,
                  buf[8])
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "5", "True", "64", "1", "3"]


def test_aio_and_dispatch_are_attributes_of_cbring_imported_on_first_use(run_python):
    result = run_python("""
        import sys
        import cbring
        print("cbring.aio" in sys.modules, "asyncio" in sys.modules, "aio" in dir(cbring))
        print(cbring.aio.Dispatcher.__module__, cbring.dispatch.Dispatcher.__module__)
        try:
            cbring.nothing
        except AttributeError as e:
            print(e)
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False False True", "cbring.aio cbring.dispatch",
                                          "module 'cbring' has no attribute 'nothing'"]


def test_ring_signature_is_visible_to_inspect_and_its_defaults_are_the_real_ones():
    signature = inspect.signature(cbring.Ring)
    assert str(signature) == "(capacity=65536, overflow='spill', *, block_timeout=1.0)"
    with cbring.Ring() as ring:
        assert (ring.capacity, ring.overflow, ring.block_timeout) == (65536, "spill", 1.0)


def test_producers_signature_is_visible_to_inspect():
    assert list(inspect.signature(_testing.Producers).parameters) == [
        "callback", "threads", "events", "rate", "timed", "histogram", "group", "stamp",
        "keep_thread_state"]


@pytest.mark.parametrize("call, says", [
    (lambda: cbring.Ring(16, "spill", 1.0), "too many positional arguments"),
    (lambda: cbring.Ring(cap=16), "unexpected keyword argument 'cap'"),
    (lambda: cbring.Ring(16, capacity=16), "multiple values for argument 'capacity'"),
    (lambda: _testing.Producers(), "missing a required argument: 'callback'"),
    (lambda: _testing.Producers(1, threads=1, event=3), "unexpected keyword argument 'event'"),
])
def test_wrong_constructor_arguments_are_named_against_the_class_signature(call, says):
    with pytest.raises(TypeError) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(("Ring(capacity=65536, ", "Producers(callback, ")), message
    assert says in message and "__cinit__" not in message and "__init__" not in message
