/* The rules engine's per-contact inner loops in C: bucketing event times, activity rows, and the compiled
 * conditions and scoring rules the shipped vocabulary uses most.
 *
 * Why C: evaluating a contact in Python (even mypyc-compiled) is dominated by object overhead spread thin --
 * a datetime -> epoch conversion, a float box, a closure call, a tuple per item. Here those are plain C on
 * plain doubles. Nothing here decides anything on its own: `sync.rules.native` turns the compiled rules into
 * the small node programs below and every node falls back to the Python closure it replaces (OP_PY), or to
 * a Python per-value test for a value the fast path does not handle (a non-text value in a text test, a
 * number given as text...). The engine's tests run every contact through both paths and compare Decisions.
 *
 * Contracts kept from the Python code (conditions.py, scoring.py):
 *  - epoch seconds are `datetime.timestamp()` to the bit: integer microseconds divided by 1e6, correctly
 *    rounded (exact for |us| < 2**53; anything else goes to Python);
 *  - a naive datetime is UTC; any tzinfo other than datetime.timezone.utc is converted by Python;
 *  - sums are added in the same order as the Python loops, so scores are identical, not merely close.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>
#include <math.h>
#include <string.h>

#define TEXT_LIMIT 4096
#define MAX_EXACT_US 9007199254740992LL /* 2**53 */

/* ------------------------------------------------------------------------------------------ module state */

static PyObject *str_at, *str_type, *str_kind, *str_by, *str_direction, *str_done, *str_automated;
static PyObject *str_points, *str_name, *str_scores, *str_comma;
static PyObject *str_ev, *str_acts, *str_now, *str_f, *str_c, *str_owner, *str_sort, *str_key;
static PyObject *py_epoch = NULL;   /* sync.rules.native.epoch(at): the Python conversion, for odd values */
static PyObject *py_round2 = NULL;  /* sync.rules.scoring.round2 */
static PyObject *py_fold = NULL;    /* sync.rules.native.fold(text): text[:4096].strip().casefold() */
static PyObject *by_time = NULL;    /* operator.itemgetter(0) */

/* Reading a msgspec Struct field by its slot. Generic attribute lookup finds the type's member descriptor
 * for the name first (a data descriptor wins over anything else), so for a type with the generic getattr
 * the slot IS the attribute; the type and its version tag are checked on every read, so a changed class
 * falls back to PyObject_GetAttr. Attribute lookups were a third of the time spent bucketing events. */
typedef struct {
    PyTypeObject *type;
    unsigned int tag;
    Py_ssize_t offset;
    int none_if_unset; /* T_OBJECT (msgspec's kind): an unset slot reads as None; T_OBJECT_EX raises */
} SlotCache;

static PyObject *slot_attr(PyObject *obj, PyObject *name, SlotCache *cache) {
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == cache->type && tp->tp_version_tag == cache->tag && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        PyObject *value = *(PyObject **)((char *)obj + cache->offset);
        if (value) return Py_NewRef(value);
        if (cache->none_if_unset) Py_RETURN_NONE;
        return PyObject_GetAttr(obj, name); /* unset slot: the usual AttributeError */
    }
    if (tp->tp_getattro == PyObject_GenericGetAttr) {
        PyObject *descr = _PyType_Lookup(tp, name); /* borrowed */
        if (descr && Py_IS_TYPE(descr, &PyMemberDescr_Type) && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            if ((member->type == T_OBJECT_EX || member->type == T_OBJECT) && !(member->flags & PY_AUDIT_READ)) {
                cache->type = tp; /* borrowed: compared by address only, and the tag guards reuse */
                cache->tag = tp->tp_version_tag;
                cache->offset = member->offset;
                cache->none_if_unset = member->type == T_OBJECT;
            }
        }
    }
    return PyObject_GetAttr(obj, name);
}

static SlotCache event_at, event_type, act_at, act_fields[5];

