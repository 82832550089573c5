/* pyconfig.h for building CPython extensions with mingw-w64 (x86_64) against
 * the official Windows x64 CPython (MSVC-built, python3X.dll), 3.9 to 3.13.
 *
 * Python.h includes "pyconfig.h" from its own folder, so
 * tests/windows/run-under-wine.sh copies the CPython headers of the same
 * minor version and puts this file among them.  It says only what the
 * public headers need to lay out objects and declare the C API as the DLL
 * was built: a Windows x64 target (LLP64: long is 4 bytes), a shared
 * Python core whose API is imported with __declspec(dllimport), NT threads,
 * and no POSIX-only HAVE_* macros.  Anything a core build needs is absent
 * on purpose: this is not for building CPython itself.
 */
#ifndef Py_CONFIG_H
#define Py_CONFIG_H

#if !defined(_WIN64) || !defined(__x86_64__)
#  error "this pyconfig.h is for x86_64 Windows targets (x86_64-w64-mingw32-gcc)"
#endif

/* The platform */
#define MS_WIN32
#define MS_WIN64
#define MS_WINDOWS
#define NT_THREADS
#define WITH_THREAD
#define PLATFORM "win32"
#define COMPILER "[gcc, mingw-w64]"

/* The core is python3X.dll: extensions import its API, export PyInit_*. */
#define Py_ENABLE_SHARED 1
#define MS_COREDLL
#define HAVE_DECLSPEC_DLL
#define HAVE_DYNAMIC_LOADING

/* LLP64 sizes, as MSVC lays them out */
#define SIZEOF_SHORT 2
#define SIZEOF_INT 4
#define SIZEOF_LONG 4
#define SIZEOF_LONG_LONG 8
#define SIZEOF_FLOAT 4
#define SIZEOF_DOUBLE 8
#define SIZEOF_VOID_P 8
#define SIZEOF_SIZE_T 8
#define SIZEOF_TIME_T 8
#define SIZEOF_OFF_T 4
#define SIZEOF_FPOS_T 8
#define SIZEOF_HKEY 8
#define SIZEOF_WCHAR_T 2
#define SIZEOF__BOOL 1
#define ALIGNOF_SIZE_T 8
#define ALIGNOF_LONG 4
#define ALIGNOF_MAX_ALIGN_T 8
#define LONG_BIT 32
#define WORD_BIT 32
#define PY_LONG_LONG long long
#define PY_LLONG_MIN LLONG_MIN
#define PY_LLONG_MAX LLONG_MAX
#define PY_ULLONG_MAX ULLONG_MAX

/* Types and headers mingw-w64 provides; it also defines ssize_t and pid_t. */
#define HAVE_SSIZE_T 1
#define HAVE_UINTPTR_T 1
#define HAVE_INTPTR_T 1
#define HAVE_WCHAR_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_STDDEF_H 1
#define HAVE_IO_H 1
#define HAVE_DIRECT_H 1
#define HAVE_PROCESS_H 1
#define HAVE_CONIO_H 1
#define STDC_HEADERS 1
#define HAVE_PROTOTYPES 1
#define HAVE_STDARG_PROTOTYPES 1

/* The maths the C runtime has */
#define HAVE_COPYSIGN 1
#define HAVE_HYPOT 1
#define HAVE_ROUND 1
#define HAVE_DECL_ISINF 1
#define HAVE_DECL_ISNAN 1
#define HAVE_DECL_ISFINITE 1

/* How the DLL was built (release, pymalloc, docstrings, no debug) */
#define WITH_PYMALLOC 1
#define WITH_DOC_STRINGS 1
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#define PY_SUPPORT_TIER 1

#endif /* Py_CONFIG_H */
