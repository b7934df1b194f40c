/* The simple class of provscan.urls.sql.SIMPLE_URL_PATTERN, decided and cut in one pass per URL.
 *
 * Input: an Arrow string or large_string array given as its buffers (validity, offsets, data),
 * its offset and length. Output: host, path and query as large_string buffers plus validity
 * bitmaps; a row outside the class (or NULL) gets NULL in all three, exactly as fast_parts_sql.
 * The class and the cuts are the SQL fast path's, which tests hold equal to the Python reference
 * (provscan.urls.canonical); tests and an atheris fuzz run hold this kernel equal to both.
 * Never reads outside [offsets[i], offsets[i+1]) of the data buffer; never allocates per row; runs
 * the byte loop without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int is_hexu(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

/* An escape canonicalization keeps as it is: %00-%1F, %20, %23, %7F, %80-%FF, uppercase hex. */
static int kept_escape(const unsigned char *s, Py_ssize_t i, Py_ssize_t end) {
    if (i + 2 >= end) return 0;
    unsigned char a = s[i + 1], b = s[i + 2];
    if (!is_hexu(a) || !is_hexu(b)) return 0;
    if (a == '0' || a == '1') return 1;
    if (a == '2') return b == '0' || b == '3';
    if (a == '7') return b == 'F';
    return a >= '8';
}

static int host_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

typedef struct { Py_ssize_t hs, he, ps, pe, qs, qe; int query; } Cut;

/* The scheme and authority of the simple class: http(s)://host[:port]. Returns the index just after
 * them and fills hs/he (the host without its trailing dot), or -1. */