static long long days_from_civil(long long y, unsigned m, unsigned d) {
    /* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm) */
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* Epoch seconds of `at` as Python would compute them in the engine (naive = UTC). New reference (a float),
 * NULL with an exception set on bad data. */
static PyObject *epoch_of(PyObject *at) {
    if (PyDateTime_CheckExact(at)) {
        PyObject *tz = PyDateTime_DATE_GET_TZINFO(at);
        if (tz == Py_None || tz == PyDateTime_TimeZone_UTC) {
            long long days = days_from_civil(PyDateTime_GET_YEAR(at), PyDateTime_GET_MONTH(at),
                                             PyDateTime_GET_DAY(at));
            long long secs = days * 86400LL + PyDateTime_DATE_GET_HOUR(at) * 3600LL +
                             PyDateTime_DATE_GET_MINUTE(at) * 60LL + PyDateTime_DATE_GET_SECOND(at);
            long long us = secs * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(at);
            if (us < MAX_EXACT_US && us > -MAX_EXACT_US)
                return PyFloat_FromDouble((double)us / 1e6);
        }
    }
    return PyObject_CallOneArg(py_epoch, at);
}

/* epoch_of into a double: 0, or -1 with an exception set. */
static int epoch_double(PyObject *at, double *out) {
    if (PyDateTime_CheckExact(at)) {
        PyObject *tz = PyDateTime_DATE_GET_TZINFO(at);
        if (tz == Py_None || tz == PyDateTime_TimeZone_UTC) {
            long long days = days_from_civil(PyDateTime_GET_YEAR(at), PyDateTime_GET_MONTH(at),
                                             PyDateTime_GET_DAY(at));
            long long secs = days * 86400LL + PyDateTime_DATE_GET_HOUR(at) * 3600LL +
                             PyDateTime_DATE_GET_MINUTE(at) * 60LL + PyDateTime_DATE_GET_SECOND(at);
            long long us = secs * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(at);
            if (us < MAX_EXACT_US && us > -MAX_EXACT_US) {
                *out = (double)us / 1e6;
                return 0;
            }
        }
    }
    PyObject *ts = PyObject_CallOneArg(py_epoch, at);
    if (!ts) return -1;
    *out = PyFloat_AsDouble(ts);
    Py_DECREF(ts);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ activity rows */

/* activity_rows(activities) -> [(epoch, kind, by, direction, done, automated), ...] sorted by time (stable) */
static PyObject *activity_rows(PyObject *self, PyObject *activities) {
    PyObject *seq = PySequence_Fast(activities, "activities must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *rows = PyList_New(n);
    if (!rows) { Py_DECREF(seq); return NULL; }
    double last = -INFINITY;
    int sorted = 1;
    PyObject *names[5] = {str_kind, str_by, str_direction, str_done, str_automated};
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *activity = items[i];
        PyObject *at = slot_attr(activity, str_at, &act_at);
        if (!at) goto fail;
        PyObject *ts = epoch_of(at);
        Py_DECREF(at);
        if (!ts) goto fail;
        PyObject *row = PyTuple_New(6);
        if (!row) { Py_DECREF(ts); goto fail; }
        PyTuple_SET_ITEM(row, 0, ts);
        PyList_SET_ITEM(rows, i, row);
        for (int j = 0; j < 5; j++) {
            PyObject *v = slot_attr(activity, names[j], &act_fields[j]);
            if (!v) goto fail;
            PyTuple_SET_ITEM(row, j + 1, v);
        }
        if (!PyFloat_CheckExact(ts)) sorted = 0;
        else {
            double t = PyFloat_AS_DOUBLE(ts);
            if (t < last) sorted = 0;
            last = t;
        }
    }
    Py_DECREF(seq);
    if (n > 1 && !sorted) {
        PyObject *sort = PyObject_GetAttr(rows, str_sort);
        if (!sort) { Py_DECREF(rows); return NULL; }
        PyObject *kwargs = Py_BuildValue("{OO}", str_key, by_time);
        PyObject *empty = PyTuple_New(0);
        PyObject *r = (kwargs && empty) ? PyObject_Call(sort, empty, kwargs) : NULL;
        Py_XDECREF(kwargs); Py_XDECREF(empty); Py_DECREF(sort);
        if (!r) { Py_DECREF(rows); return NULL; }
        Py_DECREF(r);
    }
    return rows;
fail:
    Py_DECREF(seq);
    Py_DECREF(rows); /* unset slots are NULL: list_dealloc skips them */
    return NULL;
}

/* ------------------------------------------------------------------------------------------ prepared contact */

/* One contact's event times and activity rows as C arrays: what the nodes count, without a Python float,
 * list or tuple per item. Python consumers (the SLA timer, the hand-off search, rules without a C node) get
 * the engine's usual structures from ev() and acts(), built only when they ask. */
typedef struct {
    double ts;
    Py_ssize_t order; /* position in the contact's list: the sort is stable */
    PyObject *kind, *by, *direction, *done, *automated;
} ActRow;

typedef struct {
    PyObject_HEAD
    PyObject *key_index;  /* bucket key -> index (shared with the engine) */
    PyObject *keys;       /* index -> bucket key */
    Py_ssize_t nkeys;
    Py_ssize_t *offset;   /* nkeys + 1 offsets into times */
    double *times;        /* every bucket's times, sorted within each bucket */
    ActRow *acts;
    Py_ssize_t nacts;
    /* results of the program's static rules and criteria (they read neither the clock nor the scores) for
     * this contact, -1 until evaluated: the hand-off search replays the rules at several instants */
    PyObject *memo_program;
    unsigned long memo_generation;
    signed char *memo;
} Prepared;

static PyTypeObject PreparedType;

static void prepared_dealloc(Prepared *p) {
    for (Py_ssize_t i = 0; i < p->nacts; i++) {
        ActRow *r = &p->acts[i];
        Py_XDECREF(r->kind); Py_XDECREF(r->by); Py_XDECREF(r->direction); Py_XDECREF(r->done);
        Py_XDECREF(r->automated);
    }
    PyMem_Free(p->acts);
    PyMem_Free(p->offset);
    PyMem_Free(p->times);
    Py_XDECREF(p->key_index);
    Py_XDECREF(p->keys);
    Py_XDECREF(p->memo_program);
    PyMem_Free(p->memo);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_row(const void *a, const void *b) {
    const ActRow *x = a, *y = b;
    if (x->ts != y->ts) return (x->ts > y->ts) - (x->ts < y->ts);
    return (x->order > y->order) - (x->order < y->order);
}

/* Bucket index of an event type, -1 when no rule reads it, -2 on error. */
static Py_ssize_t key_of(PyObject *key_index, PyObject *kind) {
    PyObject *i = PyDict_GetItemWithError(key_index, kind);
    if (!i) return PyErr_Occurred() ? -2 : -1;
    return PyLong_AsSsize_t(i);
}

/* Event types recur as the same str objects (literals, a decoder's string cache): a few (type -> bucket)
 * pairs are remembered by identity before the dict is asked. The strong references keep a remembered str
 * (and the dict) alive, so no other object can take its address. The bucket numbering never changes after
 * a Program is built. */
#define KIND_CACHE 16
static PyObject *kind_cache_index;
static PyObject *kind_cache_key[KIND_CACHE];
static Py_ssize_t kind_cache_value[KIND_CACHE];
static unsigned kind_cache_next;

static Py_ssize_t cached_key_of(PyObject *key_index, PyObject *kind) {
    if (key_index == kind_cache_index) {
        for (int i = 0; i < KIND_CACHE; i++)
            if (kind_cache_key[i] == kind) return kind_cache_value[i];
    } else {
        for (int i = 0; i < KIND_CACHE; i++) Py_CLEAR(kind_cache_key[i]);
        Py_XSETREF(kind_cache_index, Py_NewRef(key_index));
    }
    Py_ssize_t k = key_of(key_index, kind);
    if (k >= -1 && PyUnicode_CheckExact(kind)) {
        unsigned slot = kind_cache_next++ % KIND_CACHE;
        Py_XSETREF(kind_cache_key[slot], Py_NewRef(kind));
        kind_cache_value[slot] = k;
    }
    return k;
}

static int prepare_events(Prepared *p, PyObject *events) {
    p->offset = PyMem_Calloc(p->nkeys + 1, sizeof(Py_ssize_t));
    if (!p->offset) { PyErr_NoMemory(); return -1; }
    if (events == Py_None) return 0;
    PyObject *seq = PySequence_Fast(events, "events must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t *which = PyMem_Malloc((n ? n : 1) * sizeof(Py_ssize_t));
    double *when = PyMem_Malloc((n ? n : 1) * sizeof(double));
    p->times = PyMem_Malloc((n ? n : 1) * sizeof(double));
    if (!which || !when || !p->times) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *at = slot_attr(items[i], str_at, &event_at);
        if (!at) goto fail;
        if (!PyDateTime_CheckExact(at)) {  /* odd data: checked as the interpreted engine does (it may raise) */
            PyObject *t = PyObject_CallOneArg(py_epoch, at);
            if (!t) { Py_DECREF(at); goto fail; }
            Py_DECREF(t);
        }
        PyObject *kind = slot_attr(items[i], str_type, &event_type);
        if (!kind) { Py_DECREF(at); goto fail; }
        Py_ssize_t k = cached_key_of(p->key_index, kind);
        Py_DECREF(kind);
        if (k == -2 || (k >= p->nkeys)) { Py_DECREF(at); if (k >= p->nkeys) PyErr_SetString(PyExc_SystemError, "bad key"); goto fail; }
        which[i] = k;
        if (k >= 0) {
            int rc = epoch_double(at, &when[i]);
            if (rc < 0) { Py_DECREF(at); goto fail; }
            p->offset[k + 1]++;
        }
        Py_DECREF(at);
    }
    for (Py_ssize_t k = 0; k < p->nkeys; k++) p->offset[k + 1] += p->offset[k];
    {
        Py_ssize_t *fill = PyMem_Malloc((p->nkeys ? p->nkeys : 1) * sizeof(Py_ssize_t));
        if (!fill) { PyErr_NoMemory(); goto fail; }
        memcpy(fill, p->offset, p->nkeys * sizeof(Py_ssize_t));
        for (Py_ssize_t i = 0; i < n; i++)
            if (which[i] >= 0) p->times[fill[which[i]]++] = when[i];
        PyMem_Free(fill);
    }
    for (Py_ssize_t k = 0; k < p->nkeys; k++) {
        double *seg = p->times + p->offset[k];
        Py_ssize_t len = p->offset[k + 1] - p->offset[k];
        for (Py_ssize_t i = 1; i < len; i++)
            if (seg[i - 1] > seg[i]) { qsort(seg, len, sizeof(double), cmp_double); break; }
    }
    PyMem_Free(which);
    PyMem_Free(when);
    Py_DECREF(seq);
    return 0;
fail:
    PyMem_Free(which);
    PyMem_Free(when);
    Py_DECREF(seq);
    return -1;
}

static int prepare_acts(Prepared *p, PyObject *activities) {
    if (activities == Py_None) return 0;
    PyObject *seq = PySequence_Fast(activities, "activities must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    p->acts = PyMem_Calloc(n ? n : 1, sizeof(ActRow));
    if (!p->acts) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
    int sorted = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        ActRow *r = &p->acts[i];
        p->nacts = i + 1; /* dealloc releases what this row holds so far */
        r->order = i;
        PyObject *at = slot_attr(items[i], str_at, &act_at);
        if (!at) goto fail;
        int rc = epoch_double(at, &r->ts);
        Py_DECREF(at);
        if (rc < 0) goto fail;
        if (!(r->kind = slot_attr(items[i], str_kind, &act_fields[0]))) goto fail;
        if (!(r->by = slot_attr(items[i], str_by, &act_fields[1]))) goto fail;
        if (!(r->direction = slot_attr(items[i], str_direction, &act_fields[2]))) goto fail;
        if (!(r->done = slot_attr(items[i], str_done, &act_fields[3]))) goto fail;
        if (!(r->automated = slot_attr(items[i], str_automated, &act_fields[4]))) goto fail;
        if (i && p->acts[i - 1].ts > r->ts) sorted = 0;
    }
    if (!sorted) qsort(p->acts, n, sizeof(ActRow), cmp_row);
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

/* prepare(events, activities, key_index, keys) -> Prepared */
static PyObject *prepare(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyDict_Check(args[2]) || !PyTuple_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "prepare(events, activities, key_index, keys)");
        return NULL;
    }
    Prepared *p = PyObject_New(Prepared, &PreparedType);
    if (!p) return NULL;
    p->key_index = Py_NewRef(args[2]);
    p->keys = Py_NewRef(args[3]);
    p->nkeys = PyTuple_GET_SIZE(args[3]);
    p->offset = NULL; p->times = NULL; p->acts = NULL; p->nacts = 0;
    p->memo_program = NULL; p->memo = NULL; p->memo_generation = 0;
    if (prepare_events(p, args[0]) < 0 || prepare_acts(p, args[1]) < 0) {
        Py_DECREF(p);
        return NULL;
    }
    return (PyObject *)p;
}

/* Prepared.ev() -> {type: [epoch, ...]}: the engine's Python buckets (only types that have events) */
static PyObject *prepared_ev(Prepared *p, PyObject *unused) {
    PyObject *ev = PyDict_New();
    if (!ev) return NULL;
    for (Py_ssize_t k = 0; k < p->nkeys; k++) {
        Py_ssize_t lo = p->offset[k], hi = p->offset[k + 1];
        if (hi == lo) continue;
        PyObject *list = PyList_New(hi - lo);
        if (!list) { Py_DECREF(ev); return NULL; }
        for (Py_ssize_t i = lo; i < hi; i++) {
            PyObject *f = PyFloat_FromDouble(p->times[i]);
            if (!f) { Py_DECREF(list); Py_DECREF(ev); return NULL; }
            PyList_SET_ITEM(list, i - lo, f);
        }
        int rc = PyDict_SetItem(ev, PyTuple_GET_ITEM(p->keys, k), list);
        Py_DECREF(list);
        if (rc < 0) { Py_DECREF(ev); return NULL; }
    }
    return ev;
}

/* Prepared.acts() -> [(epoch, kind, by, direction, done, automated), ...] sorted by time */
static PyObject *prepared_acts(Prepared *p, PyObject *unused) {
    PyObject *rows = PyList_New(p->nacts);
    if (!rows) return NULL;
    for (Py_ssize_t i = 0; i < p->nacts; i++) {
        ActRow *r = &p->acts[i];
        PyObject *ts = PyFloat_FromDouble(r->ts);
        PyObject *row = ts ? PyTuple_Pack(6, ts, r->kind, r->by, r->direction, r->done, r->automated) : NULL;
        Py_XDECREF(ts);
        if (!row) { Py_DECREF(rows); return NULL; }
        PyList_SET_ITEM(rows, i, row);
    }
    return rows;
}

/* Prepared.signal_times(now) -> sorted distinct times at or before `now` of every bucketed event and every
 * activity: the instants the hand-off search replays (engine._handoff builds the same from ev and acts). */
static PyObject *prepared_signal_times(Prepared *p, PyObject *arg) {
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    Py_ssize_t total = p->offset[p->nkeys] + p->nacts, n = 0;
    double *all = PyMem_Malloc((total ? total : 1) * sizeof(double));
    if (!all) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < p->offset[p->nkeys]; i++) if (p->times[i] <= now) all[n++] = p->times[i];
    for (Py_ssize_t i = 0; i < p->nacts; i++) if (p->acts[i].ts <= now) all[n++] = p->acts[i].ts;
    qsort(all, n, sizeof(double), cmp_double);
    Py_ssize_t distinct = 0;
    for (Py_ssize_t i = 0; i < n; i++) if (!distinct || all[i] != all[distinct - 1]) all[distinct++] = all[i];
    PyObject *out = PyList_New(distinct);
    for (Py_ssize_t i = 0; out && i < distinct; i++) {
        PyObject *f = PyFloat_FromDouble(all[i]);
        if (!f) { Py_CLEAR(out); break; }
        PyList_SET_ITEM(out, i, f);
    }
    PyMem_Free(all);
    return out;
}

static PyMethodDef prepared_methods[] = {
    {"signal_times", (PyCFunction)prepared_signal_times, METH_O, "sorted distinct signal times up to now"},
    {"ev", (PyCFunction)prepared_ev, METH_NOARGS, "the engine's event buckets as Python lists"},
    {"acts", (PyCFunction)prepared_acts, METH_NOARGS, "the engine's activity rows as Python tuples"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PreparedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sync.rules._native.Prepared",
    .tp_basicsize = sizeof(Prepared),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "one contact's event times and activity rows as C arrays (from prepare())",
    .tp_dealloc = (destructor)prepared_dealloc,
    .tp_methods = prepared_methods,
};

/* ------------------------------------------------------------------------------------------ programs */

enum {
    OP_PY = 0,       /* (0, closure): closure(ctx) */
    OP_ALL = 1,      /* (1, (child, ...)) */
    OP_ANY = 2,      /* (2, (child, ...)) */
    OP_NOT = 3,      /* (3, child) */
    OP_TEXT_IN = 4,  /* (4, getter, texts, fallback, negate): str -> fold(v) in texts, else fallback(v) */
    OP_VALUE = 5,    /* (5, getter, test, negate): test(value) */
    OP_EXISTS = 6,   /* (6, getter, want, is_empty) */
    OP_RANGE = 7,    /* (7, getter, lo, hi, lo_open, hi_open, fallback): int/float fast, else fallback(v) */
    OP_EVENTS = 8,   /* (8, keys, span or None, at_least, at_most or None) */
    OP_ACTS = 9,     /* (9, kinds or None, span or None, by, direction or None, team, automated, open, least, most) */
};

enum { GET_ATTR = 0, GET_FIELD = 1, GET_PY = 2 }; /* getter: (GET_ATTR, name) | (GET_FIELD, key) | (GET_PY, fn(ctx)) */
enum { BY_ANYONE = 0, BY_OWNER = 1, BY_SALES = 2 };

typedef struct {
    int op;
    int negate;
    int getter;
    PyObject *arg;      /* attribute name, field key or getter function */
    PyObject *obj;      /* closure / texts / test */
    PyObject *fallback; /* per-value Python test */
    Py_ssize_t *children;
    Py_ssize_t nchildren;
    double lo, hi, span;
    int has_lo, has_hi, lo_open, hi_open, has_span, want;
    long long at_least, at_most;
    int has_most;
    PyObject *keys;     /* tuple of event bucket keys */
    Py_ssize_t *key_ids;/* their indices in the prepared buckets (-1: not a by-type key) */
    PyObject *kinds;    /* frozenset or NULL */
    PyObject *direction;/* str or NULL */
    PyObject *team;     /* frozenset */
    int by, automated, open;
    SlotCache slot;     /* GET_ATTR: the attribute's slot in the contact's type */
    PyObject *memo;     /* OP_VALUE, OP_TEXT_IN: {text: result} for plain str values (pure functions of it) */
} Node;

/* Texts recur (job titles, timing answers, statuses): an OP_VALUE test -- a regex search, most often -- is
 * remembered per distinct text, up to MEMO_LIMIT texts per node, then the memo starts over. */
#define MEMO_LIMIT 8192

typedef struct {
    int dim;
    Py_ssize_t node;    /* -1 for per-event rules */
    double points;      /* fixed points, or per-event points */
    PyObject *fired;    /* the shared FiredRule of a fixed rule */
    /* per-event, half-life decay, one bucket */
    PyObject *key;      /* NULL: call `per_event` (Python) instead */
    Py_ssize_t key_id;  /* its index in the prepared buckets (-1: not a by-type key) */
    double span, k, limit;
    PyObject *per_event;
    PyObject *dim_name, *rule_name;
} Scorer;

typedef struct {
    PyObject_HEAD
    Node *nodes;
    Py_ssize_t nnodes;
    Scorer *scorers;
    Py_ssize_t nscorers;
    PyObject *fired_type;
    PyObject *key_index; /* the bucket numbering of the contacts it reads prepared */
    /* what turns the sums into a decision (Program.configure): engine._capped, _qualifies, the framework */
    int decision_ready;
    double caps[3];
    long long threshold;
    int qualify_on;              /* QUALIFY_* */
    Py_ssize_t *criteria;        /* the framework's criteria nodes, in the file's order */
    Py_ssize_t ncriteria;
    PyObject *criteria_names;    /* tuple of str */
    unsigned long long required; /* bit i: criterion i is required */
    PyObject *met_cache[256];    /* the `met` tuple per bit mask (eight criteria or fewer): shared, immutable */
    PyObject **labels;           /* per scorer: the reason's text of a fixed rule ("name +10"), or NULL */
    signed char *statics;        /* per scorer, then per criterion: 1 when it reads neither clock nor scores */
    unsigned long generation;    /* counts configure() calls: a contact's memo is for one configuration */
} Program;

enum { QUALIFY_SCORE_OR_FRAMEWORK = 0, QUALIFY_SCORE = 1, QUALIFY_FRAMEWORK = 2, QUALIFY_SCORE_AND_FRAMEWORK = 3 };

static void program_clear(Program *p) {
    for (Py_ssize_t i = 0; i < p->nnodes; i++) {
        Node *n = &p->nodes[i];
        Py_XDECREF(n->arg); Py_XDECREF(n->obj); Py_XDECREF(n->fallback); Py_XDECREF(n->keys);
        Py_XDECREF(n->kinds); Py_XDECREF(n->direction); Py_XDECREF(n->team); Py_XDECREF(n->memo);
        PyMem_Free(n->children);
        PyMem_Free(n->key_ids);
    }
    PyMem_Free(p->nodes);
    p->nodes = NULL; p->nnodes = 0;
    for (Py_ssize_t i = 0; i < p->nscorers; i++) {
        Scorer *s = &p->scorers[i];
        Py_XDECREF(s->fired); Py_XDECREF(s->key); Py_XDECREF(s->per_event);
        Py_XDECREF(s->dim_name); Py_XDECREF(s->rule_name);
    }
    if (p->labels)
        for (Py_ssize_t i = 0; i < p->nscorers; i++) Py_XDECREF(p->labels[i]);
    PyMem_Free(p->labels);
    p->labels = NULL;
    PyMem_Free(p->statics);
    p->statics = NULL;
    PyMem_Free(p->scorers);
    p->scorers = NULL; p->nscorers = 0;
    Py_CLEAR(p->fired_type);
    Py_CLEAR(p->key_index);
    PyMem_Free(p->criteria);
    p->criteria = NULL; p->ncriteria = 0;
    Py_CLEAR(p->criteria_names);
    for (int i = 0; i < 256; i++) Py_CLEAR(p->met_cache[i]);
    p->decision_ready = 0;
}

static void program_dealloc(Program *p) {
    program_clear(p);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static PyObject *ref(PyObject *o) { Py_INCREF(o); return o; }
static PyObject *opt(PyObject *o) { if (o == Py_None) return NULL; Py_INCREF(o); return o; }

static int parse_getter(Node *n, PyObject *spec) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 2) {
        PyErr_SetString(PyExc_ValueError, "getter must be (kind, arg)");
        return -1;
    }
    n->getter = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    n->arg = ref(PyTuple_GET_ITEM(spec, 1));
    return PyErr_Occurred() ? -1 : 0;
}

static double as_double(PyObject *o, int *has) {
    if (o == Py_None) { *has = 0; return 0.0; }
    *has = 1;
    return PyFloat_AsDouble(o);
}

#define ITEM(t, i) PyTuple_GET_ITEM(t, i)

static int parse_node(Node *n, PyObject *spec, Py_ssize_t nnodes) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2) {
        PyErr_SetString(PyExc_ValueError, "a node is a tuple (op, ...)");
        return -1;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(spec);
    n->op = (int)PyLong_AsLong(ITEM(spec, 0));
    static const Py_ssize_t sizes[] = {2, 2, 2, 2, 5, 4, 4, 7, 5, 11};
    if (n->op < 0 || n->op > OP_ACTS || size != sizes[n->op]) {
        PyErr_Format(PyExc_ValueError, "bad node %R", spec);
        return -1;
    }
    switch (n->op) {
    case OP_PY:
        n->obj = ref(ITEM(spec, 1));
        break;
    case OP_ALL: case OP_ANY: case OP_NOT: {
        PyObject *kids = ITEM(spec, 1);
        if (n->op == OP_NOT) {
            n->nchildren = 1;
            n->children = PyMem_Malloc(sizeof(Py_ssize_t));
            if (!n->children) { PyErr_NoMemory(); return -1; }
            n->children[0] = PyLong_AsSsize_t(kids);
        } else {
            if (!PyTuple_Check(kids)) { PyErr_SetString(PyExc_ValueError, "children must be a tuple"); return -1; }
            n->nchildren = PyTuple_GET_SIZE(kids);
            n->children = PyMem_Malloc(sizeof(Py_ssize_t) * (n->nchildren ? n->nchildren : 1));
            if (!n->children) { PyErr_NoMemory(); return -1; }
            for (Py_ssize_t i = 0; i < n->nchildren; i++) n->children[i] = PyLong_AsSsize_t(ITEM(kids, i));
        }
        for (Py_ssize_t i = 0; i < n->nchildren; i++) {
            if (n->children[i] < 0 || n->children[i] >= nnodes) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "child index out of range");
                return -1;
            }
        }
        break;
    }
    case OP_TEXT_IN:
        if (parse_getter(n, ITEM(spec, 1)) < 0) return -1;
        n->obj = ref(ITEM(spec, 2));
        n->fallback = ref(ITEM(spec, 3));
        n->negate = PyObject_IsTrue(ITEM(spec, 4));
        if (!PyAnySet_Check(n->obj)) { PyErr_SetString(PyExc_ValueError, "texts must be a set"); return -1; }
        if (!(n->memo = PyDict_New())) return -1;
        break;
    case OP_VALUE:
        if (parse_getter(n, ITEM(spec, 1)) < 0) return -1;
        n->obj = ref(ITEM(spec, 2));
        n->negate = PyObject_IsTrue(ITEM(spec, 3));
        if (!(n->memo = PyDict_New())) return -1;
        break;
    case OP_EXISTS:
        if (parse_getter(n, ITEM(spec, 1)) < 0) return -1;
        n->want = PyObject_IsTrue(ITEM(spec, 2));
        n->fallback = ref(ITEM(spec, 3));
        break;
    case OP_RANGE:
        if (parse_getter(n, ITEM(spec, 1)) < 0) return -1;
        n->lo = as_double(ITEM(spec, 2), &n->has_lo);
        n->hi = as_double(ITEM(spec, 3), &n->has_hi);
        n->lo_open = PyObject_IsTrue(ITEM(spec, 4));
        n->hi_open = PyObject_IsTrue(ITEM(spec, 5));
        n->fallback = ref(ITEM(spec, 6));
        break;
    case OP_EVENTS:
        n->keys = ref(ITEM(spec, 1));
        if (!PyTuple_Check(n->keys)) { PyErr_SetString(PyExc_ValueError, "keys must be a tuple"); return -1; }
        n->span = as_double(ITEM(spec, 2), &n->has_span);
        n->at_least = PyLong_AsLongLong(ITEM(spec, 3));
        n->has_most = ITEM(spec, 4) != Py_None;
        n->at_most = n->has_most ? PyLong_AsLongLong(ITEM(spec, 4)) : 0;
        break;
    case OP_ACTS:
        n->kinds = opt(ITEM(spec, 1));
        n->span = as_double(ITEM(spec, 2), &n->has_span);
        n->by = (int)PyLong_AsLong(ITEM(spec, 3));
        n->direction = opt(ITEM(spec, 4));
        n->team = ref(ITEM(spec, 5));
        n->automated = PyObject_IsTrue(ITEM(spec, 6));
        n->open = PyObject_IsTrue(ITEM(spec, 7));
        n->at_least = PyLong_AsLongLong(ITEM(spec, 8));
        n->has_most = ITEM(spec, 9) != Py_None;
        n->at_most = n->has_most ? PyLong_AsLongLong(ITEM(spec, 9)) : 0;
        if (ITEM(spec, 10) != Py_None) { PyErr_SetString(PyExc_ValueError, "reserved slot"); return -1; }
        break;
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* Scorer specs: (dim, node, points, fired) for `when` rules;
 * (dim, -1, points, None, key, span, k, limit, per_event, dim_name, rule_name) for per-event rules (key None:
 * call per_event(ctx) in Python). */
