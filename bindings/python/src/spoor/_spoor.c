/*
 * _spoor.c - the CPython extension under `import spoor`: a thin layer over include/spoor.h.
 *
 * Every function is METH_FASTCALL (or METH_NOARGS), so a call costs the interpreter's vectorcall
 * and the argument conversions, no tuple; the header's static inline fast paths (the entry's
 * sampling countdown, the untracked-parent branch) are compiled into this file. The module
 * keeps no state of its own on the hot path. Built against the stable ABI (Py_LIMITED_API 3.11:
 * the buffer protocol joined it in 3.11), so one wheel serves every CPython from 3.11 on.
 *
 * Two things are the binding's own, because Python needs them:
 *   - a forked child (multiprocessing, Spark's Python workers) starts with the library
 *     uninitialised (spoor.h). The first call that gets SPOOR_E_NOT_INITIALIZED in a process
 *     other than the one that called init() initialises the library again with the saved
 *     configuration (a new segment and run of the child's own) and retries, so a child traces
 *     without code of its own; this costs nothing until the call fails.
 *   - operators registered through this module are remembered in order and registered again, in
 *     the same order, at every later initialisation (the lazy one in a child, or init() after
 *     shutdown()), so an operator id a Python program holds stays valid for the life of the
 *     process.
 * Errors: every negative status raises the spoor.SpoorError subclass registered for it (see
 * spoor/_errors.py) with the code and spoor_error_detail(). Wrong types raise TypeError,
 * negative or too-large integers OverflowError, as CPython's own conversions do.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>
#include <structmember.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "spoor.h"

/* ------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------- */

/* code -> exception class (a dict), and the base class for unknown codes; set by
 * spoor/_errors.py through _set_error_classes. */
static PyObject *error_classes = NULL;
static PyObject *error_base = NULL;

static PyObject *raise_status_detail(int code, const char *detail);

/* Raises the exception of `code` with the library's detail of the calling thread's last failure. */
static PyObject *raise_status(int code) {
    return raise_status_detail(code, spoor_error_detail());
}

/* Raises the exception of `code` with `detail` (checks this module makes before calling C). */
static PyObject *raise_status_detail(int code, const char *detail) {
    PyObject *cls = NULL;
    if (error_classes != NULL) {
        PyObject *key = PyLong_FromLong(code);
        if (key == NULL) return NULL;
        cls = PyDict_GetItemWithError(error_classes, key); /* borrowed */
        Py_DECREF(key);
        if (cls == NULL && PyErr_Occurred()) return NULL;
    }
    if (cls == NULL) cls = error_base != NULL ? error_base : PyExc_RuntimeError;
    PyObject *args = Py_BuildValue("(is)", code, detail != NULL ? detail : "");
    if (args == NULL) return NULL;
    PyObject *error = PyObject_CallObject(cls, args);
    Py_DECREF(args);
    if (error == NULL) return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(error), error);
    Py_DECREF(error);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Argument conversion
 * ---------------------------------------------------------------------------------------- */

static int to_u64(PyObject *object, uint64_t *out) {
    unsigned long long value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *out = (uint64_t)value;
    return 0;
}

static int to_u32(PyObject *object, uint32_t *out, const char *what) {
    unsigned long long value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    if (value > UINT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s must be in [0, 2**32 - 1]", what);
        return -1;
    }
    *out = (uint32_t)value;
    return 0;
}

static int check_args(Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max, const char *name) {
    if (nargs < min || nargs > max) {
        if (min == max)
            PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, min, nargs);
        else
            PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, min, max, nargs);
        return -1;
    }
    return 0;
}

/* Optional text argument: None or str. The pointer lives as long as `object`. */
static int to_text(PyObject *object, const char **out, Py_ssize_t *length, const char *what) {
    if (object == Py_None) {
        *out = NULL;
        *length = 0;
        return 0;
    }
    if (!PyUnicode_Check(object)) {
        PyErr_Format(PyExc_TypeError, "%s must be str or None", what);
        return -1;
    }
    *out = PyUnicode_AsUTF8AndSize(object, length);
    return *out == NULL ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------
 * uint64 arrays: a list or tuple of ints, any iterable of ints, or a buffer of 8-byte integers
 * (array('Q'), array('q'), numpy uint64/int64, memoryview.cast('Q')), or bytes whose length is a
 * multiple of 8 (little-endian words).
 * ---------------------------------------------------------------------------------------- */

#define U64_STACK 64

typedef struct u64_array {
    const uint64_t *data;
    size_t count;
    uint64_t stack[U64_STACK];
    uint64_t *heap;
    Py_buffer view;
    int has_view;
} u64_array;

static void u64_release(u64_array *array) {
    if (array->heap != NULL) PyMem_Free(array->heap);
    array->heap = NULL;
    if (array->has_view) PyBuffer_Release(&array->view);
    array->has_view = 0;
}

static int u64_format_ok(const char *format, Py_ssize_t itemsize) {
    if (format == NULL) return itemsize == 1; /* plain bytes */
    if (format[0] == '<' || format[0] == '=' || format[0] == '@') format++;
    if (itemsize == 8 && format[1] == 0)
        return format[0] == 'Q' || format[0] == 'q' || format[0] == 'L' || format[0] == 'l';
    return itemsize == 1 && (format[0] == 'B' || format[0] == 'b' || format[0] == 'c') && format[1] == 0;
}

static void too_many_error(int code, const char *what, size_t count, size_t limit) {
    char detail[160];
    snprintf(detail, sizeof detail, "%s: %zu entries exceed the limit of %zu", what, count, limit);
    raise_status_detail(code, detail);
}

/* Reads `object` into `array`. `limit`: the most elements accepted (more: `too_many` raised as
 * a spoor error with that code, before anything is allocated). */
static int u64_read(PyObject *object, u64_array *array, size_t limit, int too_many, const char *what) {
    array->data = NULL;
    array->count = 0;
    array->heap = NULL;
    array->has_view = 0;
    if (PyObject_CheckBuffer(object) && !PyUnicode_Check(object)) {
        if (PyObject_GetBuffer(object, &array->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) != 0) return -1;
        array->has_view = 1;
        if (!u64_format_ok(array->view.format, array->view.itemsize)
            || (array->view.itemsize == 1 && array->view.len % 8 != 0)) {
            PyErr_Format(PyExc_TypeError,
                         "%s: a buffer must hold 8-byte integers (array('Q'), numpy uint64) or bytes of a "
                         "multiple of 8 bytes (format '%s', item size %zd, %zd bytes)",
                         what, array->view.format ? array->view.format : "B", array->view.itemsize, array->view.len);
            u64_release(array);
            return -1;
        }
        array->count = (size_t)array->view.len / 8;
        if (array->count > limit) {
            u64_release(array);
            too_many_error(too_many, what, array->count, limit);
            return -1;
        }
        if (((uintptr_t)array->view.buf & 7u) == 0) {
            array->data = (const uint64_t *)array->view.buf;
        } else {
            uint64_t *copy = array->count <= U64_STACK ? array->stack : PyMem_Malloc(array->count * 8);
            if (copy == NULL) {
                u64_release(array);
                PyErr_NoMemory();
                return -1;
            }
            if (copy != array->stack) array->heap = copy;
            memcpy(copy, array->view.buf, array->count * 8);
            array->data = copy;
        }
        return 0;
    }
    int is_list = PyList_Check(object), is_tuple = PyTuple_Check(object);
    if (is_list || is_tuple) {
        Py_ssize_t n = is_list ? PyList_Size(object) : PyTuple_Size(object);
        if (n < 0) return -1;
        if ((size_t)n > limit) {
            too_many_error(too_many, what, (size_t)n, limit);
            return -1;
        }
        uint64_t *out = (size_t)n <= U64_STACK ? array->stack : PyMem_Malloc((size_t)n * 8);
        if (out == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (out != array->stack) array->heap = out;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = is_list ? PyList_GetItem(object, i) : PyTuple_GetItem(object, i); /* borrowed */
            if (item == NULL || to_u64(item, &out[i]) != 0) {
                if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                    PyErr_Format(PyExc_TypeError, "%s[%zd] must be an int", what, i);
                }
                u64_release(array);
                return -1;
            }
        }
        array->data = out;
        array->count = (size_t)n;
        return 0;
    }
    PyObject *iterator = PyObject_GetIter(object);
    if (iterator == NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence, an iterable or a buffer of ints", what);
        return -1;
    }
    size_t capacity = U64_STACK, n = 0;
    uint64_t *out = array->stack;
    PyObject *item;
    while ((item = PyIter_Next(iterator)) != NULL) {
        if (n == limit) {
            Py_DECREF(item);
            Py_DECREF(iterator);
            u64_release(array);
            too_many_error(too_many, what, n + 1, limit);
            return -1;
        }
        if (n == capacity) {
            size_t grown = capacity * 2;
            uint64_t *bigger = PyMem_Malloc(grown * 8);
            if (bigger == NULL) {
                Py_DECREF(item);
                Py_DECREF(iterator);
                u64_release(array);
                PyErr_NoMemory();
                return -1;
            }
            memcpy(bigger, out, n * 8);
            if (array->heap != NULL) PyMem_Free(array->heap);
            array->heap = bigger;
            out = bigger;
            capacity = grown;
        }
        int status = to_u64(item, &out[n]);
        Py_DECREF(item);
        if (status != 0) {
            Py_DECREF(iterator);
            u64_release(array);
            return -1;
        }
        n++;
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        u64_release(array);
        return -1;
    }
    array->data = out;
    array->count = n;
    return 0;
}