static Py_ssize_t simple_authority(const unsigned char *s, Py_ssize_t n, Py_ssize_t *hs_out, Py_ssize_t *he_out) {
    Py_ssize_t i;
    if (n >= 7 && (s[0] | 32) == 'h' && (s[1] | 32) == 't' && (s[2] | 32) == 't' && (s[3] | 32) == 'p') {
        i = 4;
        if ((s[i] | 32) == 's') i++;
    } else {
        return -1;
    }
    if (i + 3 > n || s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/') return -1;
    i += 3;
    /* host: labels of [A-Za-z0-9-], the last starting with a letter, one optional trailing dot */
    Py_ssize_t hs = i;
    while (i < n && host_char(s[i])) i++;
    Py_ssize_t he = i;
    if (he > hs && s[he - 1] == '.') he--;
    if (he == hs) return -1;
    Py_ssize_t label = hs, last = hs;
    for (Py_ssize_t j = hs; j <= he; j++) {
        if (j == he || s[j] == '.') {
            if (j == label) return -1; /* empty label: leading dot or '..' */
            last = label;
            label = j + 1;
        }
    }
    if (!is_alpha(s[last])) return -1; /* the last label starts with a letter: never an IP */
    /* port */
    if (i < n && s[i] == ':') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    *hs_out = hs;
    *he_out = he;
    return i;
}

/* 1 if the URL's host is decided by its simple authority alone: http(s)://host[:port] followed by
 * '/', '?', '#' or the end. The reference unescapes the whole URL before it splits it, but every
 * escape is after that delimiter, so decoding (of any depth) cannot move the host's bytes or its end;
 * tab, CR and LF (which it removes) and trimmed bytes are not host characters, so they decline here.
 * Such a URL is always valid and its canonical host is this one, lowercased (held by a hypothesis
 * test against provscan.urls.canonical). */
static int simple_host(const unsigned char *s, Py_ssize_t n, Cut *cut) {
    Py_ssize_t i = simple_authority(s, n, &cut->hs, &cut->he);
    return i >= 0 && (i == n || s[i] == '/' || s[i] == '?' || s[i] == '#');
}

/* 1 if s[0:n] is in the simple class; fills the cut (host without trailing dot, path, query). */
static int simple(const unsigned char *s, Py_ssize_t n, Cut *cut) {
    Py_ssize_t hs, he;
    Py_ssize_t i = simple_authority(s, n, &hs, &he);
    if (i < 0) return 0;
    /* path: ('/' segment)* '/'?, a segment being units, not empty (but last), not '.' or '..' */
    Py_ssize_t ps = i;
    while (i < n && s[i] == '/') {
        i++;
        Py_ssize_t seg = i, units = 0, dots = 0;
        while (i < n) {
            unsigned char c = s[i];
            if (c == '/' || c == '?' || c == '#') break;
            if (c == '%') {
                if (!kept_escape(s, i, n)) return 0;
                i += 3;
            } else if (c >= 0x21 && c <= 0x7E) {
                if (c == '.') dots++;
                i++;
            } else {
                return 0;
            }
            units++;
        }
        if (units == 0) {
            if (i < n && s[i] == '/') return 0; /* '//' */
        } else if ((units == 1 || units == 2) && dots == units && i - seg == units) {
            return 0; /* '.' or '..' */
        }
    }
    Py_ssize_t pe = i;
    if (i < n && s[i] != '?' && s[i] != '#') return 0;
    cut->query = 0;
    cut->qs = cut->qe = 0;
    if (i < n && s[i] == '?') {
        i++;
        cut->query = 1;
        cut->qs = i;
        while (i < n && s[i] != '#') {
            unsigned char c = s[i];
            if (c == '%') {
                if (!kept_escape(s, i, n)) return 0;
                i += 3;
            } else if (c >= 0x21 && c <= 0x7E) {
                i++;
            } else {
                return 0;
            }
        }
        cut->qe = i;
    }
    /* the rest, if any, is a fragment ('#' and anything) */
    cut->hs = hs;
    cut->he = he;
    cut->ps = ps;
    cut->pe = pe;
    return 1;
}

static int get_buffer(PyObject *obj, Py_buffer *view) {
    if (obj == Py_None) {
        view->buf = NULL;
        view->len = 0;
        view->obj = NULL;
        return 0;
    }
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

#define BIT(bm, k) ((bm)[(k) >> 3] >> ((k) & 7) & 1)
#define SET(bm, k) ((bm)[(k) >> 3] |= (unsigned char)(1u << ((k) & 7)))

/* Offset k of an int32 or int64 offsets buffer. memcpy, not a cast: Arrow (and pyarrow's validation)
 * accept an offsets buffer at any address, and a misaligned load through int64_t* is undefined. */
static int64_t offset_at(const unsigned char *offsets, Py_ssize_t k, int large) {
    if (large) {
        int64_t v;
        memcpy(&v, offsets + k * 8, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, offsets + k * 4, 4);
    return v;
}

typedef struct {
    const unsigned char *vbits, *offsets, *data;
    Py_ssize_t offset, length;
    int large, hosts_only;
    unsigned char *valid, *qvalid;
    unsigned char *ho, *po, *qo; /* int64 offsets, written with memcpy (bytes objects' storage) */
    char *hd, *pd, *qd;
    int64_t first, last, hn, pn, qn;
    Py_ssize_t taken;
} Job;

static void put_offset(unsigned char *out, Py_ssize_t r, int64_t v) { memcpy(out + r * 8, &v, 8); }

/* The byte loop. Touches no Python object, so it runs without the GIL. Returns 0, or -1 when the
 * offsets are not monotonic inside [first, last] (each offset is read once, so a buffer changed by
 * another thread meanwhile cannot make a row reach outside the checked range). */
static int run(Job *j) {
    int64_t a = j->first;
    put_offset(j->ho, 0, 0);
    if (!j->hosts_only) {
        put_offset(j->po, 0, 0);
        put_offset(j->qo, 0, 0);
    }
    for (Py_ssize_t r = 0; r < j->length; r++) {
        Py_ssize_t k = j->offset + r;
        int64_t b = offset_at(j->offsets, k + 1, j->large);
        if (b < a || b > j->last) return -1;
        Cut cut;
        if ((j->vbits == NULL || BIT(j->vbits, k)) &&
            (j->hosts_only ? simple_host : simple)(j->data + a, (Py_ssize_t)(b - a), &cut)) {
            const unsigned char *s = j->data + a;
            SET(j->valid, r);
            j->taken++;
            for (Py_ssize_t i = cut.hs; i < cut.he; i++) {
                unsigned char c = s[i];
                j->hd[j->hn++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            }
            if (!j->hosts_only) { /* simple_host fills only the host's cut */
                if (cut.pe == cut.ps) {
                    j->pd[j->pn++] = '/';
                } else {
                    memcpy(j->pd + j->pn, s + cut.ps, cut.pe - cut.ps);
                    j->pn += cut.pe - cut.ps;
                }
                if (cut.query) {
                    SET(j->qvalid, r);
                    memcpy(j->qd + j->qn, s + cut.qs, cut.qe - cut.qs);
                    j->qn += cut.qe - cut.qs;
                }
            }
        }
        put_offset(j->ho, r + 1, j->hn);
        if (!j->hosts_only) {
            put_offset(j->po, r + 1, j->pn);
            put_offset(j->qo, r + 1, j->qn);
        }
        a = b;
    }
    return 0;
}

static const unsigned char EMPTY[1] = {0};

/* simple_parts(validity|None, offsets, data, offset, length, large) ->
 *   (taken_count, validity, host_offsets, host_data, path_offsets, path_data, query_validity,
 *    query_offsets, query_data) as bytes; offsets are int64 (large_string).
 * simple_hosts(same arguments) -> (taken_count, validity, host_offsets, host_data): the host of every
 * URL whose authority is simple (see simple_host), whatever follows it.
 * The results are written straight into the bytes objects returned (no copy of the buffers), the
 * data ones allocated at their upper bound and shrunk at the end: pages never written are never
 * touched. Every size is checked by division before it is multiplied: a caller's offset or length
 * near 2**63 must be refused, not wrapped into a small product. */
static PyObject *parts(PyObject *args, int hosts_only) {
    PyObject *vobj, *oobj, *dobj;
    Py_ssize_t offset, length;
    int large;
    if (!PyArg_ParseTuple(args, "OOOnnp", &vobj, &oobj, &dobj, &offset, &length, &large)) return NULL;
    if (offset < 0 || length < 0) return PyErr_Format(PyExc_ValueError, "negative offset or length");
    Py_buffer vb, ob, db;
    if (get_buffer(vobj, &vb) < 0) return NULL;
    if (get_buffer(oobj, &ob) < 0) { if (vb.obj) PyBuffer_Release(&vb); return NULL; }
    if (get_buffer(dobj, &db) < 0) { if (vb.obj) PyBuffer_Release(&vb); if (ob.obj) PyBuffer_Release(&ob); return NULL; }
    PyObject *result = NULL;
    PyObject *valid = NULL, *qvalid = NULL, *ho = NULL, *po = NULL, *qo = NULL, *hd = NULL, *pd = NULL, *qd = NULL;
    Py_ssize_t width = large ? 8 : 4;
    Job j;
    memset(&j, 0, sizeof j);
    /* entries needed: offset + length + 1 (a valid empty array may have no offsets at all) */
    if (offset > PY_SSIZE_T_MAX - length - 1 || length > PY_SSIZE_T_MAX / 8 - 1) {
        PyErr_SetString(PyExc_ValueError, "offset + length out of range");
        goto done;
    }
    Py_ssize_t end = offset + length;
    if ((length > 0 && (ob.buf == NULL || ob.len / width < end + 1)) ||
        (vb.buf != NULL && vb.len < end / 8 + (end % 8 != 0))) {
        PyErr_SetString(PyExc_ValueError, "buffers too small for offset + length");
        goto done;
    }
    j.vbits = (const unsigned char *)vb.buf;
    j.offsets = (const unsigned char *)ob.buf;
    j.data = db.buf != NULL ? (const unsigned char *)db.buf : EMPTY;
    j.offset = offset;
    j.length = length;
    j.large = large;
    j.hosts_only = hosts_only;
    if (length > 0) {
        j.first = offset_at(j.offsets, offset, large);
        j.last = offset_at(j.offsets, end, large);
    }
    if (j.first < 0 || j.last < j.first || j.last > (int64_t)db.len) {
        PyErr_SetString(PyExc_ValueError, "offsets outside the data buffer");
        goto done;
    }
    Py_ssize_t nbits = (length + 7) / 8, total = (Py_ssize_t)(j.last - j.first);
    if (total > PY_SSIZE_T_MAX - length) {
        PyErr_SetString(PyExc_ValueError, "offsets outside the data buffer");
        goto done;
    }
    Py_ssize_t nofs = (length + 1) * 8;
    Py_ssize_t rest = hosts_only ? 0 : nofs; /* hosts only: empty path and query buffers, never returned */
    if (!(valid = PyBytes_FromStringAndSize(NULL, nbits)) ||
        !(qvalid = PyBytes_FromStringAndSize(NULL, hosts_only ? 0 : nbits)) ||
        !(ho = PyBytes_FromStringAndSize(NULL, nofs)) || !(po = PyBytes_FromStringAndSize(NULL, rest)) ||
        !(qo = PyBytes_FromStringAndSize(NULL, rest)) || !(hd = PyBytes_FromStringAndSize(NULL, total)) ||
        !(pd = PyBytes_FromStringAndSize(NULL, hosts_only ? 0 : total + length)) || /* '/' for an empty path */
        !(qd = PyBytes_FromStringAndSize(NULL, hosts_only ? 0 : total)))
        goto done;
    j.valid = (unsigned char *)PyBytes_AS_STRING(valid);
    j.qvalid = (unsigned char *)PyBytes_AS_STRING(qvalid);
    memset(j.valid, 0, nbits);
    memset(j.qvalid, 0, hosts_only ? 0 : nbits);
    j.ho = (unsigned char *)PyBytes_AS_STRING(ho);
    j.po = (unsigned char *)PyBytes_AS_STRING(po);
    j.qo = (unsigned char *)PyBytes_AS_STRING(qo);
    j.hd = PyBytes_AS_STRING(hd);
    j.pd = PyBytes_AS_STRING(pd);
    j.qd = PyBytes_AS_STRING(qd);
    int failed;
    Py_BEGIN_ALLOW_THREADS /* the buffers stay exported (pinned) until released below */
    failed = run(&j);
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_SetString(PyExc_ValueError, "offsets are not monotonic");
        goto done;
    }
    if (_PyBytes_Resize(&hd, (Py_ssize_t)j.hn) < 0 || _PyBytes_Resize(&pd, (Py_ssize_t)j.pn) < 0 ||
        _PyBytes_Resize(&qd, (Py_ssize_t)j.qn) < 0)
        goto done; /* _PyBytes_Resize freed and NULLed the one it failed on */
    PyObject *taken = PyLong_FromSsize_t(j.taken);
    int count = hosts_only ? 4 : 9;
    if (taken == NULL || (result = PyTuple_New(count)) == NULL) {
        Py_XDECREF(taken);
        goto done;
    }
    PyObject *items[9] = {taken, valid, ho, hd, po, pd, qvalid, qo, qd};
    for (int i = 0; i < count; i++) PyTuple_SET_ITEM(result, i, items[i]); /* steals */
    valid = ho = hd = NULL;
    if (!hosts_only) po = pd = qvalid = qo = qd = NULL; /* hosts only: the empty ones are released below */
done:
    Py_XDECREF(valid);
    Py_XDECREF(qvalid);
    Py_XDECREF(ho);
    Py_XDECREF(po);
    Py_XDECREF(qo);
    Py_XDECREF(hd);
    Py_XDECREF(pd);
    Py_XDECREF(qd);
    if (vb.obj) PyBuffer_Release(&vb);
    if (ob.obj) PyBuffer_Release(&ob);
    if (db.obj) PyBuffer_Release(&db);
    return result;
}

static PyObject *simple_parts(PyObject *self, PyObject *args) { return parts(args, 0); }

static PyObject *simple_hosts(PyObject *self, PyObject *args) { return parts(args, 1); }

static PyMethodDef methods[] = {
    {"simple_parts", simple_parts, METH_VARARGS, "Host, path, query buffers of the simple-class URLs of an Arrow string array."},
    {"simple_hosts", simple_hosts, METH_VARARGS, "Host buffers of the URLs of an Arrow string array whose authority is simple."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_simple", NULL, -1, methods};

PyMODINIT_FUNC PyInit__simple(void) { return PyModule_Create(&module); }