static int parse_scorer(Scorer *s, PyObject *spec, Py_ssize_t nnodes) {
    if (!PyTuple_Check(spec) || (PyTuple_GET_SIZE(spec) != 4 && PyTuple_GET_SIZE(spec) != 11)) {
        PyErr_Format(PyExc_ValueError, "bad scorer %R", spec);
        return -1;
    }
    s->dim = (int)PyLong_AsLong(ITEM(spec, 0));
    s->node = PyLong_AsSsize_t(ITEM(spec, 1));
    s->points = PyFloat_AsDouble(ITEM(spec, 2));
    if (PyErr_Occurred()) return -1;
    if (s->dim < 0 || s->dim > 2 || s->node >= nnodes) { PyErr_SetString(PyExc_ValueError, "bad scorer"); return -1; }
    if (s->node >= 0) {
        s->fired = ref(ITEM(spec, 3));
        return 0;
    }
    if (PyTuple_GET_SIZE(spec) != 11) { PyErr_SetString(PyExc_ValueError, "bad per-event scorer"); return -1; }
    s->key = opt(ITEM(spec, 4));
    int has;
    s->span = as_double(ITEM(spec, 5), &has);
    if (!has) s->span = INFINITY;
    s->k = PyFloat_AsDouble(ITEM(spec, 6));
    s->limit = PyFloat_AsDouble(ITEM(spec, 7));
    s->per_event = ref(ITEM(spec, 8));
    s->dim_name = ref(ITEM(spec, 9));
    s->rule_name = ref(ITEM(spec, 10));
    return PyErr_Occurred() ? -1 : 0;
}

