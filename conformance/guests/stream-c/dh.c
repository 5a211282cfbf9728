/* dh: a client of the durohost stream ABI over C stdio (see dh.h). */
#include "dh.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Call numbers of the stream form (ABI.md, "Stream calls"). */
enum {
	CALL_START_INFO = 1,
	CALL_SCHEDULE,
	CALL_AWAIT,
	CALL_RESULT,
	CALL_CANCEL,
	CALL_SET_STATUS,
	CALL_COMPLETE,
	CALL_LOG,
	CALL_IS_REPLAYING,
};

static FILE *out, *in; /* calls are written to out, answers read from in */

static void die(const char *what) {
	fprintf(stderr, "durohost stream: %s\n", what);
	exit(70);
}

static void *xrealloc(void *p, size_t n) {
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

void dh_buf_put(dh_buf *b, const void *p, size_t n) {
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

void dh_buf_byte(dh_buf *b, uint8_t c) { dh_buf_put(b, &c, 1); }
void dh_buf_str(dh_buf *b, const char *s) { dh_buf_put(b, s, strlen(s)); }
void dh_buf_free(dh_buf *b) {
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

void dh_cbor_head(dh_buf *b, int major, uint64_t v) {
	uint8_t m = (uint8_t)(major << 5);
	if (v < 24) {
		dh_buf_byte(b, m | (uint8_t)v);
	} else if (v <= 0xff) {
		dh_buf_byte(b, m | 24);
		dh_buf_byte(b, (uint8_t)v);
	} else if (v <= 0xffff) {
		dh_buf_byte(b, m | 25);
		for (int s = 8; s >= 0; s -= 8)
			dh_buf_byte(b, (uint8_t)(v >> s));
	} else if (v <= 0xffffffffu) {
		dh_buf_byte(b, m | 26);
		for (int s = 24; s >= 0; s -= 8)
			dh_buf_byte(b, (uint8_t)(v >> s));
	} else {
		dh_buf_byte(b, m | 27);
		for (int s = 56; s >= 0; s -= 8)
			dh_buf_byte(b, (uint8_t)(v >> s));
	}
}

void dh_cbor_uint(dh_buf *b, uint64_t v) { dh_cbor_head(b, 0, v); }
void dh_cbor_int(dh_buf *b, int64_t v) {
	if (v >= 0)
		dh_cbor_head(b, 0, (uint64_t)v);
	else
		dh_cbor_head(b, 1, (uint64_t)(-1 - v));
}
void dh_cbor_bytes(dh_buf *b, const void *p, size_t n) {
	dh_cbor_head(b, 2, n);
	dh_buf_put(b, p, n);
}
void dh_cbor_text(dh_buf *b, const char *s) {
	size_t n = strlen(s);
	dh_cbor_head(b, 3, n);
	dh_buf_put(b, s, n);
}
void dh_cbor_null(dh_buf *b) { dh_buf_byte(b, 0xf6); }

/* Reading answers. */

static uint8_t get1(void) {
	int c = getc(in);
	if (c == EOF)
		die("the host's answer ended early");
	return (uint8_t)c;
}

static void read_item(dh_cv *v, int depth) {
	if (depth > 32)
		die("answer nested too deeply");
	uint8_t h = get1();
	int info = h & 0x1f;
	uint64_t arg = 0;
	memset(v, 0, sizeof *v);
	v->major = h >> 5;
	if (info < 24) {
		arg = (uint64_t)info;
	} else if (info <= 27) {
		for (int k = 0; k < (1 << (info - 24)); k++)
			arg = arg << 8 | get1();
	} else {
		die("malformed answer");
	}
	v->u = arg;
	switch (v->major) {
	case 1:
		v->i = -1 - (int64_t)arg;
		break;
	case 2:
	case 3:
		v->b = xrealloc(NULL, arg + 1);
		if (arg && fread(v->b, 1, arg, in) != arg)
			die("the host's answer ended early");
		v->b[arg] = 0;
		break;
	case 4:
	case 5: {
		uint64_t n = v->major == 5 ? arg * 2 : arg;
		v->kids = calloc(n ? n : 1, sizeof *v->kids);
		if (!v->kids)
			die("out of memory");
		for (uint64_t k = 0; k < n; k++)
			read_item(&v->kids[k], depth + 1);
		break;
	}
	case 6:
		v->kids = calloc(1, sizeof *v->kids);
		if (!v->kids)
			die("out of memory");
		read_item(v->kids, depth + 1);
		break;
	}
}

void dh_cv_free(dh_cv *v) {
	if (!v)
		return;
	uint64_t n = v->major == 5 ? v->u * 2 : v->major == 4 ? v->u : v->major == 6 ? 1 : 0;
	for (uint64_t k = 0; k < n; k++)
		dh_cv_free(&v->kids[k]);
	free(v->kids);
	free(v->b);
	v->kids = NULL;
	v->b = NULL;
}

const dh_cv *dh_cv_key(const dh_cv *map, uint64_t key) {
	if (!map || map->major != 5)
		return NULL;
	for (uint64_t k = 0; k < map->u; k++)
		if (map->kids[2 * k].major == 0 && map->kids[2 * k].u == key)
			return &map->kids[2 * k + 1];
	return NULL;
}

/* call writes one call and reads its answer into answer. */
static void call(dh_buf *req, dh_cv *answer) {
	if (fwrite(req->p, 1, req->n, out) != req->n || fflush(out) != 0)
		die("cannot write a call");
	dh_buf_free(req);
	read_item(answer, 0);
}

/* call_status makes a call whose answer is a status. */
static int64_t call_int(dh_buf *req) {
	dh_cv a;
	call(req, &a);
	int64_t r = a.major == 0 ? (int64_t)a.u : a.major == 1 ? a.i : 0;
	dh_cv_free(&a);
	return r;
}

void dh_open(void) {
	out = fopen("/durohost/v1", "w");
	in = fopen("/durohost/v1", "r");
	if (!out || !in)
		die("cannot open /durohost/v1 (is this program run by a durohost host?)");
}

static char *dup_text(const dh_cv *v) {
	if (!v || (v->major != 3 && v->major != 2))
		return strdup("");
	char *s = xrealloc(NULL, v->u + 1);
	memcpy(s, v->b, v->u);
	s[v->u] = 0;
	return s;
}

static uint8_t *dup_bytes(const dh_cv *v, size_t *n) {
	*n = v && v->major == 2 ? v->u : 0;
	uint8_t *p = xrealloc(NULL, *n + 1);
	if (*n)
		memcpy(p, v->b, *n);
	p[*n] = 0;
	return p;
}

static uint64_t get_uint(const dh_cv *v) { return v && v->major == 0 ? v->u : 0; }

void dh_start_info(dh_info *info) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 1);
	dh_cbor_uint(&req, CALL_START_INFO);
	dh_cv a;
	call(&req, &a);
	memset(info, 0, sizeof *info);
	info->mode = get_uint(dh_cv_key(&a, 1));
	info->name = dup_text(dh_cv_key(&a, 2));
	info->version = dup_text(dh_cv_key(&a, 3));
	info->instance_id = dup_text(dh_cv_key(&a, 4));
	info->execution_id = get_uint(dh_cv_key(&a, 5));
	info->input = dup_bytes(dh_cv_key(&a, 6), &info->input_len);
	info->parent_id = dup_text(dh_cv_key(&a, 7));
	const dh_cv *st = dh_cv_key(&a, 8);
	info->has_status = st != NULL;
	info->status = dup_bytes(st, &info->status_len);
	const dh_cv *t = dh_cv_key(&a, 9);
	info->start_time = t ? (t->major == 1 ? t->i : (int64_t)t->u) : 0;
	dh_cv_free(&a);
}

uint32_t dh_schedule(int kind, const char *name, const uint8_t *input, size_t input_len,
		     const char *version, const char *instance_id, int64_t delay_ns) {
	dh_buf req = {0};
	int fields = 1 + (name && *name) + (input != NULL) + (version && *version) +
		     (instance_id && *instance_id) + (kind == DH_TIMER);
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_SCHEDULE);
	dh_cbor_head(&req, 5, (uint64_t)fields);
	dh_cbor_uint(&req, 1);
	dh_cbor_uint(&req, (uint64_t)kind);
	if (name && *name) {
		dh_cbor_uint(&req, 2);
		dh_cbor_text(&req, name);
	}
	if (input) {
		dh_cbor_uint(&req, 3);
		dh_cbor_bytes(&req, input, input_len);
	}
	if (version && *version) {
		dh_cbor_uint(&req, 4);
		dh_cbor_text(&req, version);
	}
	if (instance_id && *instance_id) {
		dh_cbor_uint(&req, 5);
		dh_cbor_text(&req, instance_id);
	}
	if (kind == DH_TIMER) {
		dh_cbor_uint(&req, 6);
		dh_cbor_int(&req, delay_ns);
	}
	return (uint32_t)call_int(&req);
}

