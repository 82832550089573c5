/* The little of threads that cbring's test producers need, on POSIX and Windows. */
#ifndef CBRING_THREAD_H
#define CBRING_THREAD_H

#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#  include <process.h>
typedef HANDLE cbr_thread;
typedef unsigned (__stdcall *cbr_thread_main_)(void *);
static int cbr_thread_start(cbr_thread *t, void *(*fn)(void *), void *arg)
{
    *t = (HANDLE)_beginthreadex(NULL, 0, (cbr_thread_main_)(void *)fn, arg, 0, NULL);
    return *t ? 0 : -1;
}
static void cbr_thread_join(cbr_thread t)
{
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
#  include <pthread.h>
typedef pthread_t cbr_thread;
static int cbr_thread_start(cbr_thread *t, void *(*fn)(void *), void *arg)
{
    return pthread_create(t, NULL, fn, arg);
}
static void cbr_thread_join(cbr_thread t)
{
    pthread_join(t, NULL);
}
#endif

#endif /* CBRING_THREAD_H */