static int program_init(Program *self, PyObject *args, PyObject *kwds) {
    PyObject *nodes, *scorers, *fired_type, *key_index;
    if (!PyArg_ParseTuple(args, "O!O!OO!", &PyTuple_Type, &nodes, &PyTuple_Type, &scorers, &fired_type,
                          &PyDict_Type, &key_index))
        return -1;
    program_clear(self);
    Py_ssize_t nn = PyTuple_GET_SIZE(nodes), ns = PyTuple_GET_SIZE(scorers);
    self->nodes = PyMem_Calloc(nn ? nn : 1, sizeof(Node));
    self->scorers = PyMem_Calloc(ns ? ns : 1, sizeof(Scorer));
    if (!self->nodes || !self->scorers) { PyErr_NoMemory(); return -1; }
    self->nnodes = nn;
    self->nscorers = ns;
    for (Py_ssize_t i = 0; i < nn; i++)
        if (parse_node(&self->nodes[i], PyTuple_GET_ITEM(nodes, i), nn) < 0) return -1;
    for (Py_ssize_t i = 0; i < ns; i++)
        if (parse_scorer(&self->scorers[i], PyTuple_GET_ITEM(scorers, i), nn) < 0) return -1;
    /* bucket keys resolved once: a prepared contact's buckets are read by index, not looked up by key */
    for (Py_ssize_t i = 0; i < nn; i++) {
        Node *n = &self->nodes[i];
        if (n->op != OP_EVENTS) continue;
        Py_ssize_t nk = PyTuple_GET_SIZE(n->keys);
        n->key_ids = PyMem_Malloc((nk ? nk : 1) * sizeof(Py_ssize_t));
        if (!n->key_ids) { PyErr_NoMemory(); return -1; }
        for (Py_ssize_t j = 0; j < nk; j++) {
            n->key_ids[j] = key_of(key_index, PyTuple_GET_ITEM(n->keys, j));
            if (n->key_ids[j] == -2) { PyErr_Clear(); n->key_ids[j] = -1; } /* unhashable: never a by-type key */
        }
    }
    for (Py_ssize_t i = 0; i < ns; i++) {
        Scorer *s = &self->scorers[i];
        s->key_id = -1;
        if (s->key) {
            s->key_id = key_of(key_index, s->key);
            if (s->key_id == -2) { PyErr_Clear(); s->key_id = -1; }
        }
    }
    self->fired_type = ref(fired_type);
    self->key_index = ref(key_index);
    return 0;
}

/* ------------------------------------------------------------------------------------------ evaluation */

/* What the nodes read of one contact, taken from the engine's Ctx once per call. */
typedef struct {
    PyObject *ctx, *contact, *fields, *ev, *acts, *owner;
    Prepared *prep;  /* set when the engine passed a Prepared for ev and acts: read the C arrays */
    double now;
} View;

/* The engine passes what the nodes read after the call's own arguments (c, f, ev, acts, owner, now: locals it
 * has at hand); called with the context alone, they are read from its attributes. */
#define VIEW_ARGS 6

static int view_init(View *v, PyObject *ctx, PyObject *const *given, PyObject *key_index) {
    memset(v, 0, sizeof(*v));
    v->ctx = ctx;
    if (given) {
        v->contact = Py_NewRef(given[0]); v->fields = Py_NewRef(given[1]); v->ev = Py_NewRef(given[2]);
        v->acts = Py_NewRef(given[3]); v->owner = Py_NewRef(given[4]);
        v->now = PyFloat_AsDouble(given[5]);
    } else {
        PyObject *now = PyObject_GetAttr(ctx, str_now);
        if (!now) return -1;
        v->now = PyFloat_AsDouble(now);
        Py_DECREF(now);
        if (v->now == -1.0 && PyErr_Occurred()) return -1;
        if (!(v->contact = PyObject_GetAttr(ctx, str_c))) return -1;
        if (!(v->fields = PyObject_GetAttr(ctx, str_f))) return -1;
        if (!(v->ev = PyObject_GetAttr(ctx, str_ev))) return -1;
        if (!(v->acts = PyObject_GetAttr(ctx, str_acts))) return -1;
        if (!(v->owner = PyObject_GetAttr(ctx, str_owner))) return -1;
    }
    if (v->now == -1.0 && PyErr_Occurred()) return -1;
    if (Py_IS_TYPE(v->ev, &PreparedType) && v->acts == v->ev) {
        v->prep = (Prepared *)v->ev;
        if (v->prep->key_index != key_index) {
            PyErr_SetString(PyExc_ValueError, "contact prepared with another program's buckets");
            return -1;
        }
        return 0;
    }
    if (!PyDict_Check(v->ev) || !PyList_Check(v->acts)) {
        PyErr_SetString(PyExc_TypeError, "ctx.ev must be a dict and ctx.acts a list");
        return -1;
    }
    return 0;
}

static void view_clear(View *v) {
    Py_XDECREF(v->contact); Py_XDECREF(v->fields); Py_XDECREF(v->ev); Py_XDECREF(v->acts); Py_XDECREF(v->owner);
}

/* New reference to the field value a node reads. */
static PyObject *get_value(Node *n, View *v) {
    switch (n->getter) {
    case GET_ATTR:
        return slot_attr(v->contact, n->arg, &n->slot);
    case GET_FIELD: {
        if (PyDict_CheckExact(v->fields)) {
            PyObject *value = PyDict_GetItemWithError(v->fields, n->arg);
            if (value) return ref(value);
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        PyObject *get = PyObject_GetAttrString(v->fields, "get");
        if (!get) return NULL;
        PyObject *value = PyObject_CallOneArg(get, n->arg);
        Py_DECREF(get);
        return value;
    }
    default:
        return PyObject_CallOneArg(n->arg, v->ctx);
    }
}

/* Whether an exact str is already what `fold` would return: ASCII, no capitals, no surrounding whitespace. */
static int already_folded(PyObject *s) {
    if (!PyUnicode_IS_ASCII(s)) return 0;
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    if (len > TEXT_LIMIT) return 0;
    const unsigned char *p = PyUnicode_1BYTE_DATA(s);
    if (len && (Py_ISSPACE(p[0]) || Py_ISSPACE(p[len - 1]) || p[0] == 0x1c || p[len - 1] == 0x1f)) return 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char ch = p[i];
        if (ch >= 'A' && ch <= 'Z') return 0;
        if (ch >= 0x1c && ch <= 0x1f && (i == 0 || i == len - 1)) return 0; /* str.strip's separators */
    }
    return 1;
}

