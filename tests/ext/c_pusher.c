/* A plain C extension of two files that pushes into a cbring.Ring through
 * the C API capsule, from native threads, without linking against cbring.
 * This file imports the table; c_pusher_work.c shares it (CBRING_NO_IMPORT). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define CBRING_UNIQUE_SYMBOL c_pusher_cbring_api
#include <cbring/cbring.h>

#include "c_pusher.h"

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
        test_thread_start(&workers[t].thread, c_pusher_work, &workers[t]);
    }
    for (t = 0; t < threads; t++) {
        test_thread_join(workers[t].thread);
        accepted += workers[t].accepted;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(workers);
    return PyLong_FromUnsignedLongLong(accepted);
}

/* closed(ring) -> cbring_closed() of its ring */
static PyObject *closed(PyObject *self, PyObject *ring_obj)
{
    struct cbr_ring *ring;
    (void)self;
    if ((ring = cbring_ring(ring_obj)) == NULL)
        return NULL;
    return PyBool_FromLong(cbring_closed(ring));
}

/* push_one(ring) -> the CBRING_ result of one cbring_callback() */
static PyObject *push_one(PyObject *self, PyObject *ring_obj)
{
    struct cbr_ring *ring;
    cbr_async_result ar = {1, 0};
    (void)self;
    if ((ring = cbring_ring(ring_obj)) == NULL)
        return NULL;
    return PyLong_FromLong(cbring_callback(ring, 1, 1, INTERNET_STATUS_REQUEST_COMPLETE, &ar,
                                           (uint32_t)sizeof ar));
}

static PyMethodDef methods[] = {
    {"push_from_threads", push_from_threads, METH_VARARGS, NULL},
    {"closed", closed, METH_O, NULL},
    {"push_one", push_one, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "c_pusher", NULL, -1, methods};

PyMODINIT_FUNC PyInit_c_pusher(void)
{
    if (cbring_import() < 0)
        return NULL;
    return PyModule_Create(&module);
}
