/* Objects compiled for *-windows-msvc reference _fltused once they use
 * floating point (cbr_now_ns does), for the linker to pull in cl.exe's
 * floating-point support.  run-under-wine.sh links them against
 * mingw-w64's runtime instead, which has that support built in and no
 * such symbol: this definition answers the reference and nothing reads it. */
int _fltused;