static int truth(PyObject *r) {
    if (!r) return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

static int eval_node(Program *p, Py_ssize_t index, View *v);

static int eval_text_in(Node *n, View *v) {
    PyObject *value = get_value(n, v);
    if (!value) return -1;
    int r;
    if (PyUnicode_CheckExact(value)) {
        if (already_folded(value)) {
            r = PySet_Contains(n->obj, value);
        } else {  /* "FR", "Director": fold once per distinct text */
            PyObject *known = PyDict_GetItemWithError(n->memo, value); /* borrowed */
            if (known) {
                r = known == Py_True;
            } else if (PyErr_Occurred()) {
                r = -1;
            } else {
                PyObject *folded = PyObject_CallOneArg(py_fold, value);
                r = folded ? PySet_Contains(n->obj, folded) : -1;
                Py_XDECREF(folded);
                if (r >= 0) {
                    if (PyDict_GET_SIZE(n->memo) >= MEMO_LIMIT) PyDict_Clear(n->memo);
                    if (PyDict_SetItem(n->memo, value, r ? Py_True : Py_False) < 0) r = -1;
                }
            }
        }
    } else if (value == Py_None) {
        r = 0; /* _Equals(None) is False whatever the expected values */
    } else {
        r = truth(PyObject_CallOneArg(n->fallback, value));
    }
    Py_DECREF(value);
    return r;
}

static int in_range(Node *n, double x) {
    if (n->has_lo && (n->lo_open ? !(x > n->lo) : !(x >= n->lo))) return 0;
    if (n->has_hi && (n->hi_open ? !(x < n->hi) : !(x <= n->hi))) return 0;
    return 1;
}

static int eval_range(Node *n, View *v) {
    PyObject *value = get_value(n, v);
    if (!value) return -1;
    int r;
    if (PyFloat_CheckExact(value) && !isnan(PyFloat_AS_DOUBLE(value))) {
        r = in_range(n, PyFloat_AS_DOUBLE(value));
    } else if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow && x < MAX_EXACT_US && x > -MAX_EXACT_US) r = in_range(n, (double)x);
        else { PyErr_Clear(); r = truth(PyObject_CallOneArg(n->fallback, value)); }
    } else if (value == Py_None) {
        r = 0;
    } else {
        r = truth(PyObject_CallOneArg(n->fallback, value));
    }
    Py_DECREF(value);
    return r;
}

static int eval_exists(Node *n, View *v) {
    PyObject *value = get_value(n, v);
    if (!value) return -1;
    int empty;
    if (value == Py_None) empty = 1;
    else if (PyUnicode_CheckExact(value) && PyUnicode_IS_ASCII(value)) {
        /* empty after strip(): every character is whitespace (ASCII: Py_ISSPACE or \x1c-\x1f) */
        Py_ssize_t len = PyUnicode_GET_LENGTH(value);
        const unsigned char *s = PyUnicode_1BYTE_DATA(value);
        empty = 1;
        for (Py_ssize_t i = 0; i < len; i++)
            if (!(Py_ISSPACE(s[i]) || (s[i] >= 0x1c && s[i] <= 0x1f))) { empty = 0; break; }
    } else {
        empty = truth(PyObject_CallOneArg(n->fallback, value));
    }
    Py_DECREF(value);
    if (empty < 0) return -1;
    return empty != n->want;
}

