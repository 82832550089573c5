"""Writes the hand-made seeds of tests/fuzz/corpus/, one per decoding case;
libFuzzer adds what it finds (tests/fuzz/run.sh --merge).  Usage: make_seeds.py DIR"""
import struct, os, sys
out = sys.argv[1]
def unit(mode, status, length, payload, handle=0x1234, ctx=7):
    return bytes([mode]) + struct.pack("<IIQQ", status, length, handle, ctx) + payload
host = b"downloads.example.test\0"
whost = "downloads.example.test\0".encode("utf-16-le")
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
 # mode bits: 4 the W registration, 8 the pattern repeated to (length % 3 x max) bytes,
 # 16 the length in UTF-16 characters (see status_fuzz.c)
 "w_resolving_name_chars": unit(4 | 16, 10, 0, whost),
 "w_resolving_name_bytes": unit(4, 10, 0, whost),
 "w_redirect_2000_chars": unit(4 | 8 | 16, 110, 4000, "http".encode("utf-16-le")),
 "w_redirect_past_max": unit(4 | 8 | 16, 110, 9000, "http".encode("utf-16-le")),
 "w_redirect_odd_bytes": unit(4, 110, 0, b"abc"),
 "w_address_stays_ansi": unit(4, 11, 0, b"192.168.100.200\0"),
 "w_empty": unit(4 | 16, 10, 0, b"\0\0"),
 "w_non_ascii": unit(4, 10, 0, "h\u00e9te-\u20ac.test\0".encode("utf-16-le")),
 "a_redirect_2001_unterminated": unit(8, 110, 2001, b"abcdefgh"),
 "a_redirect_terminated_in_a_long_buffer": unit(8, 110, 3001, b"u" * 199 + b"\0"),
 "a_empty_text": unit(0, 21, 0, b"\0"),
 "bytes_past_max": unit(8, 9999, 5000, b"\x00\x01\x02"),
 "hostile_wide_max": unit(2 | 4, 10, 0xFFFFFFFF, b"a\0"),
 "hostile_wide_small": unit(2 | 4, 110, 3, b"ab"),
 "hostile_text_max_plus_one": unit(2, 110, 4169, b"x"),
 "hostile_bytes_long": unit(2, 9999, 1 << 31, b"\xfe"),
 # mode bit 32: WinHTTP's decoder (winhttp.h); its statuses are single bits
 "h_request_error": unit(32, 0x200000, 0, struct.pack("<QI4x", 5, 12029)),
 "h_request_error_short": unit(32, 0x200000, 0, struct.pack("<QI", 5, 12029)),
 "h_data_available": unit(32, 0x40000, 0, struct.pack("<I", 8192)),
 "h_secure_failure": unit(32, 0x10000, 0, struct.pack("<I", 0x80000008)),
 "h_read_complete": unit(32, 0x80000, 0, b"body bytes never read"),
 "h_read_complete_null": unit(32 | 1, 0x80000, 4096, b""),
 "h_read_complete_hostile": unit(32 | 2, 0x80000, 0xFFFFFFFF, b"x"),
 "h_resolving_name_chars": unit(32 | 16, 0x1, 0, whost),
 "h_name_resolved_chars": unit(32 | 16, 0x2, 0, "127.0.0.1\0".encode("utf-16-le")),
 "h_redirect_past_max": unit(32 | 8 | 16, 0x4000, 9000, "http".encode("utf-16-le")),
 "h_redirect_hostile": unit(32 | 2, 0x4000, 0xFFFFFFFF, b"a\0"),
 "h_handle_created": unit(32, 0x400, 0, struct.pack("<Q", 0xC0FFEE)),
 "h_handle_closing_short": unit(32, 0x800, 0, b"\x01\x02\x03"),
 "h_headers_available_null": unit(32 | 1, 0x20000, 0, b""),
 "h_sendrequest_complete_given": unit(32, 0x400000, 0, b"something"),
 "h_unknown_long": unit(32 | 8, 0x40000000, 5000, b"\x07\x08"),
 "h_settings_read_complete": unit(32, 0x20000000, 0, b"\x01" * 30),
}
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