/* A writable buffer of `count` 8-byte integers (the output of the batch calls). */
static int u64_out(PyObject *object, Py_buffer *view, size_t count) {
    if (PyObject_GetBuffer(object, view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) != 0) return -1;
    if (view->itemsize != 8 || !u64_format_ok(view->format, 8) || (size_t)view->len / 8 < count
        || (count != 0 && ((uintptr_t)view->buf & 7u) != 0)) {
        PyErr_Format(PyExc_ValueError, "out must be a writable, aligned buffer of at least %zu 8-byte integers", count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Attachments: a mapping of str keys to str, bytes-like, or any value (its str()).
 * ---------------------------------------------------------------------------------------- */

/* The most pairs an attachment can hold: each costs at least 3 bytes plus a 1-byte key. */
#define MAX_ATTRS (SPOOR_MAX_ATTACHMENT / 4 + 1)

typedef struct attr_list {
    spoor_attr items[MAX_ATTRS];
    PyObject *keep[MAX_ATTRS]; /* str() of values that were neither str nor bytes */
    size_t count;
    size_t kept;
    Py_buffer views[8];         /* bytes-like values other than bytes */
    size_t n_views;
} attr_list;

static void attrs_release(attr_list *list) {
    for (size_t i = 0; i < list->kept; i++) Py_DECREF(list->keep[i]);
    for (size_t i = 0; i < list->n_views; i++) PyBuffer_Release(&list->views[i]);
    list->kept = 0;
    list->n_views = 0;
}

static int attrs_read(PyObject *mapping, attr_list *list) {
    list->count = 0;
    list->kept = 0;
    list->n_views = 0;
    if (mapping == Py_None) return 0;
    if (!PyDict_Check(mapping)) {
        PyErr_SetString(PyExc_TypeError, "attachment must be a dict of str to str or bytes, or None");
        return -1;
    }
    Py_ssize_t size = PyDict_Size(mapping);
    if (size > (Py_ssize_t)MAX_ATTRS) {
        char detail[120];
        snprintf(detail, sizeof detail, "an attachment of %zd pairs cannot fit in %u bytes", size, SPOOR_MAX_ATTACHMENT);
        raise_status_detail(SPOOR_E_ATTACHMENT_TOO_LARGE, detail);
        return -1;
    }
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(mapping, &position, &key, &value)) {
        spoor_attr *attr = &list->items[list->count];
        if (!PyUnicode_Check(key)) {
            attrs_release(list);
            PyErr_SetString(PyExc_TypeError, "attachment keys must be str");
            return -1;
        }
        Py_ssize_t length;
        attr->key = PyUnicode_AsUTF8AndSize(key, &length);
        if (attr->key == NULL) {
            attrs_release(list);
            return -1;
        }
        attr->key_len = (size_t)length;
        if (PyUnicode_Check(value)) {
            attr->value = PyUnicode_AsUTF8AndSize(value, &length);
            if (attr->value == NULL) {
                attrs_release(list);
                return -1;
            }
            attr->value_len = (size_t)length;
        } else if (PyBytes_Check(value)) {
            char *bytes;
            if (PyBytes_AsStringAndSize(value, &bytes, &length) != 0) {
                attrs_release(list);
                return -1;
            }
            attr->value = bytes;
            attr->value_len = (size_t)length;
        } else if (PyObject_CheckBuffer(value)) {
            if (list->n_views == 8) {
                attrs_release(list);
                PyErr_SetString(PyExc_TypeError, "an attachment holds at most 8 buffer values other than bytes");
                return -1;
            }
            Py_buffer *view = &list->views[list->n_views];
            /* (the view is released by attrs_release) */
            if (PyObject_GetBuffer(value, view, PyBUF_C_CONTIGUOUS) != 0) {
                attrs_release(list);
                return -1;
            }
            list->n_views++;
            attr->value = view->buf;
            attr->value_len = (size_t)view->len;
        } else {
            PyObject *text = PyObject_Str(value);
            if (text == NULL) {
                attrs_release(list);
                return -1;
            }
            list->keep[list->kept++] = text;
            attr->value = PyUnicode_AsUTF8AndSize(text, &length);
            if (attr->value == NULL) {
                attrs_release(list);
                return -1;
            }
            attr->value_len = (size_t)length;
        }
        list->count++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Initialisation, the saved configuration, and the operator registry
 * ---------------------------------------------------------------------------------------- */

static spoor_config saved_config;
static PyObject *saved_strings = NULL; /* (log_dir, shm_name) bytes or None, owning the text */
static int saved_valid = 0;
static pid_t saved_pid = 0;
static PyObject *registry = NULL; /* list of (name bytes, site bytes), in id order */

/* Registers every remembered operator again, in order, after an initialisation. */
static int replay_operators(void) {
    Py_ssize_t n = PyList_Size(registry);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GetItem(registry, i);
        PyObject *name = PyTuple_GetItem(pair, 0), *site = PyTuple_GetItem(pair, 1);
        uint32_t op = 0;
        int status = spoor_register_operator(PyBytes_AsString(name), (size_t)PyBytes_Size(name),
                                             PyBytes_AsString(site), (size_t)PyBytes_Size(site), &op);
        if (status != SPOOR_OK) return status;
    }
    return SPOOR_OK;
}

/* spoor_init, then the remembered operators; a failed replay shuts the library down again.
 * The GIL is held throughout (spoor_init takes a few milliseconds): another Python thread that
 * registered an operator between the two would take an id the replay must give back. */
static int start(const spoor_config *config) {
    int status = spoor_init(config);
    if (status != SPOOR_OK) return status;
    status = replay_operators();
    if (status != SPOOR_OK) {
        Py_BEGIN_ALLOW_THREADS
        spoor_shutdown();
        Py_END_ALLOW_THREADS
    }
    return status;
}

/* The library was not initialised: in a forked child of the process that called init(), start it
 * with the saved configuration. Returns 1 if the caller should retry. */
static int restart_in_child(void) {
    if (!saved_valid || getpid() == saved_pid) return 0;
    saved_pid = getpid();
    if (spoor_generation() != 0) return 1;
    spoor_config config = saved_config;
    if (config.shm_name != NULL) config.shm_name = NULL; /* the parent's name is taken */
    return start(&config) == SPOOR_OK;
}

#define RETRY_IF_CHILD(status, call)                                   \
    do {                                                               \
        if ((status) == SPOOR_E_NOT_INITIALIZED && restart_in_child()) \
            (status) = (call);                                         \
    } while (0)

/* init(log_dir, shm_name, ring_slots, max_threads, flush_interval_ms, full_policy,
 *      block_timeout_ms, sink, segment_bytes, seed, mode, probability, every_n, per_second,
 *      ignore_env) */
static PyObject *py_init(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 15, 15, "init") != 0) return NULL;
    spoor_config config;
    memset(&config, 0, sizeof config);
    PyObject *dir_bytes = Py_None, *shm_bytes = Py_None;
    const char *text;
    Py_ssize_t length;
    if (to_text(args[0], &text, &length, "log_dir") != 0) return NULL;
    if (text != NULL) {
        if (strlen(text) != (size_t)length) {
            PyErr_SetString(PyExc_ValueError, "log_dir contains a NUL character");
            return NULL;
        }
        dir_bytes = PyBytes_FromStringAndSize(text, length);
        if (dir_bytes == NULL) return NULL;
    } else {
        Py_INCREF(Py_None);
    }
    if (to_text(args[1], &text, &length, "shm_name") != 0) {
        Py_DECREF(dir_bytes);
        return NULL;
    }
    if (text != NULL) {
        if (strlen(text) != (size_t)length) {
            Py_DECREF(dir_bytes);
            PyErr_SetString(PyExc_ValueError, "shm_name contains a NUL character");
            return NULL;
        }
        shm_bytes = PyBytes_FromStringAndSize(text, length);
        if (shm_bytes == NULL) {
            Py_DECREF(dir_bytes);
            return NULL;
        }
    } else {
        Py_INCREF(Py_None);
    }
    PyObject *strings = PyTuple_New(2);
    if (strings == NULL) {
        Py_DECREF(dir_bytes);
        Py_DECREF(shm_bytes);
        return NULL;
    }
    PyTuple_SetItem(strings, 0, dir_bytes); /* steals */
    PyTuple_SetItem(strings, 1, shm_bytes);
    config.log_dir = dir_bytes == Py_None ? NULL : PyBytes_AsString(dir_bytes);
    config.shm_name = shm_bytes == Py_None ? NULL : PyBytes_AsString(shm_bytes);
    double probability;
    uint64_t segment_bytes, seed, every_n, per_second;
    if (to_u32(args[2], &config.ring_slots, "ring_slots") != 0 || to_u32(args[3], &config.max_threads, "max_threads") != 0
        || to_u32(args[4], &config.flush_interval_ms, "flush_interval_ms") != 0
        || to_u32(args[5], &config.full_policy, "full_policy") != 0
        || to_u32(args[6], &config.block_timeout_ms, "block_timeout_ms") != 0
        || to_u32(args[7], &config.sink, "sink") != 0 || to_u64(args[8], &segment_bytes) != 0
        || to_u64(args[9], &seed) != 0 || to_u32(args[10], &config.sampling.mode, "sampling mode") != 0
        || ((probability = PyFloat_AsDouble(args[11])) == -1.0 && PyErr_Occurred())
        || to_u64(args[12], &every_n) != 0 || to_u64(args[13], &per_second) != 0) {
        Py_DECREF(strings);
        return NULL;
    }
    int ignore_env = PyObject_IsTrue(args[14]);
    if (ignore_env < 0) {
        Py_DECREF(strings);
        return NULL;
    }
    config.segment_bytes = segment_bytes;
    config.seed = seed;
    config.sampling.probability = probability;
    config.sampling.every_n = every_n;
    config.sampling.per_second = per_second;
    config.flags = ignore_env ? SPOOR_CONFIG_IGNORE_ENV : 0;
    int status = start(&config);
    if (status != SPOOR_OK) {
        Py_DECREF(strings);
        return raise_status(status);
    }
    Py_XDECREF(saved_strings);
    saved_strings = strings;
    saved_config = config;
    saved_valid = 1;
    saved_pid = getpid();
    Py_RETURN_NONE;
}

static PyObject *py_shutdown(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    int status;
    if (saved_pid == getpid()) saved_valid = 0;
    Py_BEGIN_ALLOW_THREADS
    status = spoor_shutdown();
    Py_END_ALLOW_THREADS
    if (status != SPOOR_OK) return raise_status(status);
    Py_RETURN_NONE;
}

static PyObject *py_flush(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 0, 1, "flush") != 0) return NULL;
    uint32_t timeout = 0;
    if (nargs == 1 && to_u32(args[0], &timeout, "timeout_ms") != 0) return NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = spoor_flush(timeout);
    Py_END_ALLOW_THREADS
    RETRY_IF_CHILD(status, spoor_flush(timeout));
    if (status != SPOOR_OK) return raise_status(status);
    Py_RETURN_NONE;
}