/* bisect over a list of floats (every item an exact float: the engine's buckets) */
static Py_ssize_t bisect_left_f(PyObject *list, double x, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (PyFloat_AS_DOUBLE(PyList_GET_ITEM(list, mid)) < x) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static Py_ssize_t bisect_right_f(PyObject *list, double x, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (x < PyFloat_AS_DOUBLE(PyList_GET_ITEM(list, mid))) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static int all_floats(PyObject *list) {
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!PyFloat_CheckExact(PyList_GET_ITEM(list, i))) return 0;
    return 1;
}

/* The events in bucket `key` at or before now (and within `span` seconds, when given). -1 on error. */
/* bisect over a sorted double array */
static Py_ssize_t bisect_left_d(const double *a, double x, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) { Py_ssize_t mid = (lo + hi) / 2; if (a[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
}

static Py_ssize_t bisect_right_d(const double *a, double x, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) { Py_ssize_t mid = (lo + hi) / 2; if (x < a[mid]) hi = mid; else lo = mid + 1; }
    return lo;
}

static void bucket_by_id(Prepared *p, Py_ssize_t k, const double **times, Py_ssize_t *n) {
    if (k < 0 || k >= p->nkeys) { *times = NULL; *n = 0; return; }
    *times = p->times + p->offset[k];
    *n = p->offset[k + 1] - p->offset[k];
}

static long long count_bucket(View *v, PyObject *key, Py_ssize_t key_id, int has_span, double span) {
    if (v->prep) {
        const double *a;
        Py_ssize_t n;
        bucket_by_id(v->prep, key_id, &a, &n);
        if (!n) return 0;
        Py_ssize_t hi = a[n - 1] <= v->now ? n : bisect_right_d(a, v->now, 0, n);
        return hi - (has_span ? bisect_left_d(a, v->now - span, 0, n) : 0);
    }
    PyObject *times = PyDict_GetItemWithError(v->ev, key);
    if (!times) return PyErr_Occurred() ? -1 : 0;
    if (!PyList_CheckExact(times) || !all_floats(times)) {
        PyErr_SetString(PyExc_TypeError, "event buckets must be lists of floats");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(times);
    if (!n) return 0;
    double now = v->now;
    Py_ssize_t hi = PyFloat_AS_DOUBLE(PyList_GET_ITEM(times, n - 1)) <= now ? n : bisect_right_f(times, now, 0, n);
    Py_ssize_t lo = has_span ? bisect_left_f(times, now - span, 0, n) : 0;
    return hi - lo;
}

static int count_ok(Node *n, long long count) {
    return count >= n->at_least && (!n->has_most || count <= n->at_most);
}

static int eval_events(Node *n, View *v) {
    long long total = 0;
    Py_ssize_t nk = PyTuple_GET_SIZE(n->keys);
    for (Py_ssize_t i = 0; i < nk; i++) {
        long long c = count_bucket(v, PyTuple_GET_ITEM(n->keys, i), n->key_ids[i], n->has_span, n->span);
        if (c < 0) return -1;
        total += c;
    }
    return count_ok(n, total);
}

/* One activity row, whichever form it comes in. */
typedef struct { double ts; PyObject *kind, *by, *direction, *done, *automated; } Row;

static int row_at(View *v, Py_ssize_t i, Row *out) {
    if (v->prep) {
        ActRow *r = &v->prep->acts[i];
        out->ts = r->ts; out->kind = r->kind; out->by = r->by; out->direction = r->direction;
        out->done = r->done; out->automated = r->automated;
        return 0;
    }
    PyObject *row = PyList_GET_ITEM(v->acts, i);
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 6 || !PyFloat_CheckExact(ITEM(row, 0))) {
        PyErr_SetString(PyExc_TypeError, "activity rows must be (epoch, kind, by, direction, done, automated)");
        return -1;
    }
    out->ts = PyFloat_AS_DOUBLE(ITEM(row, 0)); out->kind = ITEM(row, 1); out->by = ITEM(row, 2);
    out->direction = ITEM(row, 3); out->done = ITEM(row, 4); out->automated = ITEM(row, 5);
    return 0;
}

static Py_ssize_t rows_in(View *v) { return v->prep ? v->prep->nacts : PyList_GET_SIZE(v->acts); }

static int eval_acts(Node *n, View *v) {
    double now = v->now, start = n->has_span ? now - n->span : -INFINITY;
    long long count = 0;
    Py_ssize_t len = rows_in(v);
    for (Py_ssize_t i = 0; i < len; i++) {
        Row row;
        if (row_at(v, i, &row) < 0) return -1;
        double at = row.ts;
        if (at > now) break;
        if (at < start) continue;
        if (n->kinds) {
            int in = PySet_Contains(n->kinds, row.kind);
            if (in < 0) return -1;
            if (!in) continue;
        }
        int automated = PyObject_IsTrue(row.automated);
        if (automated < 0) return -1;
        if (automated && !n->automated) continue;
        int done = PyObject_IsTrue(row.done);
        if (done < 0) return -1;
        if (!done && !n->open) continue;
        if (n->direction) {
            int same = PyObject_RichCompareBool(row.direction, n->direction, Py_EQ);
            if (same < 0) return -1;
            if (!same) continue;
        }
        PyObject *who = row.by;
        if (n->by != BY_ANYONE) {
            if (who == Py_None) continue;
            int is_owner = PyObject_RichCompareBool(who, v->owner, Py_EQ);
            if (is_owner < 0) return -1;
            if (n->by == BY_OWNER && !is_owner) continue;
            if (n->by == BY_SALES && !is_owner) {
                int in_team = PySet_Contains(n->team, who);
                if (in_team < 0) return -1;
                if (!in_team) continue;
            }
        }
        count++;
    }
    return count_ok(n, count);
}

static int eval_value(Node *n, View *v) {
    PyObject *value = get_value(n, v);
    if (!value) return -1;
    if (!PyUnicode_CheckExact(value)) {
        int r = truth(PyObject_CallOneArg(n->obj, value));
        Py_DECREF(value);
        return r;
    }
    PyObject *known = PyDict_GetItemWithError(n->memo, value); /* borrowed */
    if (known) {
        Py_DECREF(value);
        return known == Py_True;
    }
    if (PyErr_Occurred()) { Py_DECREF(value); return -1; }
    int r = truth(PyObject_CallOneArg(n->obj, value));
    if (r >= 0) {
        if (PyDict_GET_SIZE(n->memo) >= MEMO_LIMIT) PyDict_Clear(n->memo);
        if (PyDict_SetItem(n->memo, value, r ? Py_True : Py_False) < 0) r = -1;
    }
    Py_DECREF(value);
    return r;
}

static int eval_node(Program *p, Py_ssize_t index, View *v) {
    Node *n = &p->nodes[index];
    int r;
    switch (n->op) {
    case OP_PY:
        return truth(PyObject_CallOneArg(n->obj, v->ctx));
    case OP_ALL:
        for (Py_ssize_t i = 0; i < n->nchildren; i++) {
            r = eval_node(p, n->children[i], v);
            if (r <= 0) return r;
        }
        return 1;
    case OP_ANY:
        for (Py_ssize_t i = 0; i < n->nchildren; i++) {
            r = eval_node(p, n->children[i], v);
            if (r != 0) return r;
        }
        return 0;
    case OP_NOT:
        r = eval_node(p, n->children[0], v);
        return r < 0 ? -1 : !r;
    case OP_TEXT_IN:
        r = eval_text_in(n, v);
        return r < 0 ? -1 : (n->negate ? !r : r);
    case OP_VALUE:
        r = eval_value(n, v);
        return r < 0 ? -1 : (n->negate ? !r : r);
    case OP_EXISTS:
        return eval_exists(n, v);
    case OP_RANGE:
        return eval_range(n, v);
    case OP_EVENTS:
        return eval_events(n, v);
    case OP_ACTS:
        return eval_acts(n, v);
    }
    PyErr_SetString(PyExc_SystemError, "unknown node");
    return -1;
}

/* round(value, 2) as scoring.round2 computes it; the rare cases go to Python. */
static PyObject *round2(double value) {
    double y = value * 100.0;
    if (y > -1e6 && y < 1e6) {
        double base = floor(y), frac = y - base;
        if (fabs(frac - 0.5) > 1e-9) {
            double k = frac > 0.5 ? base + 1 : base;
            if (k != 0) return PyFloat_FromDouble(k / 100.0);
        }
    }
    PyObject *x = PyFloat_FromDouble(value);
    if (!x) return NULL;
    PyObject *r = PyObject_CallOneArg(py_round2, x);
    Py_DECREF(x);
    return r;
}

/* Points of a per-event rule with half-life decay over one bucket: a new float, or NULL on error. */
static PyObject *decayed_total(Scorer *s, double total) {
    if (total == 0.0) return PyFloat_FromDouble(0.0);
    double value = s->points * total;
    if (value > s->limit) value = s->limit;
    else if (value < -s->limit) value = -s->limit;
    return round2(value);
}

static PyObject *decayed_one(Scorer *s, View *v) {
    if (v->prep) {
        const double *a;
        Py_ssize_t n;
        bucket_by_id(v->prep, s->key_id, &a, &n);
        if (!n) return PyFloat_FromDouble(0.0);
        double now = v->now, total = 0.0;
        Py_ssize_t hi = a[n - 1] <= now ? n : bisect_right_d(a, now, 0, n);
        for (Py_ssize_t i = bisect_left_d(a, now - s->span, 0, n); i < hi; i++) total += exp((a[i] - now) * s->k);
        return decayed_total(s, total);
    }
    PyObject *times = PyDict_GetItemWithError(v->ev, s->key);
    if (!times) return PyErr_Occurred() ? NULL : PyFloat_FromDouble(0.0);
    if (!PyList_CheckExact(times) || !all_floats(times)) {
        PyErr_SetString(PyExc_TypeError, "event buckets must be lists of floats");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(times);
    if (!n) return PyFloat_FromDouble(0.0);
    double now = v->now, total = 0.0;
    Py_ssize_t hi = PyFloat_AS_DOUBLE(PyList_GET_ITEM(times, n - 1)) <= now ? n : bisect_right_f(times, now, 0, n);
    Py_ssize_t lo = bisect_left_f(times, now - s->span, 0, n);
    for (Py_ssize_t i = lo; i < hi; i++) total += exp((PyFloat_AS_DOUBLE(PyList_GET_ITEM(times, i)) - now) * s->k);
    if (total == 0.0) return PyFloat_FromDouble(0.0);
    double value = s->points * total;
    if (value > s->limit) value = s->limit;
    else if (value < -s->limit) value = -s->limit;
    return round2(value);
}

/* The contact's memo of static results for this program (scorers, then criteria), or NULL: only prepared
 * contacts have one, made by the first hand-off replay (most contacts never replay). */
static signed char *static_memo(Program *self, View *v) {
    Prepared *p = v->prep;
    if (!p || !self->statics) return NULL;
    if (p->memo_program == (PyObject *)self && p->memo_generation == self->generation) return p->memo;
    Py_ssize_t n = self->nscorers + self->ncriteria;
    signed char *memo = PyMem_Malloc(n ? n : 1);
    if (!memo) return NULL;  /* no memo: simply evaluated again */
    memset(memo, -1, n);
    PyMem_Free(p->memo);
    p->memo = memo;
    Py_XSETREF(p->memo_program, Py_NewRef((PyObject *)self));
    p->memo_generation = self->generation;
    return memo;
}

/* eval_node through the memo when the rule or criterion `slot` is static */
static int eval_static(Program *self, Py_ssize_t node, View *v, signed char *memo, Py_ssize_t slot) {
    if (memo && self->statics[slot]) {
        if (memo[slot] >= 0) return memo[slot];
        int r = eval_node(self, node, v);
        if (r >= 0) memo[slot] = (signed char)r;
        return r;
    }
    return eval_node(self, node, v);
}

/* The scoring rules' raw (uncapped) dimension sums, added in the engine's order; what fired is appended to
 * `fired` when it is a list; static rules read through `memo` when it is given. */
static int score_into(Program *self, View *v, PyObject *ctx, PyObject *fired, signed char *memo, double raw[3]) {
    for (Py_ssize_t i = 0; i < self->nscorers; i++) {
        Scorer *s = &self->scorers[i];
        if (s->node >= 0) {
            int r = eval_static(self, s->node, v, memo, i);
            if (r < 0) return -1;
            if (r) {
                raw[s->dim] += s->points;
                if (fired && PyList_Append(fired, s->fired) < 0) return -1;
            }
            continue;
        }
        PyObject *value = s->key ? decayed_one(s, v) : PyObject_CallOneArg(s->per_event, ctx);
        if (!value) return -1;
        int nonzero = PyObject_IsTrue(value);
        if (nonzero < 0) { Py_DECREF(value); return -1; }
        if (nonzero) {
            double d = PyFloat_AsDouble(value);
            if (d == -1.0 && PyErr_Occurred()) { Py_DECREF(value); return -1; }
            raw[s->dim] += d;
            if (fired) {
                PyObject *rule = PyObject_CallFunctionObjArgs(self->fired_type, s->dim_name, s->rule_name, value,
                                                              NULL);
                if (!rule || PyList_Append(fired, rule) < 0) { Py_XDECREF(rule); Py_DECREF(value); return -1; }
                Py_DECREF(rule);
            }
        }
        Py_DECREF(value);
    }
    return 0;
}

/* round(x) of a float, as Python does it: half to even; NaN and infinities raise as int() would. */
static int round_half_even(double x, long long *out) {
    if (isnan(x)) { PyErr_SetString(PyExc_ValueError, "cannot convert float NaN to integer"); return -1; }
    if (isinf(x)) { PyErr_SetString(PyExc_OverflowError, "cannot convert float infinity to integer"); return -1; }
    double rounded = round(x);
    if (fabs(x - rounded) == 0.5) rounded = 2.0 * round(x / 2.0);
    if (!(fabs(rounded) < 9e18)) { PyErr_SetString(PyExc_OverflowError, "score out of range"); return -1; }
    *out = (long long)rounded;
    return 0;
}

/* engine._capped: each dimension clamped to [0, cap] (Python's max/min, NaN included) and rounded; out is
 * (total, fit, engagement, intent). */
static int capped(Program *self, const double raw[3], long long out[4]) {
    out[0] = 0;
    for (int d = 0; d < 3; d++) {
        double value = raw[d];
        if (0.0 > value) value = 0.0;
        if (self->caps[d] < value) value = self->caps[d];
        if (round_half_even(value, &out[d + 1]) < 0) return -1;
        out[0] += out[d + 1];
    }
    return 0;
}

/* ctx.scores = (total, fit, engagement, intent) as floats: what score conditions (Python closures) read */
static int set_scores(PyObject *ctx, const long long s[4]) {
    PyObject *scores = Py_BuildValue("(dddd)", (double)s[0], (double)s[1], (double)s[2], (double)s[3]);
    if (!scores) return -1;
    int rc = PyObject_SetAttr(ctx, str_scores, scores);
    Py_DECREF(scores);
    return rc;
}

/* engine._qualifies */
static int qualifies(Program *self, long long total, int framework_met) {
    switch (self->qualify_on) {
    case QUALIFY_SCORE_OR_FRAMEWORK: return total >= self->threshold || framework_met;
    case QUALIFY_SCORE: return total >= self->threshold;
    case QUALIFY_FRAMEWORK: return framework_met;
    default: return total >= self->threshold && framework_met;
    }
}

/* Bit i set when criterion i holds; only the criteria in `only` when it is not all ones (every one of
 * them evaluated, as the Python framework does: an error in any surfaces as it would in Python); static
 * criteria read through `memo` when it is given. */
static int criteria_mask(Program *self, View *v, unsigned long long only, signed char *memo,
                         unsigned long long *mask) {
    *mask = 0;
    for (Py_ssize_t i = 0; i < self->ncriteria; i++) {
        if (!(only >> i & 1ULL)) continue;
        int r = eval_static(self, self->criteria[i], v, memo, self->nscorers + i);
        if (r < 0) return -1;
        if (r) *mask |= 1ULL << i;
    }
    return 0;
}

/* The names of the criteria in `mask`, in order: a new reference (shared per mask for small frameworks). */
static PyObject *met_names(Program *self, unsigned long long mask) {
    if (mask < 256 && self->met_cache[mask]) return Py_NewRef(self->met_cache[mask]);
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < self->ncriteria; i++) count += (mask >> i) & 1ULL;
    PyObject *out = PyTuple_New(count);
    if (!out) return NULL;
    for (Py_ssize_t i = 0, j = 0; i < self->ncriteria; i++)
        if (mask >> i & 1ULL) PyTuple_SET_ITEM(out, j++, Py_NewRef(PyTuple_GET_ITEM(self->criteria_names, i)));
    if (self->ncriteria <= 8) self->met_cache[mask] = Py_NewRef(out);
    return out;
}

#define DECISION_READY(self) \
    if (!(self)->decision_ready) { PyErr_SetString(PyExc_RuntimeError, "Program.configure was not called"); return NULL; }

/* program.assess(ctx, fired, c, f, ev, acts, owner, now)
 *   -> (total, fit, engagement, intent, met, framework_met, qualifies)
 * What engine._evaluate does first, in one call: the scores (fired rules appended to `fired`), capped and
 * rounded, set on ctx.scores; the framework's criteria that hold; whether the framework is met; whether
 * the contact qualifies as a prospect. */
static PyObject *program_assess(Program *self, PyObject *const *args, Py_ssize_t nargs) {
    DECISION_READY(self);
    if (nargs != 2 + VIEW_ARGS) {
        PyErr_SetString(PyExc_TypeError, "assess(ctx, fired, c, f, ev, acts, owner, now)");
        return NULL;
    }
    PyObject *fired = args[1] == Py_None ? NULL : args[1];
    View v;
    if (view_init(&v, args[0], args + 2, self->key_index) < 0) { view_clear(&v); return NULL; }
    double raw[3] = {0.0, 0.0, 0.0};
    long long s[4];
    unsigned long long mask;
    if (score_into(self, &v, args[0], fired, NULL, raw) < 0 || capped(self, raw, s) < 0 ||
        set_scores(args[0], s) < 0 || criteria_mask(self, &v, ~0ULL, NULL, &mask) < 0) {
        view_clear(&v);
        return NULL;
    }
    view_clear(&v);
    int framework_met = (mask & self->required) == self->required;
    PyObject *out = PyTuple_New(7);
    if (!out) return NULL;
    for (int i = 0; i < 4; i++) {
        PyObject *n = PyLong_FromLongLong(s[i]);
        if (!n) { Py_DECREF(out); return NULL; }
        PyTuple_SET_ITEM(out, i, n);
    }
    PyObject *met = met_names(self, mask);
    if (!met) { Py_DECREF(out); return NULL; }
    PyTuple_SET_ITEM(out, 4, met);
    PyTuple_SET_ITEM(out, 5, PyBool_FromLong(framework_met));
    PyTuple_SET_ITEM(out, 6, PyBool_FromLong(qualifies(self, s[0], framework_met)));
    return out;
}

/* program.qualifies_at(ctx, at, c, f, ev, acts, owner) -> bool: engine._qualifies_at, whether the contact
 * qualified as of `at` (seeing only what was dated at or before it). ctx.now and ctx.scores are set for
 * the Python closures during the call and restored after it, error or not. */
static PyObject *program_qualifies_at(Program *self, PyObject *const *args, Py_ssize_t nargs) {
    DECISION_READY(self);
    if (nargs != 2 + VIEW_ARGS - 1 || !PyFloat_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "qualifies_at(ctx, at: float, c, f, ev, acts, owner)");
        return NULL;
    }
    PyObject *ctx = args[0];
    PyObject *saved_now = PyObject_GetAttr(ctx, str_now);
    if (!saved_now) return NULL;
    PyObject *saved_scores = PyObject_GetAttr(ctx, str_scores);
    if (!saved_scores) { Py_DECREF(saved_now); return NULL; }
    PyObject *given[VIEW_ARGS] = {args[2], args[3], args[4], args[5], args[6], args[1]};
    PyObject *result = NULL;
    View v;
    memset(&v, 0, sizeof v);
    int ok = PyObject_SetAttr(ctx, str_now, args[1]) == 0 && view_init(&v, ctx, given, self->key_index) == 0;
    if (ok) {
        double raw[3] = {0.0, 0.0, 0.0};
        long long s[4];
        unsigned long long mask;
        signed char *memo = static_memo(self, &v);  /* the replays of one contact share it */
        if (score_into(self, &v, ctx, NULL, memo, raw) == 0 && capped(self, raw, s) == 0 && set_scores(ctx, s) == 0 &&
            criteria_mask(self, &v, self->required, memo, &mask) == 0)
            result = PyBool_FromLong(qualifies(self, s[0], mask == self->required));
    }
    view_clear(&v);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int restored = PyObject_SetAttr(ctx, str_now, saved_now) == 0 && PyObject_SetAttr(ctx, str_scores, saved_scores) == 0;
    Py_DECREF(saved_now);
    Py_DECREF(saved_scores);
    if (type) {
        PyErr_Restore(type, value, traceback);  /* the first error wins */
        Py_XDECREF(result);
        return NULL;
    }
    if (!restored) { Py_XDECREF(result); return NULL; }
    return result;
}

/* program.configure(caps, threshold, qualify_on, criteria_nodes, criteria_names, required, labels, statics):
 * what turns sums into a decision. `qualify_on` is QUALIFY_*, `required` a tuple of bools per criterion,
 * `labels` one str or None per scorer (the reason's text of a fixed rule), `statics` one bool per scorer then
 * per criterion: true when it reads neither the clock nor the scores (Compiler.is_static), so that its
 * result for a contact holds at every instant. */
static PyObject *program_configure(Program *self, PyObject *args) {
    PyObject *caps, *nodes, *names, *required, *labels, *statics;
    long long threshold;
    int qualify_on;
    if (!PyArg_ParseTuple(args, "O!LiO!O!O!O!O!", &PyTuple_Type, &caps, &threshold, &qualify_on, &PyTuple_Type,
                          &nodes, &PyTuple_Type, &names, &PyTuple_Type, &required, &PyTuple_Type, &labels,
                          &PyTuple_Type, &statics))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(nodes);
    if (PyTuple_GET_SIZE(caps) != 3 || PyTuple_GET_SIZE(names) != n || PyTuple_GET_SIZE(required) != n ||
        n > 64 || PyTuple_GET_SIZE(labels) != self->nscorers || qualify_on < 0 || qualify_on > 3 ||
        PyTuple_GET_SIZE(statics) != self->nscorers + n) {
        PyErr_SetString(PyExc_ValueError, "configure: inconsistent sizes (at most 64 criteria)");
        return NULL;
    }
    double cap[3];
    for (int d = 0; d < 3; d++) {
        cap[d] = PyFloat_AsDouble(PyTuple_GET_ITEM(caps, d));
        if (cap[d] == -1.0 && PyErr_Occurred()) return NULL;
    }
    Py_ssize_t *criteria = PyMem_Malloc((n ? n : 1) * sizeof(Py_ssize_t));
    PyObject **text = PyMem_Calloc(self->nscorers ? self->nscorers : 1, sizeof(PyObject *));
    signed char *fixed = PyMem_Malloc(self->nscorers + n + 1);
    if (!criteria || !text || !fixed) {
        PyMem_Free(criteria); PyMem_Free(text); PyMem_Free(fixed);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < self->nscorers + n; i++) {
        int flag = PyObject_IsTrue(PyTuple_GET_ITEM(statics, i));
        if (flag < 0) { PyMem_Free(criteria); PyMem_Free(text); PyMem_Free(fixed); return NULL; }
        /* a per-event rule reads the clock whatever it is told */
        fixed[i] = (signed char)(flag && (i >= self->nscorers || self->scorers[i].node >= 0));
    }
    unsigned long long mask = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        criteria[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(nodes, i));
        int need = PyObject_IsTrue(PyTuple_GET_ITEM(required, i));
        if (criteria[i] < 0 || criteria[i] >= self->nnodes || need < 0 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(names, i))) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "configure: bad criterion");
            PyMem_Free(criteria); PyMem_Free(text); PyMem_Free(fixed);
            return NULL;
        }
        if (need) mask |= 1ULL << i;
    }
    for (Py_ssize_t i = 0; i < self->nscorers; i++) {
        PyObject *label = PyTuple_GET_ITEM(labels, i);
        if (label != Py_None && !(PyUnicode_CheckExact(label) && PyUnicode_GET_LENGTH(label))) {
            for (Py_ssize_t j = 0; j < i; j++) Py_XDECREF(text[j]);
            PyMem_Free(criteria); PyMem_Free(text); PyMem_Free(fixed);
            PyErr_SetString(PyExc_ValueError, "configure: a label is a non-empty str or None");
            return NULL;
        }
        text[i] = label == Py_None ? NULL : Py_NewRef(label);
    }
    /* replace any previous configuration */
    if (self->labels)
        for (Py_ssize_t i = 0; i < self->nscorers; i++) Py_XDECREF(self->labels[i]);
    PyMem_Free(self->labels);
    PyMem_Free(self->criteria);
    PyMem_Free(self->statics);
    self->statics = fixed;
    self->generation++;
    Py_XSETREF(self->criteria_names, Py_NewRef(names));
    for (int i = 0; i < 256; i++) Py_CLEAR(self->met_cache[i]);
    self->labels = text;
    self->criteria = criteria;
    self->ncriteria = n;
    self->required = mask;
    memcpy(self->caps, cap, sizeof cap);
    self->threshold = threshold;
    self->qualify_on = qualify_on;
    self->decision_ready = 1;
    Py_RETURN_NONE;
}