uint32_t dh_await(const uint32_t *handles, size_t n) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_AWAIT);
	dh_cbor_head(&req, 4, n);
	for (size_t k = 0; k < n; k++)
		dh_cbor_uint(&req, handles[k]);
	return (uint32_t)call_int(&req);
}

int dh_result(uint32_t handle, dh_completion *c) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_RESULT);
	dh_cbor_uint(&req, handle);
	dh_cv a;
	call(&req, &a);
	memset(c, 0, sizeof *c);
	if (a.major != 5) { /* not_ready */
		dh_cv_free(&a);
		return 0;
	}
	const dh_cv *f = dh_cv_key(&a, 2);
	if (f) {
		c->failed = 1;
		c->failure.kind = get_uint(dh_cv_key(f, 1));
		c->failure.code = dup_text(dh_cv_key(f, 2));
		c->failure.message = dup_text(dh_cv_key(f, 3));
		c->failure.details = dup_bytes(dh_cv_key(f, 4), &c->failure.details_len);
	}
	c->result = dup_bytes(dh_cv_key(&a, 1), &c->len);
	dh_cv_free(&a);
	return 1;
}

void dh_cancel(uint32_t handle) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_CANCEL);
	dh_cbor_uint(&req, handle);
	call_int(&req);
}

void dh_set_status(const uint8_t *p, size_t n) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_SET_STATUS);
	dh_cbor_bytes(&req, p, n);
	call_int(&req);
}