static PyObject *path_result(int (*get)(char *, size_t)) {
    char buffer[4096];
    int length = get(buffer, sizeof buffer);
    RETRY_IF_CHILD(length, get(buffer, sizeof buffer));
    if (length < 0) return raise_status(length);
    return PyUnicode_DecodeFSDefaultAndSize(buffer, length);
}

static PyObject *py_run_dir(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return path_result(spoor_run_dir);
}

static PyObject *py_shm_name(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return path_result(spoor_shm_name);
}

/* set_sampling(mode, probability, every_n, per_second) */
static PyObject *py_set_sampling(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 4, 4, "set_sampling") != 0) return NULL;
    spoor_sampling sampling;
    memset(&sampling, 0, sizeof sampling);
    if (to_u32(args[0], &sampling.mode, "mode") != 0) return NULL;
    sampling.probability = PyFloat_AsDouble(args[1]);
    if (sampling.probability == -1.0 && PyErr_Occurred()) return NULL;
    if (to_u64(args[2], &sampling.every_n) != 0 || to_u64(args[3], &sampling.per_second) != 0) return NULL;
    int status = spoor_set_sampling(&sampling);
    RETRY_IF_CHILD(status, spoor_set_sampling(&sampling));
    if (status != SPOOR_OK) return raise_status(status);
    Py_RETURN_NONE;
}

static PyObject *py_get_sampling(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    spoor_sampling sampling;
    int status = spoor_get_sampling(&sampling);
    RETRY_IF_CHILD(status, spoor_get_sampling(&sampling));
    if (status != SPOOR_OK) return raise_status(status);
    return Py_BuildValue("(IdKK)", sampling.mode, sampling.probability, (unsigned long long)sampling.every_n,
                         (unsigned long long)sampling.per_second);
}

static PyObject *py_now(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyLong_FromUnsignedLongLong(spoor_now());
}

static PyObject *py_generation(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyLong_FromUnsignedLongLong(spoor_generation());
}

/* register_operator(name, site) -> id */
static PyObject *py_register_operator(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 1, 2, "register_operator") != 0) return NULL;
    const char *name, *site = NULL;
    Py_ssize_t name_len, site_len = 0;
    if (!PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "operator name must be str");
        return NULL;
    }
    if (to_text(args[0], &name, &name_len, "name") != 0) return NULL;
    if (nargs == 2 && to_text(args[1], &site, &site_len, "site") != 0) return NULL;
    uint32_t op = 0;
    int status = spoor_register_operator(name, (size_t)name_len, site != NULL ? site : "", (size_t)site_len, &op);
    RETRY_IF_CHILD(status, spoor_register_operator(name, (size_t)name_len, site != NULL ? site : "", (size_t)site_len, &op));
    if (status != SPOOR_OK) return raise_status(status);
    if ((Py_ssize_t)op == PyList_Size(registry) + 1) {
        /* A new operator: remember it (the call site as the library keeps it: its last bytes). */
        size_t kept = (size_t)site_len > SPOOR_MAX_NAME_LEN ? SPOOR_MAX_NAME_LEN : (size_t)site_len;
        PyObject *pair = Py_BuildValue("(y#y#)", name, name_len, (site != NULL ? site : "") + (site_len - (Py_ssize_t)kept),
                                       (Py_ssize_t)kept);
        if (pair == NULL || PyList_Append(registry, pair) != 0) {
            Py_XDECREF(pair);
            return NULL;
        }
        Py_DECREF(pair);
    }
    return PyLong_FromUnsignedLong(op);
}

/* ------------------------------------------------------------------------------------------
 * Reports
 * ---------------------------------------------------------------------------------------- */

