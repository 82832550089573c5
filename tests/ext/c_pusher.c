/* A plain C extension that pushes into a cbring.Ring through the C API
 * capsule, from native threads, without linking against cbring. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include <cbring/cbring.h>

#include "threads.h"

typedef struct worker {
    struct cbr_ring *ring;
    unsigned id;
    unsigned long long count;
    unsigned long long accepted;
    test_thread thread;
} worker;

/* Each worker uses one path of the API: 0 push, 1 push_batch, 2 push_status,
 * 3 the user-data callback.  context = (id << 40) | i for every path. */
static void *work(void *arg)
{
    worker *w = (worker *)arg;
    unsigned long long i;
    cbr_record batch[16];
    size_t pending = 0;

    for (i = 0; i < w->count; i++) {
        unsigned long long ctx = ((unsigned long long)w->id << 40) | i;
        cbr_async_result ar;
        ar.dwResult = (cbr_dword_ptr)i;
        ar.dwError = w->id;
        switch (w->id % 4) {
        case 0:
        case 1: {
            cbr_record rec;
            memset(&rec, 0, sizeof rec);
            rec.handle = w->id + 1;
            rec.context = ctx;
            rec.status = 100;
            rec.kind = CBR_INFO_ASYNC_RESULT;
            rec.result = i;
            rec.error = w->id;
            if (w->id % 4 == 0) {
                int r = cbring_push(w->ring, &rec);
                w->accepted += r == CBRING_PUSHED || r == CBRING_SPILLED;
            } else {
                batch[pending++] = rec;
                if (pending == 16 || i + 1 == w->count) {
                    w->accepted += cbring_push_batch(w->ring, batch, pending);
                    pending = 0;
                }
            }
            break;
        }
        case 2: {
            int r = cbring_push_status(w->ring, (cbr_hinternet)(uintptr_t)(w->id + 1),
                                       (cbr_dword_ptr)ctx, 100, &ar, sizeof ar);
            w->accepted += r == CBRING_PUSHED || r == CBRING_SPILLED;
            break;
        }
        default:
            cbring_callback(w->ring, w->id + 1, ctx, 100, &ar, sizeof ar);
            w->accepted++;
            break;
        }
    }
    return NULL;
}

/* push_from_threads(ring, threads, per_thread) -> records accepted */
static PyObject *push_from_threads(PyObject *self, PyObject *args)
{
    PyObject *ring_obj;
    unsigned threads, t;
    unsigned long long per_thread, accepted = 0;
    worker *workers;
    struct cbr_ring *ring;

    (void)self;
    if (!PyArg_ParseTuple(args, "OIK", &ring_obj, &threads, &per_thread))
        return NULL;
    if ((ring = cbring_ring(ring_obj)) == NULL)
        return NULL;
    workers = (worker *)PyMem_Calloc(threads, sizeof(worker));
    if (workers == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    for (t = 0; t < threads; t++) {
        workers[t].ring = ring;
        workers[t].id = t;
        workers[t].count = per_thread;
        test_thread_start(&workers[t].thread, work, &workers[t]);
    }
    for (t = 0; t < threads; t++) {
        test_thread_join(workers[t].thread);
        accepted += workers[t].accepted;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(workers);
    return PyLong_FromUnsignedLongLong(accepted);
}

static PyMethodDef methods[] = {
    {"push_from_threads", push_from_threads, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "c_pusher", NULL, -1, methods};

PyMODINIT_FUNC PyInit_c_pusher(void)
{
    if (cbring_import() < 0)
        return NULL;
    return PyModule_Create(&module);
}