void dh_clear_status(void) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_SET_STATUS);
	dh_cbor_null(&req);
	call_int(&req);
}

void dh_log(int level, const char *msg) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 3);
	dh_cbor_uint(&req, CALL_LOG);
	dh_cbor_int(&req, level);
	dh_cbor_text(&req, msg);
	call_int(&req);
}

int dh_is_replaying(void) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 1);
	dh_cbor_uint(&req, CALL_IS_REPLAYING);
	return call_int(&req) == 1;
}

static void complete(dh_buf *outcome) {
	dh_buf req = {0};
	dh_cbor_head(&req, 4, 2);
	dh_cbor_uint(&req, CALL_COMPLETE);
	dh_buf_put(&req, outcome->p, outcome->n);
	dh_buf_free(outcome);
	call_int(&req);
}

void dh_complete_output(const uint8_t *p, size_t n) {
	dh_buf o = {0};
	dh_cbor_head(&o, 5, 2);
	dh_cbor_uint(&o, 1);
	dh_cbor_uint(&o, 1);
	dh_cbor_uint(&o, 2);
	dh_cbor_bytes(&o, p, n);
	complete(&o);
}

static void put_failure(dh_buf *o, const dh_failure *f) {
	int fields = 2 + (f->code && *f->code) + (f->details_len > 0);
	dh_cbor_head(o, 5, (uint64_t)fields);
	dh_cbor_uint(o, 1);
	dh_cbor_uint(o, f->kind);
	if (f->code && *f->code) {
		dh_cbor_uint(o, 2);
		dh_cbor_text(o, f->code);
	}
	dh_cbor_uint(o, 3);
	dh_cbor_text(o, f->message ? f->message : "");
	if (f->details_len > 0) {
		dh_cbor_uint(o, 4);
		dh_cbor_bytes(o, f->details, f->details_len);
	}
}

void dh_complete_failure(const dh_failure *f) {
	dh_buf o = {0};
	dh_cbor_head(&o, 5, 2);
	dh_cbor_uint(&o, 1);
	dh_cbor_uint(&o, 2);
	dh_cbor_uint(&o, 3);
	put_failure(&o, f);
	complete(&o);
}

void dh_complete_continue(const uint8_t *input, size_t n, const char *version) {
	dh_buf o = {0};
	int v = version && *version;
	dh_cbor_head(&o, 5, 2 + (uint64_t)v);
	dh_cbor_uint(&o, 1);
	dh_cbor_uint(&o, 3);
	dh_cbor_uint(&o, 4);
	dh_cbor_bytes(&o, input, n);
	if (v) {
		dh_cbor_uint(&o, 5);
		dh_cbor_text(&o, version);
	}
	complete(&o);
}

void dh_complete_describe(const dh_registration *regs, size_t n) {
	dh_buf o = {0};
	dh_cbor_head(&o, 5, 2);
	dh_cbor_uint(&o, 1);
	dh_cbor_uint(&o, 4);
	dh_cbor_uint(&o, 6);
	dh_cbor_head(&o, 4, n);
	for (size_t k = 0; k < n; k++) {
		int v = regs[k].version && *regs[k].version;
		dh_cbor_head(&o, 5, 1 + (uint64_t)v);
		dh_cbor_uint(&o, 1);
		dh_cbor_text(&o, regs[k].name);
		if (v) {
			dh_cbor_uint(&o, 2);
			dh_cbor_text(&o, regs[k].version);
		}
	}
	complete(&o);
}

void dh_fatal(const char *fmt, ...) {
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dh_failure f = {.kind = DH_APPLICATION, .code = "panic", .message = msg};
	dh_complete_failure(&f);
	exit(0);
}