/* entry(op, key_hash=0) -> id (0 unless sampled) */
static PyObject *py_entry(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    uint32_t op;
    uint64_t key = 0, id;
    if (nargs < 1 || nargs > 2) return check_args(nargs, 1, 2, "entry"), NULL;
    if (to_u32(args[0], &op, "op") != 0 || (nargs == 2 && to_u64(args[1], &key) != 0)) return NULL;
    int status = spoor_entry(op, key, &id);
    if (SPOOR_UNLIKELY(status < 0)) {
        RETRY_IF_CHILD(status, spoor_entry(op, key, &id));
        if (status < 0) return raise_status(status);
    }
    return PyLong_FromUnsignedLongLong(id);
}

/* entry_ex(op, key_hash, attachment) -> id */
static PyObject *py_entry_ex(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 3, 3, "entry_ex") != 0) return NULL;
    uint32_t op;
    uint64_t key, id;
    if (to_u32(args[0], &op, "op") != 0 || to_u64(args[1], &key) != 0) return NULL;
    attr_list attrs;
    if (attrs_read(args[2], &attrs) != 0) return NULL;
    int status = spoor_entry_ex(op, key, attrs.items, attrs.count, &id);
    RETRY_IF_CHILD(status, spoor_entry_ex(op, key, attrs.items, attrs.count, &id));
    attrs_release(&attrs);
    if (status < 0) return raise_status(status);
    return PyLong_FromUnsignedLongLong(id);
}

/* mint(op, key_hash, attachment) -> id: an entry always traced (spoor_mint) */
static PyObject *py_mint(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 3, 3, "mint") != 0) return NULL;
    uint32_t op;
    uint64_t key, id;
    if (to_u32(args[0], &op, "op") != 0 || to_u64(args[1], &key) != 0) return NULL;
    attr_list attrs;
    if (attrs_read(args[2], &attrs) != 0) return NULL;
    int status = spoor_mint(op, key, attrs.count ? attrs.items : NULL, attrs.count, &id);
    RETRY_IF_CHILD(status, spoor_mint(op, key, attrs.count ? attrs.items : NULL, attrs.count, &id));
    attrs_release(&attrs);
    if (status < 0) return raise_status(status);
    return PyLong_FromUnsignedLongLong(id);
}

/* checkpoint1(parent, op, key_hash=0, start_ns=0, end_ns=0) -> id */
static PyObject *py_checkpoint1(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    uint64_t parent, key = 0, start_ns = 0, end_ns = 0, id;
    uint32_t op;
    if (nargs < 2 || nargs > 5) return check_args(nargs, 2, 5, "checkpoint1"), NULL;
    if (to_u64(args[0], &parent) != 0 || to_u32(args[1], &op, "op") != 0) return NULL;
    if (nargs > 2 && to_u64(args[2], &key) != 0) return NULL;
    if (nargs > 3 && to_u64(args[3], &start_ns) != 0) return NULL;
    if (nargs > 4 && to_u64(args[4], &end_ns) != 0) return NULL;
    int status = spoor_checkpoint1(parent, op, key, start_ns, end_ns, &id);
    if (SPOOR_UNLIKELY(status < 0)) {
        RETRY_IF_CHILD(status, spoor_checkpoint1(parent, op, key, start_ns, end_ns, &id));
        if (status < 0) return raise_status(status);
    }
    return PyLong_FromUnsignedLongLong(id);
}

/* Reads (op, key, start, end, fanout, attachment) at args[0..5] into `info`/`attrs`. */
static int read_info(PyObject *const *args, spoor_report_info *info, attr_list *attrs) {
    memset(info, 0, sizeof *info);
    uint64_t fanout;
    if (to_u32(args[0], &info->op, "op") != 0 || to_u64(args[1], &info->key_hash) != 0
        || to_u64(args[2], &info->start_ns) != 0 || to_u64(args[3], &info->end_ns) != 0
        || to_u64(args[4], &fanout) != 0)
        return -1;
    if (fanout > 65536) {
        PyErr_SetString(PyExc_ValueError, "fanout must be in [0, 65536]");
        return -1;
    }
    info->fanout = (uint32_t)fanout;
    if (attrs_read(args[5], attrs) != 0) return -1;
    info->attrs = attrs->count ? attrs->items : NULL;
    info->n_attrs = attrs->count;
    return 0;
}

/* checkpoint(parents, op, key_hash, start_ns, end_ns, fanout, attachment) -> id;
 * fold_report(...) the same, flagged as a fold. */
static PyObject *checkpoint_many(PyObject *const *args, Py_ssize_t nargs, int fold, const char *name) {
    if (check_args(nargs, 7, 7, name) != 0) return NULL;
    u64_array parents;
    if (u64_read(args[0], &parents, SPOOR_MAX_PARENTS, SPOOR_E_TOO_MANY_PARENTS, "parents") != 0) return NULL;
    spoor_report_info info;
    attr_list attrs;
    if (read_info(args + 1, &info, &attrs) != 0) {
        u64_release(&parents);
        return NULL;
    }
    uint64_t id = 0;
    int status;
    if (parents.count == 0) {
        status = SPOOR_OK; /* no parents: nothing is tracked */
    } else if (fold) {
        status = spoor_fold_report(parents.data, parents.count, &info, &id);
        RETRY_IF_CHILD(status, spoor_fold_report(parents.data, parents.count, &info, &id));
    } else {
        status = spoor_checkpoint(parents.data, parents.count, &info, &id);
        RETRY_IF_CHILD(status, spoor_checkpoint(parents.data, parents.count, &info, &id));
    }
    attrs_release(&attrs);
    u64_release(&parents);
    if (status < 0) return raise_status(status);
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *py_checkpoint(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return checkpoint_many(args, nargs, 0, "checkpoint");
}

static PyObject *py_fold_report(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return checkpoint_many(args, nargs, 1, "fold_report");
}

/* poke(id, op, event, timestamp_ns=0, attachment=None) */
static PyObject *py_poke(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    uint64_t id, timestamp = 0;
    uint32_t op, event;
    if (nargs < 3 || nargs > 5) return check_args(nargs, 3, 5, "poke"), NULL;
    if (to_u64(args[0], &id) != 0 || to_u32(args[1], &op, "op") != 0 || to_u32(args[2], &event, "event") != 0) return NULL;
    if (nargs > 3 && to_u64(args[3], &timestamp) != 0) return NULL;
    int status;
    if (nargs > 4 && args[4] != Py_None) {
        attr_list attrs;
        if (attrs_read(args[4], &attrs) != 0) return NULL;
        status = spoor_poke_ex(id, op, event, timestamp, attrs.items, attrs.count);
        RETRY_IF_CHILD(status, spoor_poke_ex(id, op, event, timestamp, attrs.items, attrs.count));
        attrs_release(&attrs);
    } else {
        status = spoor_poke(id, op, event, timestamp);
        RETRY_IF_CHILD(status, spoor_poke(id, op, event, timestamp));
    }
    if (status < 0) return raise_status(status);
    Py_RETURN_NONE;
}

static PyObject *py_set_partition(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 1, 1, "set_partition") != 0) return NULL;
    uint32_t partition;
    if (args[0] == Py_None) {
        partition = UINT32_MAX;
    } else if (to_u32(args[0], &partition, "partition") != 0) {
        return NULL;
    }
    spoor_set_partition(partition);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------
 * Batch calls: one crossing for many records
 * ---------------------------------------------------------------------------------------- */

/* entry_many(op, keys, out) -> sampled: entry for each key hash in `keys` (a buffer or sequence),
 * writing each id (0 unless sampled) into the writable buffer `out`. */
