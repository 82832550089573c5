/* Force-included (clang -include) by tests/windows/run-under-wine.sh, so
 * that clang compiles cbring's headers the way cl.exe does: the
 * "_MSC_VER && !__clang__" branches of atomics.h, wakeup.h and
 * src/cbring/_producer.h (interlocked intrinsics, _ReadWriteBarrier,
 * __forceinline, __declspec, the typedef static asserts).
 *
 * The system headers are read first, as clang: mingw-w64's and clang's own
 * headers choose their definitions by __clang__ and __GNUC__, and would
 * break without them.  Only then is the compiler made to look like cl.exe,
 * for cbring's headers alone (and, with CBR_TEST_WITH_PYTHON, for the C
 * that Cython generates after Python.h).
 */
#ifndef CBRING_TESTS_MSVC_BRANCH_H
#define CBRING_TESTS_MSVC_BRANCH_H

/* mingw-w64's headers know two compilers, GNU and cl.exe, and their cl.exe
 * branch (taken by clang for *-windows-msvc targets, which predefine
 * _MSC_VER) puts __declspec(noreturn) where clang rejects it and has no
 * va_list for clang: they are read as for a GNU compiler, as on the
 * *-windows-gnu target. */
#if defined(_MSC_VER) && !defined(__GNUC__)
#  undef _MSC_VER
#  define __GNUC__ 4
#  define __GNUC_MINOR__ 2
/* and for a GNU compiler with __declspec, which clang has as a keyword
 * here: as a macro it is what _mingw.h looks for (for __MINGW_IMPORT) */
#  define __declspec __declspec
#  define CBR_TEST_DECLSPEC_MACRO
#endif

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>
#include <malloc.h>
#include <process.h>
#include <intrin.h>
#if defined(CBR_TEST_WITH_PYTHON)
#  include <Python.h>
#endif

#if !defined(_WIN64)
#  error "msvc_branch.h is for 64-bit Windows targets"
#endif
/* Without _MSC_VER, clang's <intrin.h> passes on to mingw-w64's, which
 * for x64 declares the intrinsics; clang's own body, read once _MSC_VER is
 * defined, would declare them again with other types.  mingw-w64's has
 * nothing for ARM64, so there clang's body is read: it has the ARM64 ones. */
#if defined(__x86_64__)
#  define __INTRIN_H
#else
/* and there mingw-w64's compiler barriers, GNU asm macros, would stand in
 * the way of clang's declarations of them */
#  undef _ReadWriteBarrier
#  undef _ReadBarrier
#  undef _WriteBarrier
#endif
/* mingw-w64 spells __forceinline as GNU extern inline; -fms-extensions
 * makes it clang's keyword, which means what cl.exe's does. */
#undef __forceinline
#if defined(CBR_TEST_DECLSPEC_MACRO)
#  undef __declspec
#endif
/* -ffreestanding keeps clang's <limits.h> from reading mingw-w64's, which
 * has this POSIX limit that Python.h wants (pyconfig.h: HAVE_SSIZE_T) */
#if !defined(SSIZE_MAX)
#  define SSIZE_MAX INT64_MAX
#endif
#undef __clang__
#undef __GNUC__
#undef __GNUC_MINOR__
#define _MSC_VER 1920  /* what clang says for *-windows-msvc targets: Visual Studio 2019 */
#if defined(__x86_64__) && !defined(_M_X64)
#  define _M_X64 100
#  define _M_AMD64 100
#endif

#endif /* CBRING_TESTS_MSVC_BRANCH_H */
