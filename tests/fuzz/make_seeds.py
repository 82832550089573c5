"""Writes the hand-made seeds of tests/fuzz/corpus/, one per decoding case;
libFuzzer adds what it finds (tests/fuzz/run.sh --merge).  Usage: make_seeds.py DIR"""
import struct, os, sys
out = sys.argv[1]
def unit(mode, status, length, payload, handle=0x1234, ctx=7):
    return bytes([mode]) + struct.pack("<IIQQ", status, length, handle, ctx) + payload
host = b"downloads.example.test\0"
seeds = {
 "handle_created": unit(0, 60, 0, struct.pack("<QI4x", 0xABCDEF, 0)),
 "handle_created_bare": unit(0, 60, 0, struct.pack("<Q", 0xABCDEF)),
 "request_complete_ok": unit(0, 100, 0, struct.pack("<QI4x", 1, 0)),
 "request_complete_err": unit(0, 100, 0, struct.pack("<QI4x", 0, 12002)),
 "request_complete_short12": unit(0, 100, 0, struct.pack("<QI", 0, 12002)),
 "request_sent": unit(0, 31, 0, struct.pack("<I", 512)),
 "response_received_short": unit(0, 41, 0, b"\x01\x02"),
 "state_change": unit(0, 200, 0, struct.pack("<I", 1)),
 "cookie_sent": unit(0, 320, 0, struct.pack("<I", 3)),
 "handle_closing": unit(0, 70, 0, struct.pack("<Q", 0xDEAD)),
 "resolving_name": unit(0, 10, 0, host),
 "name_resolved_short": unit(0, 11, 0, b"10.0.0.1\0"),
 "redirect_exactly_20": unit(0, 110, 0, b"x" * 20),
 "redirect_21": unit(0, 110, 0, b"y" * 21),
 "unknown_status": unit(0, 0xFFFFFFFF, 0, b"\xff" * 7),
 "empty_bytes": unit(0, 10, 0, b""),
 "null_async": unit(1, 100, 16, b""),
 "null_bytes_len": unit(1, 10, 0xFFFFFFFF, b""),
 "null_unknown_zero": unit(1, 9999, 0, b""),
 "hostile_len_bytes": unit(2, 10, 0xFFFFFFFF, b"z" * 20),
 "hostile_len_async": unit(2, 100, 0x7FFFFFFF, struct.pack("<QI4x", 5, 6)),
 "hostile_len_dword": unit(2, 41, 1 << 20, struct.pack("<I", 9)),
 "hostile_len_handle": unit(2, 70, 9, struct.pack("<Q", 1)),
}
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