static PyObject *py_entry_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 3, 3, "entry_many") != 0) return NULL;
    uint32_t op;
    if (to_u32(args[0], &op, "op") != 0) return NULL;
    u64_array keys;
    if (u64_read(args[1], &keys, (size_t)PY_SSIZE_T_MAX / 8, SPOOR_E_INVALID_ARGUMENT, "keys") != 0) return NULL;
    Py_buffer out;
    if (u64_out(args[2], &out, keys.count) != 0) {
        u64_release(&keys);
        return NULL;
    }
    uint64_t *ids = (uint64_t *)out.buf;
    size_t sampled = 0;
    int failure = 0;
    for (size_t i = 0; i < keys.count; i++) {
        int status = spoor_entry(op, keys.data[i], &ids[i]);
        if (SPOOR_UNLIKELY(status < 0)) {
            RETRY_IF_CHILD(status, spoor_entry(op, keys.data[i], &ids[i]));
            if (status < 0) {
                failure = status;
                for (size_t j = i; j < keys.count; j++) ids[j] = 0;
                break;
            }
        }
        sampled += ids[i] != 0;
    }
    PyBuffer_Release(&out);
    u64_release(&keys);
    if (failure) return raise_status(failure);
    return PyLong_FromSize_t(sampled);
}

/* checkpoint1_many(parents, op, keys, start_ns, end_ns, out) -> tracked: a one-parent checkpoint
 * for each parent (zeros stay untracked, at the cost of a branch), with the key hash of the same
 * index in `keys` (None: 0), writing each output id into `out`. */
static PyObject *py_checkpoint1_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 6, 6, "checkpoint1_many") != 0) return NULL;
    uint32_t op;
    uint64_t start_ns, end_ns;
    if (to_u32(args[1], &op, "op") != 0 || to_u64(args[3], &start_ns) != 0 || to_u64(args[4], &end_ns) != 0) return NULL;
    u64_array parents, keys;
    if (u64_read(args[0], &parents, (size_t)PY_SSIZE_T_MAX / 8, SPOOR_E_INVALID_ARGUMENT, "parents") != 0) return NULL;
    keys.count = 0;
    keys.data = NULL;
    keys.heap = NULL;
    keys.has_view = 0;
    if (args[2] != Py_None) {
        if (u64_read(args[2], &keys, (size_t)PY_SSIZE_T_MAX / 8, SPOOR_E_INVALID_ARGUMENT, "keys") != 0) {
            u64_release(&parents);
            return NULL;
        }
        if (keys.count != parents.count) {
            u64_release(&parents);
            u64_release(&keys);
            PyErr_Format(PyExc_ValueError, "keys has %zu entries, parents %zu", keys.count, parents.count);
            return NULL;
        }
    }
    Py_buffer out;
    if (u64_out(args[5], &out, parents.count) != 0) {
        u64_release(&parents);
        u64_release(&keys);
        return NULL;
    }
    uint64_t *ids = (uint64_t *)out.buf;
    size_t tracked = 0;
    int failure = 0;
    for (size_t i = 0; i < parents.count; i++) {
        uint64_t key = keys.data != NULL ? keys.data[i] : 0;
        int status = spoor_checkpoint1(parents.data[i], op, key, start_ns, end_ns, &ids[i]);
        if (SPOOR_UNLIKELY(status < 0)) {
            RETRY_IF_CHILD(status, spoor_checkpoint1(parents.data[i], op, key, start_ns, end_ns, &ids[i]));
            if (status < 0) {
                failure = status;
                for (size_t j = i; j < parents.count; j++) ids[j] = 0;
                break;
            }
        }
        tracked += ids[i] != 0;
    }
    PyBuffer_Release(&out);
    u64_release(&parents);
    u64_release(&keys);
    if (failure) return raise_status(failure);
    return PyLong_FromSize_t(tracked);
}

/* ------------------------------------------------------------------------------------------
 * Folds
 * ---------------------------------------------------------------------------------------- */

typedef struct FoldObject {
    PyObject_HEAD
    spoor_fold fold;
} FoldObject;

static PyTypeObject *fold_type = NULL;

