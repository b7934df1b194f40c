/* The simple class of provscan.urls.sql.SIMPLE_URL_PATTERN, decided and cut in one pass per URL.
 *
 * Input: an Arrow string or large_string array given as its buffers (validity, offsets, data),
 * its offset and length. Output: host, path and query as large_string buffers plus validity
 * bitmaps; a row outside the class (or NULL) gets NULL in all three, exactly as fast_parts_sql.
 * The class and the cuts are the SQL fast path's, which tests hold equal to the Python reference
 * (provscan.urls.canonical); tests and an atheris fuzz run hold this kernel equal to both.
 * Never reads outside [offsets[i], offsets[i+1]) of the data buffer; never allocates per row.
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

/* 1 if s[0:n] is in the simple class; fills the cut (host without trailing dot, path, query). */
static int simple(const unsigned char *s, Py_ssize_t n, Cut *cut) {
    Py_ssize_t i;
    if (n >= 7 && (s[0] | 32) == 'h' && (s[1] | 32) == 't' && (s[2] | 32) == 't' && (s[3] | 32) == 'p') {
        i = 4;
        if ((s[i] | 32) == 's') i++;
    } else {
        return 0;
    }
    if (i + 3 > n || s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/') return 0;
    i += 3;
    /* host: labels of [A-Za-z0-9-], the last starting with a letter, one optional trailing dot */
    Py_ssize_t hs = i;
    while (i < n && host_char(s[i])) i++;
    Py_ssize_t he = i;
    if (he > hs && s[he - 1] == '.') he--;
    if (he == hs) return 0;
    Py_ssize_t label = hs, last = hs;
    for (Py_ssize_t j = hs; j <= he; j++) {
        if (j == he || s[j] == '.') {
            if (j == label) return 0; /* empty label: leading dot or '..' */
            last = label;
            label = j + 1;
        }
    }
    if (!is_alpha(s[last])) return 0; /* the last label starts with a letter: never an IP */
    /* port */
    if (i < n && s[i] == ':') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
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

/* simple_parts(validity|None, offsets, data, offset, length, large) ->
 *   (taken_count, validity, host_offsets, host_data, path_offsets, path_data, query_validity,
 *    query_offsets, query_data) as bytes; offsets are int64 (large_string). */
static PyObject *simple_parts(PyObject *self, PyObject *args) {
    PyObject *vobj, *oobj, *dobj;
    Py_ssize_t offset, length;
    int large;
    if (!PyArg_ParseTuple(args, "OOOnnp", &vobj, &oobj, &dobj, &offset, &length, &large)) return NULL;
    if (offset < 0 || length < 0) return PyErr_Format(PyExc_ValueError, "negative offset or length");
    Py_buffer vb, ob, db;
    if (get_buffer(vobj, &vb) < 0) return NULL;
    if (get_buffer(oobj, &ob) < 0) { PyBuffer_Release(&vb); return NULL; }
    if (get_buffer(dobj, &db) < 0) { PyBuffer_Release(&vb); PyBuffer_Release(&ob); return NULL; }
    PyObject *result = NULL;
    unsigned char *valid = NULL, *qvalid = NULL;
    int64_t *ho = NULL, *po = NULL, *qo = NULL;
    char *hd = NULL, *pd = NULL, *qd = NULL;
    Py_ssize_t width = large ? 8 : 4;
    if (ob.buf == NULL || ob.len < (offset + length + 1) * width ||
        (vb.buf != NULL && vb.len * 8 < offset + length)) {
        PyErr_SetString(PyExc_ValueError, "buffers too small for offset + length");
        goto done;
    }
    const unsigned char *vbits = (const unsigned char *)vb.buf;
    const unsigned char *data = (const unsigned char *)db.buf;
    Py_ssize_t nbits = (length + 7) / 8;
    valid = PyMem_Calloc(nbits ? nbits : 1, 1);
    qvalid = PyMem_Calloc(nbits ? nbits : 1, 1);
    ho = PyMem_Malloc((length + 1) * sizeof(int64_t));
    po = PyMem_Malloc((length + 1) * sizeof(int64_t));
    qo = PyMem_Malloc((length + 1) * sizeof(int64_t));
    int64_t first = large ? ((const int64_t *)ob.buf)[offset] : ((const int32_t *)ob.buf)[offset];
    int64_t last = large ? ((const int64_t *)ob.buf)[offset + length] : ((const int32_t *)ob.buf)[offset + length];
    if (first < 0 || last < first || last > (int64_t)db.len) {
        PyErr_SetString(PyExc_ValueError, "offsets outside the data buffer");
        goto done;
    }
    Py_ssize_t total = (Py_ssize_t)(last - first) + 1;
    hd = PyMem_Malloc(total);
    pd = PyMem_Malloc(total + length); /* '/' for an empty path adds at most one byte per row */
    qd = PyMem_Malloc(total);
    if (!valid || !qvalid || !ho || !po || !qo || !hd || !pd || !qd) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t hn = 0, pn = 0, qn = 0;
    Py_ssize_t taken = 0;
    ho[0] = po[0] = qo[0] = 0;
    for (Py_ssize_t r = 0; r < length; r++) {
        Py_ssize_t k = offset + r;
        int64_t a = large ? ((const int64_t *)ob.buf)[k] : ((const int32_t *)ob.buf)[k];
        int64_t b = large ? ((const int64_t *)ob.buf)[k + 1] : ((const int32_t *)ob.buf)[k + 1];
        Cut cut;
        if (a < first || b < a || b > last) {
            PyErr_SetString(PyExc_ValueError, "offsets are not monotonic");
            goto done;
        }
        if ((vbits == NULL || BIT(vbits, k)) && simple(data + a, (Py_ssize_t)(b - a), &cut)) {
            const unsigned char *s = data + a;
            SET(valid, r);
            taken++;
            for (Py_ssize_t j = cut.hs; j < cut.he; j++) {
                unsigned char c = s[j];
                hd[hn++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            }
            if (cut.pe == cut.ps) {
                pd[pn++] = '/';
            } else {
                memcpy(pd + pn, s + cut.ps, cut.pe - cut.ps);
                pn += cut.pe - cut.ps;
            }
            if (cut.query) {
                SET(qvalid, r);
                memcpy(qd + qn, s + cut.qs, cut.qe - cut.qs);
                qn += cut.qe - cut.qs;
            }
        }
        ho[r + 1] = hn;
        po[r + 1] = pn;
        qo[r + 1] = qn;
    }
    result = Py_BuildValue(
        "ny#y#y#y#y#y#y#y#", taken,
        (const char *)valid, nbits, (const char *)ho, (Py_ssize_t)((length + 1) * sizeof(int64_t)), hd, (Py_ssize_t)hn,
        (const char *)po, (Py_ssize_t)((length + 1) * sizeof(int64_t)), pd, (Py_ssize_t)pn,
        (const char *)qvalid, nbits, (const char *)qo, (Py_ssize_t)((length + 1) * sizeof(int64_t)), qd, (Py_ssize_t)qn);
done:
    PyMem_Free(valid);
    PyMem_Free(qvalid);
    PyMem_Free(ho);
    PyMem_Free(po);
    PyMem_Free(qo);
    PyMem_Free(hd);
    PyMem_Free(pd);
    PyMem_Free(qd);
    if (vb.obj) PyBuffer_Release(&vb);
    if (ob.obj) PyBuffer_Release(&ob);
    if (db.obj) PyBuffer_Release(&db);
    return result;
}

static PyMethodDef methods[] = {
    {"simple_parts", simple_parts, METH_VARARGS, "Host, path, query buffers of the simple-class URLs of an Arrow string array."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_simple", NULL, -1, methods};

PyMODINIT_FUNC PyInit__simple(void) { return PyModule_Create(&module); }