/* program.first(ctx, nodes) -> index in `nodes` of the first node that holds, or -1 */
static PyObject *program_first(Program *self, PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 2 && nargs != 2 + VIEW_ARGS) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "first(ctx, nodes[, c, f, ev, acts, owner, now])");
        return NULL;
    }
    View v;
    if (view_init(&v, args[0], nargs > 2 ? args + 2 : NULL, self->key_index) < 0) { view_clear(&v); return NULL; }
    Py_ssize_t n = PyTuple_GET_SIZE(args[1]);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t node = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[1], i));
        if (node < 0 || node >= self->nnodes) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "node index out of range");
            view_clear(&v);
            return NULL;
        }
        int r = eval_node(self, node, &v);
        if (r < 0) { view_clear(&v); return NULL; }
        if (r) { view_clear(&v); return PyLong_FromSsize_t(i); }
    }
    view_clear(&v);
    return PyLong_FromLong(-1);
}

/* program.test(ctx, node) -> bool */
static PyObject *program_test(Program *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 2 + VIEW_ARGS) {
        PyErr_SetString(PyExc_TypeError, "test(ctx, node[, c, f, ev, acts, owner, now])");
        return NULL;
    }
    Py_ssize_t node = PyLong_AsSsize_t(args[1]);
    if (node < 0 || node >= self->nnodes) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "node index out of range");
        return NULL;
    }
    View v;
    if (view_init(&v, args[0], nargs > 2 ? args + 2 : NULL, self->key_index) < 0) { view_clear(&v); return NULL; }
    int r = eval_node(self, node, &v);
    view_clear(&v);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

static PyObject *program_top_text(Program *self, PyObject *fired);

static PyMethodDef program_methods[] = {
    {"first", (PyCFunction)(void (*)(void))program_first, METH_FASTCALL, "index of the first node that holds"},
    {"test", (PyCFunction)(void (*)(void))program_test, METH_FASTCALL, "whether one node holds"},
    {"assess", (PyCFunction)(void (*)(void))program_assess, METH_FASTCALL,
     "(total, fit, engagement, intent, met, framework_met, qualifies); sets ctx.scores"},
    {"qualifies_at", (PyCFunction)(void (*)(void))program_qualifies_at, METH_FASTCALL,
     "whether the contact qualified as of `at`"},
    {"configure", (PyCFunction)program_configure, METH_VARARGS,
     "configure(caps, threshold, qualify_on, criteria_nodes, criteria_names, required, labels, statics)"},
    {"top_text", (PyCFunction)program_top_text, METH_O, "the reason's top contributors as text (None: in Python)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sync.rules._native.Program",
    .tp_basicsize = sizeof(Program),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Program(nodes, scorers, FiredRule): compiled conditions and scoring rules (see sync.rules.native)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)program_init,
    .tp_dealloc = (destructor)program_dealloc,
    .tp_methods = program_methods,
};