static PyObject *fold_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_Size(args) != 0 || (kwargs != NULL && PyDict_Size(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Fold() takes no arguments");
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    FoldObject *self = (FoldObject *)alloc(type, 0);
    if (self == NULL) return NULL;
    memset(&self->fold, 0, sizeof self->fold);
    return (PyObject *)self;
}

static void fold_dealloc(PyObject *object) {
    FoldObject *self = (FoldObject *)object;
    spoor_fold_discard(&self->fold);
    PyTypeObject *type = Py_TYPE(object);
    freefunc free_ = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_(object);
    Py_DECREF(type);
}

static PyObject *fold_add(PyObject *object, PyObject *const *args, Py_ssize_t nargs) {
    FoldObject *self = (FoldObject *)object;
    uint64_t id;
    if (nargs != 1) return check_args(nargs, 1, 1, "add"), NULL;
    if (to_u64(args[0], &id) != 0) return NULL;
    int status = spoor_fold_add(&self->fold, id);
    if (status < 0) return raise_status(status);
    Py_RETURN_NONE;
}

static PyObject *fold_add_many(PyObject *object, PyObject *const *args, Py_ssize_t nargs) {
    FoldObject *self = (FoldObject *)object;
    if (check_args(nargs, 1, 1, "add_many") != 0) return NULL;
    u64_array ids;
    if (u64_read(args[0], &ids, (size_t)PY_SSIZE_T_MAX / 8, SPOOR_E_INVALID_ARGUMENT, "ids") != 0) return NULL;
    int status = SPOOR_OK;
    for (size_t i = 0; i < ids.count && status == SPOOR_OK; i++) status = spoor_fold_add(&self->fold, ids.data[i]);
    u64_release(&ids);
    if (status < 0) return raise_status(status);
    Py_RETURN_NONE;
}

static PyObject *fold_merge(PyObject *object, PyObject *const *args, Py_ssize_t nargs) {
    FoldObject *self = (FoldObject *)object;
    if (check_args(nargs, 1, 1, "merge") != 0) return NULL;
    if (!PyObject_TypeCheck(args[0], fold_type)) {
        PyErr_SetString(PyExc_TypeError, "merge() takes a Fold");
        return NULL;
    }
    int status = spoor_fold_merge(&self->fold, &((FoldObject *)args[0])->fold);
    if (status < 0) return raise_status(status);
    Py_RETURN_NONE;
}

/* finish(op, key_hash, start_ns, end_ns, fanout, attachment) -> id */
static PyObject *fold_finish(PyObject *object, PyObject *const *args, Py_ssize_t nargs) {
    FoldObject *self = (FoldObject *)object;
    if (check_args(nargs, 6, 6, "finish") != 0) return NULL;
    spoor_report_info info;
    attr_list attrs;
    if (read_info(args, &info, &attrs) != 0) return NULL;
    uint64_t id = 0;
    int status = spoor_fold_finish(&self->fold, &info, &id);
    if (status == SPOOR_E_NOT_INITIALIZED && self->fold.count != 0 && restart_in_child())
        status = spoor_fold_finish(&self->fold, &info, &id);
    attrs_release(&attrs);
    if (status < 0) {
        spoor_fold_discard(&self->fold);
        return raise_status(status);
    }
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *fold_discard(PyObject *object, PyObject *unused) {
    (void)unused;
    spoor_fold_discard(&((FoldObject *)object)->fold);
    Py_RETURN_NONE;
}

static Py_ssize_t fold_len(PyObject *object) {
    return (Py_ssize_t)((FoldObject *)object)->fold.count;
}

static PyObject *fold_get_truncated(PyObject *object, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLongLong(((FoldObject *)object)->fold.truncated);
}

static PyMethodDef fold_methods[] = {
    {"add", (PyCFunction)(void (*)(void))fold_add, METH_FASTCALL, "add(id): add a contributing record (0: untracked, ignored)."},
    {"add_many", (PyCFunction)(void (*)(void))fold_add_many, METH_FASTCALL, "add_many(ids): add every id of a sequence or buffer."},
    {"merge", (PyCFunction)(void (*)(void))fold_merge, METH_FASTCALL, "merge(other): move other's parents into this fold."},
    {"finish", (PyCFunction)(void (*)(void))fold_finish, METH_FASTCALL,
     "finish(op, key_hash, start_ns, end_ns, fanout, attachment) -> id: report the aggregate once; resets the fold."},
    {"discard", fold_discard, METH_NOARGS, "discard(): reset without reporting."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef fold_getset[] = {
    {"truncated", fold_get_truncated, NULL, "parents beyond SPOOR_MAX_PARENTS, counted and not kept", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fold_slots[] = {
    {Py_tp_new, fold_new},
    {Py_tp_dealloc, fold_dealloc},
    {Py_tp_methods, fold_methods},
    {Py_tp_getset, fold_getset},
    {Py_sq_length, fold_len},
    {Py_tp_doc, "A fold accumulator (spoor_fold): add contributing ids, then finish() reports once."},
    {0, NULL},
};

static PyType_Spec fold_spec = {
    "spoor._spoor.Fold", sizeof(FoldObject), 0, Py_TPFLAGS_DEFAULT, fold_slots,
};

/* ------------------------------------------------------------------------------------------
 * TracedBase: the storage of spoor.Traced (a value and its id), in C so that making one, which
 * every lift does for every record, tracked or not, costs an allocation and two stores rather
 * than a Python __init__. Both fields are read-only: a Traced is immutable.
 * ---------------------------------------------------------------------------------------- */

typedef struct TracedObject {
    PyObject_HEAD
    PyObject *value;
    PyObject *id;
} TracedObject;

static PyObject *zero = NULL;

static PyObject *traced_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *value = NULL, *id = NULL;
    Py_ssize_t n = PyTuple_Size(args);
    if (kwargs == NULL && (n == 1 || n == 2)) { /* the lifts' call: no keyword parsing */
        value = PyTuple_GetItem(args, 0);
        id = n == 2 ? PyTuple_GetItem(args, 1) : NULL;
    } else {
        static char *keywords[] = {"value", "id", NULL};
        if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:Traced", keywords, &value, &id)) return NULL;
    }
    if (id == NULL) {
        id = zero;
    } else if (id != zero) {
        uint64_t checked; /* an id is a uint64: refuse what could never be one */
        if (to_u64(id, &checked) != 0) return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    TracedObject *self = (TracedObject *)alloc(type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(value);
    Py_INCREF(id);
    self->value = value;
    self->id = id;
    return (PyObject *)self;
}

static int traced_traverse(PyObject *object, visitproc visit, void *arg) {
    TracedObject *self = (TracedObject *)object;
    Py_VISIT(self->value);
    Py_VISIT(Py_TYPE(object));
    return 0;
}

static int traced_clear(PyObject *object) {
    TracedObject *self = (TracedObject *)object;
    Py_CLEAR(self->value);
    return 0;
}

static void traced_dealloc(PyObject *object) {
    TracedObject *self = (TracedObject *)object;
    PyTypeObject *type = Py_TYPE(object);
    PyObject_GC_UnTrack(object);
    Py_CLEAR(self->value);
    Py_CLEAR(self->id);
    freefunc free_ = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_(object);
    Py_DECREF(type);
}

static PyMemberDef traced_members[] = {
    {"value", T_OBJECT_EX, offsetof(TracedObject, value), READONLY, "the record"},
    {"id", T_OBJECT_EX, offsetof(TracedObject, id), READONLY, "its lineage id (0: untracked)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot traced_slots[] = {
    {Py_tp_new, traced_new},
    {Py_tp_dealloc, traced_dealloc},
    {Py_tp_traverse, traced_traverse},
    {Py_tp_clear, traced_clear},
    {Py_tp_members, traced_members},
    {Py_tp_doc, "The storage of spoor.Traced: a record and its lineage id."},
    {0, NULL},
};

static PyType_Spec traced_spec = {
    "spoor._spoor.TracedBase", sizeof(TracedObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, traced_slots,
};

/* ------------------------------------------------------------------------------------------
 * Context, keys, statistics, names
 * ---------------------------------------------------------------------------------------- */

static PyObject *py_context_encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 2, 2, "context_encode") != 0) return NULL;
    uint64_t id;
    uint32_t flags;
    if (to_u64(args[0], &id) != 0 || to_u32(args[1], &flags, "flags") != 0) return NULL;
    char buffer[SPOOR_CONTEXT_STRING_LEN + 1];
    int length = spoor_context_encode(id, flags, buffer, sizeof buffer);
    if (length < 0) return raise_status(length);
    return PyUnicode_FromStringAndSize(buffer, length);
}

static PyObject *py_context_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 1, 1, "context_decode") != 0) return NULL;
    if (!PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "a context string must be str");
        return NULL;
    }
    Py_ssize_t length;
    const char *text = PyUnicode_AsUTF8AndSize(args[0], &length);
    if (text == NULL) return NULL;
    uint64_t id;
    uint32_t flags;
    int status = spoor_context_decode(text, (size_t)length, &id, &flags);
    if (status != SPOOR_OK) return raise_status(status);
    return Py_BuildValue("(KI)", (unsigned long long)id, flags);
}

static PyObject *py_context_encode_bytes(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 2, 2, "context_encode_bytes") != 0) return NULL;
    uint64_t id;
    uint32_t flags;
    if (to_u64(args[0], &id) != 0 || to_u32(args[1], &flags, "flags") != 0) return NULL;
    uint8_t buffer[SPOOR_CONTEXT_BYTES_LEN];
    int length = spoor_context_encode_bytes(id, flags, buffer, sizeof buffer);
    if (length < 0) return raise_status(length);
    return PyBytes_FromStringAndSize((const char *)buffer, length);
}

static PyObject *py_context_decode_bytes(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 1, 1, "context_decode_bytes") != 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS) != 0) return NULL;
    uint64_t id;
    uint32_t flags;
    int status = spoor_context_decode_bytes((const uint8_t *)view.buf, (size_t)view.len, &id, &flags);
    PyBuffer_Release(&view);
    if (status != SPOOR_OK) return raise_status(status);
    return Py_BuildValue("(KI)", (unsigned long long)id, flags);
}

/* The canonical key hash of `value` (spoor.h, spoor_hash_bytes) into *out: str as UTF-8,
 * bytes-like as itself, int and bool as 8 bytes of 64-bit two's complement (ints outside
 * [-2**63, 2**64) raise OverflowError), float as its binary64 bits. 0 or -1 with an exception. */
static int hash_key(PyObject *value, uint64_t *out) {
    if (PyUnicode_Check(value)) {
        Py_ssize_t length;
        const char *text = PyUnicode_AsUTF8AndSize(value, &length);
        if (text == NULL) return -1;
        *out = spoor_hash_bytes(text, (size_t)length);
        return 0;
    }
    if (PyLong_Check(value)) {
        int overflow = 0;
        long long signed_value = PyLong_AsLongLongAndOverflow(value, &overflow);
        uint64_t bits;
        if (overflow == 0) {
            if (signed_value == -1 && PyErr_Occurred()) return -1;
            bits = (uint64_t)signed_value;
        } else if (overflow > 0) {
            unsigned long long unsigned_value = PyLong_AsUnsignedLongLong(value);
            if (unsigned_value == (unsigned long long)-1 && PyErr_Occurred()) return -1;
            bits = unsigned_value;
        } else {
            PyErr_SetString(PyExc_OverflowError, "an int key must be in [-2**63, 2**64)");
            return -1;
        }
        *out = spoor_hash_u64(bits);
        return 0;
    }
    if (PyFloat_Check(value)) {
        double number = PyFloat_AsDouble(value);
        uint64_t bits;
        memcpy(&bits, &number, 8);
        *out = spoor_hash_u64(bits);
        return 0;
    }
    if (PyObject_CheckBuffer(value)) {
        Py_buffer view;
        if (PyObject_GetBuffer(value, &view, PyBUF_C_CONTIGUOUS) != 0) return -1;
        *out = spoor_hash_bytes(view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a key must be str, bytes-like, int, bool or float, not %R", (PyObject *)Py_TYPE(value));
    return -1;
}

/* key_hash(value) -> int: hash_key's hash. */
static PyObject *py_key_hash(PyObject *module, PyObject *value) {
    (void)module;
    uint64_t hash;
    if (hash_key(value, &hash) != 0) return NULL;
    return PyLong_FromUnsignedLongLong(hash);
}

static PyObject *py_key_sampled(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 2, 2, "key_sampled") != 0) return NULL;
    uint64_t key;
    if (to_u64(args[0], &key) != 0) return NULL;
    double probability = PyFloat_AsDouble(args[1]);
    if (probability == -1.0 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(spoor_key_sampled(key, probability));
}

static PyObject *stats_tuple(int (*get)(spoor_stats *)) {
    spoor_stats stats;
    int status = get(&stats);
    RETRY_IF_CHILD(status, get(&stats));
    if (status != SPOOR_OK) return raise_status(status);
    return Py_BuildValue("(KKKKKKKK)", (unsigned long long)stats.written, (unsigned long long)stats.committed,
                         (unsigned long long)stats.dropped, (unsigned long long)stats.sampled,
                         (unsigned long long)stats.drained, (unsigned long long)stats.sink_errors,
                         (unsigned long long)stats.batches, (unsigned long long)stats.threads);
}

static PyObject *py_stats(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return stats_tuple(spoor_get_stats);
}

static PyObject *py_thread_stats(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return stats_tuple(spoor_get_thread_stats);
}

static PyObject *py_strerror(PyObject *module, PyObject *value) {
    (void)module;
    int overflow = 0;
    long code = PyLong_AsLongAndOverflow(value, &overflow);
    if (code == -1 && PyErr_Occurred()) return NULL;
    if (overflow != 0 || code < INT32_MIN || code > INT32_MAX) return PyUnicode_FromString(spoor_strerror(INT32_MIN));
    return PyUnicode_FromString(spoor_strerror((int)code));
}

static PyObject *py_event_name(PyObject *module, PyObject *value) {
    (void)module;
    int overflow = 0;
    long long code = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (code == -1 && PyErr_Occurred()) return NULL;
    if (overflow != 0 || code < 0 || code > UINT32_MAX) code = 0;
    return PyUnicode_FromString(spoor_event_name((uint32_t)code));
}

static PyObject *py_version(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return Py_BuildValue("(sI)", spoor_version(), spoor_abi_version());
}

/* recover_dead(log_root or None) -> (segments, reports) */
static PyObject *py_recover_dead(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 1, 1, "recover_dead") != 0) return NULL;
    const char *root;
    Py_ssize_t length;
    if (to_text(args[0], &root, &length, "log_dir") != 0) return NULL;
    uint64_t reports = 0;
    int segments;
    Py_BEGIN_ALLOW_THREADS
    segments = spoor_recover_dead(root, (size_t)length, &reports);
    Py_END_ALLOW_THREADS
    if (segments < 0) return raise_status(segments);
    return Py_BuildValue("(iK)", segments, (unsigned long long)reports);
}

/* noop(op, key) -> int: the binding path of entry() without the library: the same call, the same
 * argument conversions and a new int of an id's size as the result, and no call into libspoor.
 * The benchmark's measure of what the binding itself costs. */
static PyObject *py_noop(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    uint32_t op;
    uint64_t key = 0;
    if (nargs < 1 || nargs > 2) return check_args(nargs, 1, 2, "noop"), NULL;
    if (to_u32(args[0], &op, "op") != 0 || (nargs == 2 && to_u64(args[1], &key) != 0)) return NULL;
    return PyLong_FromUnsignedLongLong((key ^ op) | ((uint64_t)1 << 63));
}

/* ------------------------------------------------------------------------------------------
 * Partitioner: a spoor_partitioner (a partitioner file, `spoor skew -o FILE`, loaded by
 * spoor_partitioner_load) and the JSON it was loaded from (for pickling). Immutable once made;
 * spoor_partitioner_free runs only in dealloc, when no reference is left and so no thread can
 * still be routing through it: there is no close() to race with a routing call. Routing is a
 * table probe (no lock, no allocation), so the GIL is held; only the load, which parses the
 * whole file, runs without it (on a bytes object, which nothing can change meanwhile).
 * ---------------------------------------------------------------------------------------- */

typedef struct PartitionerObject {
    PyObject_HEAD
    spoor_partitioner *partitioner;
    PyObject *json; /* bytes: the file as loaded */
} PartitionerObject;

static PyTypeObject *partitioner_type = NULL;

#define PARTITIONER(object) (((PartitionerObject *)(object))->partitioner)

/* Partitioner(json): json is bytes-like (the file's bytes) or str (its text, as UTF-8). */
static PyObject *partitioner_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"json", NULL};
    PyObject *source = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Partitioner", keywords, &source)) return NULL;
    PyObject *json;
    if (PyUnicode_Check(source)) {
        json = PyUnicode_AsUTF8String(source);
    } else if (PyObject_CheckBuffer(source)) {
        json = PyBytes_FromObject(source); /* bytes itself, or an immutable copy */
    } else {
        PyErr_Format(PyExc_TypeError, "a partitioner file must be bytes-like or str, not %R", (PyObject *)Py_TYPE(source));
        return NULL;
    }
    if (json == NULL) return NULL;
    char *data;
    Py_ssize_t length;
    if (PyBytes_AsStringAndSize(json, &data, &length) != 0) {
        Py_DECREF(json);
        return NULL;
    }
    spoor_partitioner *loaded = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = spoor_partitioner_load(data, (size_t)length, &loaded);
    Py_END_ALLOW_THREADS
    if (status != SPOOR_OK) {
        Py_DECREF(json);
        return raise_status(status);
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    PartitionerObject *self = (PartitionerObject *)alloc(type, 0);
    if (self == NULL) {
        spoor_partitioner_free(loaded);
        Py_DECREF(json);
        return NULL;
    }
    self->partitioner = loaded;
    self->json = json;
    return (PyObject *)self;
}

static void partitioner_dealloc(PyObject *object) {
    PartitionerObject *self = (PartitionerObject *)object;
    PyTypeObject *type = Py_TYPE(object);
    spoor_partitioner_free(self->partitioner);
    self->partitioner = NULL;
    Py_CLEAR(self->json);
    freefunc free_ = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_(object);
    Py_DECREF(type);
}

/* A routing result: the partition or salt count, or the library's error. */
static PyObject *routed(int result) {
    if (result < 0) return raise_status(result);
    return PyLong_FromLong(result);
}

static PyObject *partitioner_partition_hash(PyObject *object, PyObject *value) {
    uint64_t hash;
    if (to_u64(value, &hash) != 0) return NULL;
    return routed(spoor_partitioner_partition(PARTITIONER(object), hash));
}

static PyObject *partitioner_salts_hash(PyObject *object, PyObject *value) {
    uint64_t hash;
    if (to_u64(value, &hash) != 0) return NULL;
    return routed(spoor_partitioner_salts(PARTITIONER(object), hash));
}

static PyObject *partitioner_partition(PyObject *object, PyObject *key) {
    uint64_t hash;
    if (hash_key(key, &hash) != 0) return NULL;
    return routed(spoor_partitioner_partition(PARTITIONER(object), hash));
}

static PyObject *partitioner_salts(PyObject *object, PyObject *key) {
    uint64_t hash;
    if (hash_key(key, &hash) != 0) return NULL;
    return routed(spoor_partitioner_salts(PARTITIONER(object), hash));
}

/* partitioner(key): partition(key), the call PySpark's partitionBy makes per record. */
static PyObject *partitioner_call(PyObject *object, PyObject *args, PyObject *kwargs) {
    if ((kwargs != NULL && PyDict_Size(kwargs) != 0) || PyTuple_Size(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "a Partitioner is called with one key");
        return NULL;
    }
    PyObject *key = PyTuple_GetItem(args, 0); /* borrowed */
    if (key == NULL) return NULL;
    return partitioner_partition(object, key);
}

static PyObject *partitioner_reduce(PyObject *object, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("(O(O))", (PyObject *)Py_TYPE(object), ((PartitionerObject *)object)->json);
}

/* Equal when loaded from the same bytes (so they route every key alike); hashed likewise. */
static PyObject *partitioner_richcompare(PyObject *object, PyObject *other, int op) {
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(other, partitioner_type)) Py_RETURN_NOTIMPLEMENTED;
    return PyObject_RichCompare(((PartitionerObject *)object)->json, ((PartitionerObject *)other)->json, op);
}