/* last_active(events, ignore, acts, created_at, now) -> epoch or None: the last moment at or before `now` the
 * contact did something that counts (an event of a type not ignored), a person logged a done, non-automated
 * activity with them, or, failing all, when the record was created. engine._last_active is the reference. */
static PyObject *last_active(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "last_active(events, ignore, acts, created_at, now)"); return NULL; }
    PyObject *events = args[0], *ignore = args[1], *acts = args[2], *created = args[3];
    double now = PyFloat_AsDouble(args[4]), last = -INFINITY;
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    View rows;  /* only its acts or prep: the activity rows, as a list or prepared */
    memset(&rows, 0, sizeof rows);
    if (Py_IS_TYPE(acts, &PreparedType)) rows.prep = (Prepared *)acts;
    else if (PyList_Check(acts)) rows.acts = acts;
    else { PyErr_SetString(PyExc_TypeError, "acts must be a list or prepared"); return NULL; }
    if (events != Py_None) {
        PyObject *seq = PySequence_Fast(events, "events must be a sequence");
        if (!seq) return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        PyObject **items = PySequence_Fast_ITEMS(seq);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *kind = slot_attr(items[i], str_type, &event_type);
            if (!kind) { Py_DECREF(seq); return NULL; }
            int ignored = PySet_Contains(ignore, kind);
            Py_DECREF(kind);
            if (ignored < 0) { Py_DECREF(seq); return NULL; }
            if (ignored) continue;
            PyObject *at = slot_attr(items[i], str_at, &event_at);
            PyObject *ts = at ? epoch_of(at) : NULL;
            Py_XDECREF(at);
            if (!ts) { Py_DECREF(seq); return NULL; }
            double t = PyFloat_AsDouble(ts);
            Py_DECREF(ts);
            if (t == -1.0 && PyErr_Occurred()) { Py_DECREF(seq); return NULL; }
            if (last < t && t <= now) last = t;
        }
        Py_DECREF(seq);
    }
    Py_ssize_t n = rows_in(&rows);
    for (Py_ssize_t i = 0; i < n; i++) {
        Row row;
        if (row_at(&rows, i, &row) < 0) return NULL;
        if (row.ts > now) break;
        int done = PyObject_IsTrue(row.done);
        if (done < 0) return NULL;
        if (!done) continue;
        int automated = PyObject_IsTrue(row.automated);
        if (automated < 0) return NULL;
        if (!automated && row.ts > last) last = row.ts;
    }
    if (created != Py_None) {
        PyObject *ts = epoch_of(created);
        if (!ts) return NULL;
        double t = PyFloat_AsDouble(ts);
        Py_DECREF(ts);
        if (t == -1.0 && PyErr_Occurred()) return NULL;
        if (last < t && t <= now) last = t;
    }
    if (last > -INFINITY) return PyFloat_FromDouble(last);
    Py_RETURN_NONE;
}

/* The first three of sorted(fired, key=lambda f: -abs(f.points)) into best[]: biggest contributors, ties in
 * rule order (a stable sort's order). Returns the count, -1 on error, -2 when a weight is NaN (sorted()
 * with NaN keys has no order to reproduce: the caller lets Python sort). */
static int select_top3(PyObject *fired, PyObject *best[3]) {
    static SlotCache points_slot;
    double weight[3] = {0, 0, 0};
    int count = 0;
    Py_ssize_t n = PyList_GET_SIZE(fired);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(fired, i);
        PyObject *points = slot_attr(item, str_points, &points_slot);
        if (!points) return -1;
        double w = fabs(PyFloat_AsDouble(points));
        Py_DECREF(points);
        if (w == -1.0 && PyErr_Occurred()) return -1;
        if (isnan(w)) return -2;
        int at = count;  /* insert after every kept item at least as heavy: stable */
        while (at > 0 && weight[at - 1] < w) at--;
        if (at >= 3) continue;
        for (int j = (count < 3 ? count : 2); j > at; j--) { best[j] = best[j - 1]; weight[j] = weight[j - 1]; }
        best[at] = item;
        weight[at] = w;
        if (count < 3) count++;
    }
    return count;
}

/* top3(fired) -> the reason's three biggest contributors (None: NaN points, use sorted) */
static PyObject *top3(PyObject *self, PyObject *fired) {
    if (!PyList_Check(fired)) { PyErr_SetString(PyExc_TypeError, "top3(list)"); return NULL; }
    PyObject *best[3];
    int count = select_top3(fired, best);
    if (count == -1) return NULL;
    if (count == -2) Py_RETURN_NONE;
    PyObject *out = PyList_New(count);
    if (!out) return NULL;
    for (int j = 0; j < count; j++) PyList_SET_ITEM(out, j, Py_NewRef(best[j]));
    return out;
}

/* program.top_text(fired) -> the reason's top contributors as text: "name +10, name +6, name +4" for the three
 * biggest, a fixed rule by its label (given to Program.configure, found by the identity of its shared
 * FiredRule), the others by name and points rounded half-even, as reasons.ReasonWriter writes them. None
 * when something is off the usual path (the caller formats in Python). */
static PyObject *program_top_text(Program *self, PyObject *fired) {
    DECISION_READY(self);
    if (!PyList_Check(fired)) { PyErr_SetString(PyExc_TypeError, "top_text(list)"); return NULL; }
    static SlotCache name_slot, points_slot;
    PyObject *best[3];
    int count = select_top3(fired, best);
    if (count == -1) return NULL;
    if (count == -2) Py_RETURN_NONE;
    PyObject *parts = PyTuple_New(count);
    if (!parts) return NULL;
    for (int j = 0; j < count; j++) {
        PyObject *label = NULL; /* borrowed */
        for (Py_ssize_t i = 0; i < self->nscorers && !label; i++)
            if (self->scorers[i].node >= 0 && self->scorers[i].fired == best[j]) label = self->labels[i];
        if (label) {
            PyTuple_SET_ITEM(parts, j, Py_NewRef(label));
            continue;
        }
        PyObject *name = slot_attr(best[j], str_name, &name_slot);
        if (!name) goto fail;
        PyObject *points = slot_attr(best[j], str_points, &points_slot);
        if (!points) { Py_DECREF(name); goto fail; }
        int plain = PyUnicode_CheckExact(name) && PyFloat_CheckExact(points) &&
                    isfinite(PyFloat_AS_DOUBLE(points)) && fabs(PyFloat_AS_DOUBLE(points)) < 1e15;
        double rounded = plain ? nearbyint(PyFloat_AS_DOUBLE(points)) : 0.0; /* round-half-even, as round() */
        Py_DECREF(points);
        if (!plain) { Py_DECREF(name); Py_DECREF(parts); Py_RETURN_NONE; }
        char number[32];
        snprintf(number, sizeof number, "%+lld", (long long)rounded);
        PyObject *text = PyUnicode_FromFormat("%U %s", name, number);
        Py_DECREF(name);
        if (!text) goto fail;
        PyTuple_SET_ITEM(parts, j, text);
    }
    PyObject *out = count == 1 ? Py_NewRef(PyTuple_GET_ITEM(parts, 0)) : PyUnicode_Join(str_comma, parts);
    Py_DECREF(parts);
    return out;
fail:
    Py_DECREF(parts);
    return NULL;
}

/* configure(epoch, fold, round2): the Python functions the C code defers to for the uncommon cases */
static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *epoch, *fold, *r2;
    if (!PyArg_ParseTuple(args, "OOO", &epoch, &fold, &r2)) return NULL;
    Py_XSETREF(py_epoch, ref(epoch));
    Py_XSETREF(py_fold, ref(fold));
    Py_XSETREF(py_round2, ref(r2));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"activity_rows", (PyCFunction)activity_rows, METH_O,
     "activity_rows(activities) -> [(epoch, kind, by, direction, done, automated)] sorted by time"},
    {"configure", configure, METH_VARARGS, "configure(epoch, fold, round2)"},
    {"prepare", (PyCFunction)(void (*)(void))prepare, METH_FASTCALL,
     "prepare(events, activities, key_index, keys) -> Prepared (event times and activity rows as C arrays)"},
    {"last_active", (PyCFunction)(void (*)(void))last_active, METH_FASTCALL,
     "last_active(events, ignore, acts, created_at, now) -> epoch seconds or None"},
    {"top3", (PyCFunction)top3, METH_O, "top3(fired) -> the three biggest contributors, ties in rule order (None: use sorted)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "sync.rules._native",
    "The rules engine's per-contact inner loops in C (see sync/rules/native.py).", -1, module_methods,
};

#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) return NULL

PyMODINIT_FUNC PyInit__native(void) {
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return NULL;
    INTERN(str_at, "at"); INTERN(str_type, "type"); INTERN(str_kind, "kind"); INTERN(str_by, "by");
    INTERN(str_direction, "direction"); INTERN(str_done, "done"); INTERN(str_automated, "automated");
    INTERN(str_ev, "ev"); INTERN(str_acts, "acts"); INTERN(str_now, "now"); INTERN(str_f, "f");
    INTERN(str_c, "c"); INTERN(str_owner, "owner"); INTERN(str_sort, "sort"); INTERN(str_key, "key"); INTERN(str_points, "points"); INTERN(str_name, "name");
    INTERN(str_scores, "scores"); INTERN(str_comma, ", ");
    PyObject *operator = PyImport_ImportModule("operator");
    if (!operator) return NULL;
    by_time = PyObject_CallMethod(operator, "itemgetter", "i", 0);
    Py_DECREF(operator);
    if (!by_time) return NULL;
    if (PyType_Ready(&ProgramType) < 0 || PyType_Ready(&PreparedType) < 0) return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m) return NULL;
    Py_INCREF(&ProgramType);
    if (PyModule_AddObject(m, "Program", (PyObject *)&ProgramType) < 0) {
        Py_DECREF(&ProgramType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