static Py_hash_t partitioner_hash(PyObject *object) {
    return PyObject_Hash(((PartitionerObject *)object)->json);
}

static PyObject *partitioner_get_partitions(PyObject *object, void *closure) {
    (void)closure;
    return routed(spoor_partitioner_partitions(PARTITIONER(object)));
}

static PyObject *partitioner_get_keys(PyObject *object, void *closure) {
    (void)closure;
    return routed(spoor_partitioner_keys(PARTITIONER(object)));
}

static PyObject *partitioner_get_json(PyObject *object, void *closure) {
    (void)closure;
    PyObject *json = ((PartitionerObject *)object)->json;
    Py_INCREF(json);
    return json;
}

static PyMethodDef partitioner_methods[] = {
    {"partition", partitioner_partition, METH_O,
     "partition(key) -> int: the partition of key (hashed as key_hash) in [0, partitions)."},
    {"partition_hash", partitioner_partition_hash, METH_O,
     "partition_hash(key_hash) -> int: the partition of the key with this key hash."},
    {"salts", partitioner_salts, METH_O,
     "salts(key) -> int: partitions to spread key's records over (the file's salts if placed, else 1)."},
    {"salts_hash", partitioner_salts_hash, METH_O, "salts_hash(key_hash) -> int: salts of the key with this key hash."},
    {"__reduce__", partitioner_reduce, METH_NOARGS, "pickles the file's bytes; unpickling loads them again."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef partitioner_getset[] = {
    {"partitions", partitioner_get_partitions, NULL, "the number of partitions (spoor_partitioner_partitions)", NULL},
    {"keys", partitioner_get_keys, NULL, "the number of keys the file places (spoor_partitioner_keys)", NULL},
    {"json", partitioner_get_json, NULL, "the partitioner file's bytes, as loaded", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot partitioner_slots[] = {
    {Py_tp_new, partitioner_new},
    {Py_tp_dealloc, partitioner_dealloc},
    {Py_tp_call, partitioner_call},
    {Py_tp_richcompare, partitioner_richcompare},
    {Py_tp_hash, partitioner_hash},
    {Py_tp_methods, partitioner_methods},
    {Py_tp_getset, partitioner_getset},
    {Py_tp_doc, "A partitioner file loaded into libspoor (spoor_partitioner): heavy keys placed, the rest hashed."},
    {0, NULL},
};

static PyType_Spec partitioner_spec = {
    "spoor._spoor.Partitioner", sizeof(PartitionerObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, partitioner_slots,
};

static PyObject *py_set_error_classes(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (check_args(nargs, 2, 2, "_set_error_classes") != 0) return NULL;
    if (!PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "a dict of code to class");
        return NULL;
    }
    Py_INCREF(args[0]);
    Py_INCREF(args[1]);
    Py_XDECREF(error_classes);
    Py_XDECREF(error_base);
    error_classes = args[0];
    error_base = args[1];
    Py_RETURN_NONE;
}

#define FAST(name, doc) {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL, doc}
#define NOARGS(name, doc) {#name, py_##name, METH_NOARGS, doc}
#define ONE(name, doc) {#name, py_##name, METH_O, doc}

static PyMethodDef methods[] = {
    FAST(init, "init(log_dir, shm_name, ring_slots, max_threads, flush_interval_ms, full_policy, block_timeout_ms, "
               "sink, segment_bytes, seed, mode, probability, every_n, per_second, ignore_env)"),
    NOARGS(shutdown, "shutdown(): drain everything accepted and stop."),
    FAST(flush, "flush(timeout_ms=0): wait until everything committed is in the sink."),
    NOARGS(run_dir, "run_dir() -> str"),
    NOARGS(shm_name, "shm_name() -> str"),
    FAST(set_sampling, "set_sampling(mode, probability, every_n, per_second)"),
    NOARGS(get_sampling, "get_sampling() -> (mode, probability, every_n, per_second)"),
    NOARGS(now, "now() -> CLOCK_MONOTONIC ns (spoor_now)"),
    NOARGS(generation, "generation() -> int"),
    FAST(register_operator, "register_operator(name, site=None) -> id"),
    FAST(entry, "entry(op, key_hash=0) -> id (0 unless sampled)"),
    FAST(entry_ex, "entry_ex(op, key_hash, attachment) -> id"),
    FAST(mint, "mint(op, key_hash, attachment) -> id: an entry always traced"),
    FAST(checkpoint1, "checkpoint1(parent, op, key_hash=0, start_ns=0, end_ns=0) -> id"),
    FAST(checkpoint, "checkpoint(parents, op, key_hash, start_ns, end_ns, fanout, attachment) -> id"),
    FAST(fold_report, "fold_report(parents, op, key_hash, start_ns, end_ns, fanout, attachment) -> id"),
    FAST(poke, "poke(id, op, event, timestamp_ns=0, attachment=None)"),
    FAST(set_partition, "set_partition(partition or None)"),
    FAST(entry_many, "entry_many(op, keys, out) -> sampled"),
    FAST(checkpoint1_many, "checkpoint1_many(parents, op, keys, start_ns, end_ns, out) -> tracked"),
    FAST(context_encode, "context_encode(id, flags) -> str"),
    FAST(context_decode, "context_decode(text) -> (id, flags)"),
    FAST(context_encode_bytes, "context_encode_bytes(id, flags) -> bytes"),
    FAST(context_decode_bytes, "context_decode_bytes(data) -> (id, flags)"),
    ONE(key_hash, "key_hash(value) -> int"),
    FAST(key_sampled, "key_sampled(key_hash, probability) -> bool"),
    NOARGS(stats, "stats() -> 8-tuple"),
    NOARGS(thread_stats, "thread_stats() -> 8-tuple"),
    ONE(strerror, "strerror(code) -> str"),
    ONE(event_name, "event_name(code) -> str"),
    NOARGS(version, "version() -> (version, abi_version)"),
    FAST(recover_dead, "recover_dead(log_root or None) -> (segments, reports)"),
    FAST(noop, "noop(op, key=0) -> int: entry()'s binding path without the library (for the benchmark)"),
    {"_set_error_classes", (PyCFunction)(void (*)(void))py_set_error_classes, METH_FASTCALL,
     "_set_error_classes(classes_by_code, base): the exception class of each status code"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "spoor._spoor", "The C layer of spoor (include/spoor.h).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__spoor(void) {
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    if (registry == NULL && (registry = PyList_New(0)) == NULL) goto fail;
    fold_type = (PyTypeObject *)PyType_FromSpec(&fold_spec);
    if (fold_type == NULL) goto fail;
    Py_INCREF((PyObject *)fold_type);
    if (PyModule_AddObject(module, "Fold", (PyObject *)fold_type) != 0) goto fail;
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) goto fail;
    PyObject *traced_type = PyType_FromSpec(&traced_spec);
    if (traced_type == NULL || PyModule_AddObject(module, "TracedBase", traced_type) != 0) goto fail;
    partitioner_type = (PyTypeObject *)PyType_FromSpec(&partitioner_spec);
    if (partitioner_type == NULL) goto fail;
    Py_INCREF((PyObject *)partitioner_type);
    if (PyModule_AddObject(module, "Partitioner", (PyObject *)partitioner_type) != 0) goto fail;
    struct { const char *name; long long value; } constants[] = {
        {"ABI_VERSION", SPOOR_ABI_VERSION},
        {"MAX_PARENTS", SPOOR_MAX_PARENTS},
        {"MAX_ATTACHMENT", SPOOR_MAX_ATTACHMENT},
        {"MAX_OPERATORS", SPOOR_MAX_OPERATORS},
        {"MAX_NAME_LEN", SPOOR_MAX_NAME_LEN},
        {"CONTEXT_SAMPLED", SPOOR_CONTEXT_SAMPLED},
        {"DROPPED", SPOOR_DROPPED},
        {"MAX_PARTITIONS", SPOOR_MAX_PARTITIONS},
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        if (PyModule_AddIntConstant(module, constants[i].name, (long)constants[i].value) != 0) goto fail;
    }
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
