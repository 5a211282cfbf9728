/*
 * durohost.c: the C guest SDK of durohost (see durohost.h and abi/ABI.md).
 *
 * Layout: host imports; the arena; misuse; CBOR; the registry; futures, retries and waits;
 * the run (durohost_run); status, logs and metadata; JSON helpers.
 */
#include "durohost.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

/* ---- Host imports (ABI.md, "Host functions") ---- */

#define DH__IMPORT(name) __attribute__((import_module("durohost_v1"), import_name(name)))

DH__IMPORT("start_info") int32_t dh__host_start_info(uint8_t *buf, int32_t cap);
DH__IMPORT("schedule") int32_t dh__host_schedule(const uint8_t *cmd, int32_t len);
DH__IMPORT("await") int32_t dh__host_await(const uint32_t *handles, int32_t count);
DH__IMPORT("result") int32_t dh__host_result(uint32_t handle, uint8_t *buf, int32_t cap);
DH__IMPORT("cancel") int32_t dh__host_cancel(uint32_t handle);
DH__IMPORT("set_status") int32_t dh__host_set_status(const uint8_t *buf, int32_t len);
DH__IMPORT("complete") int32_t dh__host_complete(const uint8_t *buf, int32_t len);
DH__IMPORT("log") void dh__host_log(int32_t level, const uint8_t *buf, int32_t len);
DH__IMPORT("is_replaying") int32_t dh__host_is_replaying(void);

/* ABI constants (ABI.md). */
enum {
	CMD_ACTIVITY = 1,
	CMD_TIMER = 2,
	CMD_WAIT_EVENT = 3,
	CMD_DEQUEUE = 4,
	CMD_SUB_ORCHESTRATION = 5,
	CMD_START_ORCHESTRATION = 6,
	OUT_COMPLETED = 1,
	OUT_FAILED = 2,
	OUT_CONTINUED_AS_NEW = 3,
	OUT_DESCRIBE = 4,
	MODE_RUN = 0,
	MODE_DESCRIBE = 1,
	STATUS_NOT_READY = -1,
	MAX_AWAIT_HANDLES = 4096,
};

static const char *const command_kind_names[] = {
	"", "activity", "timer", "wait_event", "dequeue", "sub_orchestration", "start_orchestration",
};

/* ---- Formatting (a small vsnprintf, so that the SDK links no printf) ---- */

/* format writes format with its arguments to buf (cap > 0 bytes, NUL-terminated, truncated)
 * and returns the length written. Conversions: %s %d %u %zu %lld %%. */
static size_t vformat(char *buf, size_t cap, const char *format, va_list ap) {
	size_t w = 0;
#define PUT(ch)                     \
	do {                            \
		if (w + 1 < cap)            \
			buf[w++] = (char)(ch); \
	} while (0)
	for (const char *f = format; *f; f++) {
		if (*f != '%') {
			PUT(*f);
			continue;
		}
		f++;
		uint64_t u;
		bool neg = false;
		if (*f == 's') {
			for (const char *s = va_arg(ap, const char *); s && *s; s++)
				PUT(*s);
			continue;
		} else if (*f == 'd') {
			int v = va_arg(ap, int);
			neg = v < 0;
			u = neg ? 0 - (uint64_t)(int64_t)v : (uint64_t)v;
		} else if (*f == 'u') {
			u = va_arg(ap, unsigned);
		} else if (f[0] == 'z' && f[1] == 'u') {
			f++;
			u = va_arg(ap, size_t);
		} else if (f[0] == 'l' && f[1] == 'l' && f[2] == 'd') {
			f += 2;
			long long v = va_arg(ap, long long);
			neg = v < 0;
			u = neg ? 0 - (uint64_t)v : (uint64_t)v;
		} else {
			PUT('%');
			if (!*f)
				break;
			if (*f != '%')
				PUT(*f);
			continue;
		}
		char digits[24];
		int n = 0;
		do {
			digits[n++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (neg)
			PUT('-');
		while (n)
			PUT(digits[--n]);
	}
#undef PUT
	buf[w] = 0;
	return w;
}

static size_t format(char *buf, size_t cap, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	size_t n = vformat(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

static void dh_buf_quote(dh_buf *b, const char *s);

/* ---- Misuse ---- */

__attribute__((noreturn)) static void misuse(const char *fmt, ...) {
	static char msg[512];
	va_list ap;
	va_start(ap, fmt);
	size_t n = vformat(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dh__host_log(DH_ERROR, (const uint8_t *)msg, (int32_t)n);
	__builtin_trap();
}

/* ---- The arena ---- */

#define PAGE 65536u

static _Alignas(16) uint8_t arena0[DH_ARENA_INITIAL];

static struct {
	uint8_t *base;  /* start of the current block */
	uint8_t *top;   /* first free byte */
	uint8_t *end;   /* end of the current block */
	uint8_t *floor; /* the SDK still uses what lies below: a release stops there */
} arena = {arena0, arena0, arena0 + sizeof arena0, arena0};

static void arena_reset(void) {
	arena.base = arena.top = arena.floor = arena0;
	arena.end = arena0 + sizeof arena0;
}

/* arena_hold keeps everything allocated so far from dh_arena_release: the SDK holds on to it
 * (the outcome, the custom status, retrying calls the orchestration may have dropped, their
 * results settled while it waited for something else). */
static void arena_hold(void) { arena.floor = arena.top; }

/* size_add returns a + b, or stops the guest when the sum of two sizes overflows (no arena
 * can hold it: a size computed from garbage). */
static size_t size_add(size_t a, size_t b) {
	if (a > SIZE_MAX - b)
		misuse("durohost: out of memory: an allocation of %zu + %zu bytes", a, b);
	return a + b;
}

/* size_mul returns n * size, or stops the guest when it overflows. */
static size_t size_mul(size_t n, size_t size) {
	if (size && n > SIZE_MAX / size)
		misuse("durohost: out of memory: an allocation of %zu x %zu bytes", n, size);
	return n * size;
}

/* arena_reserve makes n bytes free at the (8-aligned) top, growing memory when needed. */
static void arena_reserve(size_t n) {
	if (n > SIZE_MAX - PAGE - 8)
		misuse("durohost: out of memory: an allocation of %zu bytes", n);
	uintptr_t top = ((uintptr_t)arena.top + 7) & ~(uintptr_t)7;
	if (top <= (uintptr_t)arena.end && n <= (uintptr_t)arena.end - top) {
		arena.top = (uint8_t *)top;
		return;
	}
	size_t pages = (n + 8 + PAGE - 1) / PAGE;
	size_t old = __builtin_wasm_memory_grow(0, pages);
	if (old == (size_t)-1)
		misuse("durohost: out of memory: the arena could not grow by %zu bytes", pages * PAGE);
	uint8_t *start = (uint8_t *)(old * PAGE);
	if (start == arena.end) { /* contiguous with the current block: extend it */
		arena.end = start + pages * PAGE;
		arena.top = (uint8_t *)top;
		if ((uintptr_t)arena.end - top >= n)
			return;
	}
	arena.base = arena.top = start;
	arena.end = start + pages * PAGE;
}

static void *arena_alloc(size_t n) {
	arena_reserve(n);
	void *p = arena.top;
	arena.top += n;
	return p;
}

static size_t arena_free(void) { return (size_t)(arena.end - arena.top); }

/* arena_release frees what was allocated after mark, when mark lies in the current block (after
 * a move to a later block the earlier one's tail stays used: memory cannot shrink anyway), down
 * to the floor of what the SDK holds. */
static void arena_release(uint8_t *mark) {
	if (mark < arena.base || mark > arena.top)
		return;
	if (arena.floor >= arena.base && arena.floor <= arena.top && mark < arena.floor)
		mark = arena.floor;
	arena.top = mark;
}

/* ---- Strings ---- */

dh_bytes dh_str(const char *s) {
	dh_bytes b = {(const uint8_t *)s, s ? strlen(s) : 0};
	return b;
}

static char *copy_str(const void *s, size_t n) {
	char *p = arena_alloc(size_add(n, 1));
	if (n)
		memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static dh_bytes copy_bytes(dh_bytes b) {
	dh_bytes out = {(const uint8_t *)copy_str(b.ptr, b.len), b.len};
	return out;
}

const char *dh_failure_kind_name(dh_failure_kind kind) {
	switch (kind) {
	case DH_APPLICATION:
		return "application";
	case DH_INFRASTRUCTURE:
		return "infrastructure";
	case DH_CANCELLED:
		return "cancelled";
	case DH_TIMEOUT:
		return "timeout";
	}
	return "unknown";
}

/* ---- CBOR (RFC 8949), the subset of the ABI's messages ---- */

typedef struct {
	uint8_t *p, *end; /* writer; end NULL: count only */
	size_t n;
} cbw;

static void cb_byte(cbw *w, uint8_t b) {
	if (w->p)
		w->p[w->n] = b;
	w->n++;
}

static void cb_head(cbw *w, uint8_t major, uint64_t v) {
	major <<= 5;
	if (v < 24) {
		cb_byte(w, major | (uint8_t)v);
	} else if (v <= 0xff) {
		cb_byte(w, major | 24);
		cb_byte(w, (uint8_t)v);
	} else if (v <= 0xffff) {
		cb_byte(w, major | 25);
		for (int s = 8; s >= 0; s -= 8)
			cb_byte(w, (uint8_t)(v >> s));
	} else if (v <= 0xffffffffu) {
		cb_byte(w, major | 26);
		for (int s = 24; s >= 0; s -= 8)
			cb_byte(w, (uint8_t)(v >> s));
	} else {
		cb_byte(w, major | 27);
		for (int s = 56; s >= 0; s -= 8)
			cb_byte(w, (uint8_t)(v >> s));
	}
}

static void cb_int(cbw *w, int64_t v) {
	if (v >= 0)
		cb_head(w, 0, (uint64_t)v);
	else
		cb_head(w, 1, (uint64_t)(-(v + 1)));
}

static void cb_data(cbw *w, uint8_t major, const void *p, size_t n) {
	cb_head(w, major, n);
	if (w->p && n)
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

/* Reader. */
typedef struct {
	const uint8_t *p, *end;
	const char *err;
} cbr;

static bool cr_head(cbr *r, uint8_t *major, uint64_t *v) {
	if (r->err)
		return false;
	if (r->p >= r->end) {
		r->err = "truncated message";
		return false;
	}
	uint8_t b = *r->p++;
	*major = b >> 5;
	uint8_t info = b & 31;
	if (info < 24) {
		*v = info;
		return true;
	}
	int size = info == 24 ? 1 : info == 25 ? 2 : info == 26 ? 4 : info == 27 ? 8 : 0;
	if (!size) {
		r->err = "unsupported CBOR item (indefinite length or reserved)";
		return false;
	}
	if (r->end - r->p < size) {
		r->err = "truncated message";
		return false;
	}
	uint64_t x = 0;
	for (int i = 0; i < size; i++)
		x = x << 8 | *r->p++;
	*v = x;
	return true;
}

static bool cr_uint(cbr *r, uint64_t *v) {
	uint8_t major;
	if (!cr_head(r, &major, v))
		return false;
	if (major != 0) {
		r->err = "expected an unsigned integer";
		return false;
	}
	return true;
}

static bool cr_int(cbr *r, int64_t *v) {
	uint8_t major;
	uint64_t u;
	if (!cr_head(r, &major, &u))
		return false;
	if ((major != 0 && major != 1) || u > INT64_MAX) {
		r->err = "expected an integer";
		return false;
	}
	*v = major == 0 ? (int64_t)u : -1 - (int64_t)u;
	return true;
}

static bool cr_data(cbr *r, uint8_t want, dh_bytes *out) {
	uint8_t major;
	uint64_t n;
	if (!cr_head(r, &major, &n))
		return false;
	if (major != want) {
		r->err = want == 2 ? "expected a byte string" : "expected a text string";
		return false;
	}
	if ((uint64_t)(r->end - r->p) < n) {
		r->err = "truncated message";
		return false;
	}
	out->ptr = r->p;
	out->len = (size_t)n;
	r->p += n;
	return true;
}

/* cr_key reads a map key: a small unsigned integer not seen before in the map (seen holds
 * one bit per key). */
static bool cr_key(cbr *r, uint32_t *seen, uint64_t *key) {
	if (!cr_uint(r, key))
		return false;
	if (*key < 32 && (*seen & (UINT32_C(1) << *key))) {
		r->err = "duplicate key";
		return false;
	}
	if (*key < 32)
		*seen |= UINT32_C(1) << *key;
	return true;
}

static bool cr_map(cbr *r, uint64_t *n) {
	uint8_t major;
	if (!cr_head(r, &major, n))
		return false;
	if (major != 5) {
		r->err = "expected a map";
		return false;
	}
	return true;
}

/* ---- Messages ---- */

static void encode_failure(cbw *w, const dh_error *e) {
	const char *code = e->code ? e->code : "", *msg = e->message ? e->message : "";
	size_t n = 1 + (*code != 0) + (*msg != 0) + (e->details.len != 0);
	cb_head(w, 5, n);
	cb_head(w, 0, 1);
	cb_head(w, 0, (uint64_t)e->kind);
	if (*code) {
		cb_head(w, 0, 2);
		cb_data(w, 3, code, strlen(code));
	}
	if (*msg) {
		cb_head(w, 0, 3);
		cb_data(w, 3, msg, strlen(msg));
	}
	if (e->details.len) {
		cb_head(w, 0, 4);
		cb_data(w, 2, e->details.ptr, e->details.len);
	}
}

static bool decode_failure(cbr *r, dh_error *e) {
	uint64_t n, key, kind = 0;
	dh_bytes code = {0}, msg = {0}, details = {0};
	uint32_t seen = 0;
	if (!cr_map(r, &n))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		if (!cr_key(r, &seen, &key))
			return false;
		switch (key) {
		case 1:
			cr_uint(r, &kind);
			break;
		case 2:
			cr_data(r, 3, &code);
			break;
		case 3:
			cr_data(r, 3, &msg);
			break;
		case 4:
			cr_data(r, 2, &details);
			break;
		default:
			r->err = "unknown failure field";
		}
		if (r->err)
			return false;
	}
	e->kind = (dh_failure_kind)kind;
	e->code = copy_str(code.ptr, code.len);
	e->message = copy_str(msg.ptr, msg.len);
	e->details = copy_bytes(details);
	return true;
}

/* host_read reads a size-then-read message of the host into the arena (with a NUL after it):
 * one call into the arena's free end (keeping a byte for the NUL) when the message fits, else a
 * second one into room made for it. */
static dh_bytes host_read(int32_t (*read)(uint32_t, uint8_t *, int32_t), uint32_t arg, const char *what) {
	arena_reserve(1);
	size_t cap = arena_free() - 1;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	int32_t n = read(arg, arena.top, (int32_t)cap);
	if (n == STATUS_NOT_READY)
		misuse("durohost: %s %u: not ready after await reported it", what, arg);
	if (n < 0)
		misuse("durohost: %s %u returned %d", what, arg, n);
	if ((size_t)n > cap) {
		arena_reserve((size_t)n + 1);
		int32_t m = read(arg, arena.top, n);
		if (m != n)
			misuse("durohost: %s %u: size %d, then %d", what, arg, n, m);
	}
	dh_bytes b = {arena.top, (size_t)n};
	arena.top[n] = 0;
	arena.top += (size_t)n + 1;
	return b;
}

static int32_t read_start_info(uint32_t unused, uint8_t *buf, int32_t cap) {
	(void)unused;
	return dh__host_start_info(buf, cap);
}

/* ---- The registry ---- */

typedef struct {
	const char *name, *version;
	dh_orchestration fn;
} registration;

static registration registry[DH_MAX_ORCHESTRATIONS];
static size_t registered;

static bool is_decimal(const char *s, size_t n) {
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c < 0 ? -1 : 1;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

static int cmp_segment(const char *a, size_t an, const char *b, size_t bn) {
	if (is_decimal(a, an) && is_decimal(b, bn)) {
		while (an && *a == '0')
			a++, an--;
		while (bn && *b == '0')
			b++, bn--;
		if (an != bn)
			return an < bn ? -1 : 1;
	}
	return cmp_bytes(a, an, b, bn);
}

/* compare_versions compares dot-separated versions segment by segment (decimal segments
 * numerically); a version that extends another is higher. */
static int compare_versions(const char *a, const char *b) {
	for (;;) {
		size_t an = strcspn(a, "."), bn = strcspn(b, ".");
		int c = cmp_segment(a, an, b, bn);
		if (c)
			return c;
		bool amore = a[an] == '.', bmore = b[bn] == '.';
		if (!amore || !bmore)
			return amore == bmore ? 0 : amore ? 1 : -1;
		a += an + 1;
		b += bn + 1;
	}
}

void dh_register(const char *name, const char *version, dh_orchestration fn) {
	if (!name || !*name)
		misuse("durohost: dh_register with an empty name");
	if (!fn)
		misuse("durohost: dh_register %s with a NULL function", name);
	if (!version)
		version = "";
	for (size_t i = 0; i < registered; i++)
		if (!strcmp(registry[i].name, name) && !strcmp(registry[i].version, version))
			misuse("durohost: orchestration %s%s%s registered twice", name, *version ? "@" : "", version);
	if (registered == DH_MAX_ORCHESTRATIONS)
		misuse("durohost: more than DH_MAX_ORCHESTRATIONS (%d) registrations", DH_MAX_ORCHESTRATIONS);
	registry[registered++] = (registration){name, version, fn};
}

static const registration *lookup(const char *name, const char *version) {
	const registration *best = NULL;
	for (size_t i = 0; i < registered; i++) {
		const registration *r = &registry[i];
		if (strcmp(r->name, name))
			continue;
		if (*version) {
			if (!strcmp(r->version, version))
				return r;
		} else if (!best || compare_versions(r->version, best->version) > 0) {
			best = r;
		}
	}
	return best;
}

static int cmp_registration(const registration *a, const registration *b) {
	int c = strcmp(a->name, b->name);
	return c ? c : compare_versions(a->version, b->version);
}

/* sorted_registry returns the registrations sorted by name, then version. */
static const registration **sorted_registry(void) {
	const registration **s = arena_alloc((registered + 1) * sizeof *s);
	for (size_t i = 0; i < registered; i++) {
		size_t j = i;
		for (; j > 0 && cmp_registration(s[j - 1], &registry[i]) > 0; j--)
			s[j] = s[j - 1];
		s[j] = &registry[i];
	}
	return s;
}

/* ---- The context ---- */

enum { PENDING, SETTLED, CANCELLED };

typedef struct retry_state {
	dh_retry_policy policy;
	dh_bytes cmd;             /* the encoded command of every attempt */
	uint8_t kind;             /* command kind, for messages */
	const char *name;         /* command name, for messages */
	int attempt;              /* attempts started */
	uint32_t call, timeout, backoff; /* live handles, 0 when none */
} retry_state;

struct dh_future {
	dh_ctx *ctx;
	uint8_t state;
	bool driven;
	uint32_t handle;     /* plain futures */
	retry_state *retry;  /* retrying calls */
	dh_bytes result;
	const dh_error *err;
	dh_future *dnext, *dprev; /* driven futures (pending retrying calls) */
	uint64_t mark;
};

struct dh_ctx {
	const char *name, *version, *instance_id, *parent_id;
	uint32_t execution_id;
	int64_t start_time;
	bool has_status;
	dh_bytes status;
	bool running; /* the orchestration function runs */
	/* outcome */
	int outcome;
	dh_bytes output;
	dh_error failure;
	const char *can_version;
	/* waits */
	dh_future *drivers;
	size_t ndrivers;
	uint64_t epoch;
};

static dh_ctx the_ctx;

/* check_running traps unless ctx is the context of the orchestration that runs. */
static void check_running(const dh_ctx *ctx, const char *op) {
	if (!ctx)
		misuse("durohost: %s with a NULL context", op);
	if (ctx != &the_ctx || !ctx->running)
		misuse("durohost: %s with a context whose orchestration returned", op);
}

/* check is check_running for what would change history: also a trap once the orchestration
 * ended its execution (usually a missing return after dh_fail_error). */
static void check(const dh_ctx *ctx, const char *op) {
	check_running(ctx, op);
	if (ctx->outcome)
		misuse("durohost: %s after the orchestration ended its execution (dh_return, dh_fail, dh_continue_as_new): a missing return?", op);
}

/* ---- Futures ---- */

typedef struct {
	uint8_t kind;
	const char *name;
	dh_bytes input;
	const char *version, *instance_id;
	int64_t delay;
} command;

static dh_bytes encode_command(const command *c) {
	cbw w = {0};
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			w.p = arena_alloc(w.n);
			w.n = 0;
		}
		size_t fields = 1 + (c->name && *c->name) + (c->input.len != 0) + (c->version && *c->version) +
		                (c->instance_id && *c->instance_id) + (c->delay != 0);
		cb_head(&w, 5, fields);
		cb_head(&w, 0, 1);
		cb_head(&w, 0, c->kind);
		if (c->name && *c->name) {
			cb_head(&w, 0, 2);
			cb_data(&w, 3, c->name, strlen(c->name));
		}
		if (c->input.len) {
			cb_head(&w, 0, 3);
			cb_data(&w, 2, c->input.ptr, c->input.len);
		}
		if (c->version && *c->version) {
			cb_head(&w, 0, 4);
			cb_data(&w, 3, c->version, strlen(c->version));
		}
		if (c->instance_id && *c->instance_id) {
			cb_head(&w, 0, 5);
			cb_data(&w, 3, c->instance_id, strlen(c->instance_id));
		}
		if (c->delay) {
			cb_head(&w, 0, 6);
			cb_int(&w, c->delay);
		}
	}
	dh_bytes b = {w.p, w.n};
	return b;
}

static uint32_t schedule_encoded(dh_bytes cmd, uint8_t kind, const char *name) {
	int32_t h = dh__host_schedule(cmd.ptr, (int32_t)cmd.len);
	if (h <= 0)
		misuse("durohost: schedule %s \"%s\" returned %d", command_kind_names[kind], name ? name : "", h);
	return (uint32_t)h;
}

static uint32_t schedule(const command *c) {
	dh_arena_mark m = {arena.top};
	uint32_t h = schedule_encoded(encode_command(c), c->kind, c->name);
	arena_release(m.top); /* the encoding is no longer needed */
	return h;
}

static int32_t read_result(uint32_t h, uint8_t *buf, int32_t cap) { return dh__host_result(h, buf, cap); }

/* read_completion reads and releases the completion of a handle await reported complete:
 * NULL and the result, or the failure. */
static const dh_error *read_completion(uint32_t h, dh_bytes *result) {
	dh_bytes raw = host_read(read_result, h, "result of handle");
	cbr r = {raw.ptr, raw.ptr + raw.len, NULL};
	uint64_t n = 0, key;
	dh_bytes res = {0};
	dh_error *err = NULL;
	cr_map(&r, &n); /* an empty answer is no message: truncated */
	uint32_t seen = 0;
	for (uint64_t i = 0; i < n && !r.err; i++) {
		if (!cr_key(&r, &seen, &key))
			break;
		if (key == 1) {
			cr_data(&r, 2, &res);
		} else if (key == 2) {
			err = arena_alloc(sizeof *err);
			decode_failure(&r, err);
		} else {
			r.err = "unknown completion field";
		}
	}
	if (!r.err && r.p != r.end)
		r.err = "trailing bytes";
	if (r.err)
		misuse("durohost: decode completion of handle %u: %s", h, r.err);
	if (err)
		return err;
	if (res.len && res.ptr + res.len != raw.ptr + raw.len)
		res = copy_bytes(res); /* keep the NUL after the payload */
	if (!res.len)
		res.ptr = (const uint8_t *)"";
	*result = res;
	return NULL;
}

static void cancel_handle(uint32_t h) {
	int32_t st = dh__host_cancel(h);
	if (st != 0)
		misuse("durohost: cancel handle %u returned %d", h, st);
}

static dh_future *new_future(dh_ctx *ctx) {
	dh_future *f = arena_alloc(sizeof *f);
	memset(f, 0, sizeof *f);
	f->ctx = ctx;
	return f;
}

static void undrive(dh_future *f) {
	dh_ctx *c = f->ctx;
	if (!f->driven)
		return;
	if (f->dprev)
		f->dprev->dnext = f->dnext;
	else
		c->drivers = f->dnext;
	if (f->dnext)
		f->dnext->dprev = f->dprev;
	f->dnext = f->dprev = NULL;
	f->driven = false;
	c->ndrivers--;
}

static void settle(dh_future *f, dh_bytes result, const dh_error *err) {
	f->state = SETTLED;
	f->result = result;
	f->err = err;
	if (f->driven) /* it may settle while the orchestration waits for another future */
		arena_hold();
	undrive(f);
}

static const dh_error *new_error(dh_failure_kind kind, const char *code, const char *message) {
	dh_error *e = arena_alloc(sizeof *e);
	e->kind = kind;
	e->code = code;
	e->message = message;
	e->details.ptr = (const uint8_t *)"";
	e->details.len = 0;
	return e;
}

/* Go's time.Duration.String, so that messages are the same in every SDK. */
static size_t fmt_frac(char *buf, size_t w, uint64_t *v, int prec) {
	bool print = false;
	for (int i = 0; i < prec; i++) {
		int digit = (int)(*v % 10);
		print = print || digit != 0;
		if (print)
			buf[--w] = (char)('0' + digit);
		*v /= 10;
	}
	if (print)
		buf[--w] = '.';
	return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v) {
	if (v == 0)
		buf[--w] = '0';
	while (v > 0) {
		buf[--w] = (char)('0' + v % 10);
		v /= 10;
	}
	return w;
}

static void format_duration(int64_t d, char out[40]) {
	char buf[40];
	size_t w = sizeof buf;
	uint64_t u = (uint64_t)d;
	bool neg = d < 0;
	if (neg)
		u = -u;
	if (u < 1000000000u) {
		int prec = 0;
		buf[--w] = 's';
		w--;
		if (u == 0) {
			buf[w] = '0';
			goto done;
		} else if (u < 1000u) {
			buf[w] = 'n';
		} else if (u < 1000000u) {
			prec = 3;
			buf[w--] = (char)0xb5; /* µ */
			buf[w] = (char)0xc2;
		} else {
			prec = 6;
			buf[w] = 'm';
		}
		w = fmt_frac(buf, w, &u, prec);
		w = fmt_int(buf, w, u);
	} else {
		buf[--w] = 's';
		w = fmt_frac(buf, w, &u, 9);
		w = fmt_int(buf, w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			w = fmt_int(buf, w, u % 60);
			u /= 60;
			if (u > 0) {
				buf[--w] = 'h';
				w = fmt_int(buf, w, u);
			}
		}
	}
done:
	if (neg)
		buf[--w] = '-';
	memcpy(out, buf + w, sizeof buf - w);
	out[sizeof buf - w] = 0;
}

/* go_pow is Go's math.Pow for a finite x >= 1 and a whole y >= 0 (repeated squaring of the
 * mantissa), so that every SDK computes the same backoff to the nanosecond. */
static double go_pow(double x, int64_t y) {
	double a1 = 1;
	int ae = 0, xe;
	double x1 = frexp(x, &xe);
	for (int64_t i = y; i != 0; i >>= 1) {
		if (xe < -(1 << 12) || (1 << 12) < xe) {
			ae += xe;
			break;
		}
		if (i & 1) {
			a1 *= x1;
			ae += xe;
		}
		x1 *= x1;
		xe <<= 1;
		if (x1 < .5) {
			x1 += x1;
			xe--;
		}
	}
	return ldexp(a1, ae);
}

int64_t dh_retry_interval(const dh_retry_policy *p, int attempt) {
	int64_t initial = p->initial_interval ? p->initial_interval : DH_SECOND;
	double coef = p->backoff_coefficient != 0 ? p->backoff_coefficient : 2;
	int64_t max = p->max_interval ? p->max_interval : 100 * initial;
	double d = (double)initial * go_pow(coef, attempt > 1 ? attempt - 1 : 0);
	if (d >= (double)max)
		return max;
	return (int64_t)d;
}

static void retry_start(retry_state *m) {
	m->attempt++;
	m->call = schedule_encoded(m->cmd, m->kind, m->name);
	if (m->policy.attempt_timeout > 0) {
		command t = {.kind = CMD_TIMER, .delay = m->policy.attempt_timeout};
		m->timeout = schedule(&t);
	}
}

static bool retryable(const retry_state *m, const dh_error *e) {
	if (e->kind != DH_APPLICATION && e->kind != DH_TIMEOUT)
		return false;
	for (size_t i = 0; i < m->policy.non_retryable_count; i++)
		if (!strcmp(m->policy.non_retryable_codes[i], e->code))
			return false;
	return true;
}

/* waiting appends the handles f waits on to hs and returns how many it added. */
static size_t waiting(const dh_future *f, uint32_t *hs) {
	const retry_state *m = f->retry;
	if (!m) {
		hs[0] = f->handle;
		return 1;
	}
	if (m->backoff) {
		hs[0] = m->backoff;
		return 1;
	}
	hs[0] = m->call;
	if (m->timeout) {
		hs[1] = m->timeout;
		return 2;
	}
	return 1;
}

/* ready advances f, which await reported complete on handle h. */
static void ready(dh_future *f, uint32_t h) {
	dh_bytes res = {0};
	const dh_error *err;
	retry_state *m = f->retry;
	if (!m) {
		err = read_completion(h, &res);
		settle(f, res, err);
		return;
	}
	if (h == m->backoff && m->backoff) {
		m->backoff = 0;
		if ((err = read_completion(h, &res))) {
			settle(f, res, err); /* the timer itself failed (cancellation) */
			return;
		}
		retry_start(m);
		return;
	}
	if (h == m->call && m->call) {
		m->call = 0;
		err = read_completion(h, &res);
		if (m->timeout) {
			cancel_handle(m->timeout);
			m->timeout = 0;
		}
		if (!err) {
			settle(f, res, NULL);
			return;
		}
	} else if (h == m->timeout && m->timeout) {
		m->timeout = 0;
		const dh_error *terr = read_completion(h, &res);
		cancel_handle(m->call);
		m->call = 0;
		if (terr) {
			settle(f, res, terr);
			return;
		}
		char d[40];
		format_duration(m->policy.attempt_timeout, d);
		dh_buf msg;
		dh_buf_init(&msg, f->ctx);
		dh_buf_puts(&msg, command_kind_names[m->kind]);
		dh_buf_puts(&msg, " ");
		dh_buf_quote(&msg, m->name);
		size_t cap = 64 + strlen(d);
		char *rest = arena_alloc(cap);
		format(rest, cap, ": attempt %d timed out after %s", m->attempt, d);
		dh_buf_puts(&msg, rest);
		err = new_error(DH_TIMEOUT, DH_CODE_ATTEMPT_TIMEOUT, (const char *)msg.data);
	} else {
		misuse("durohost: internal error: retry of \"%s\" woken by foreign handle %u", m->name, h);
	}
	if (!retryable(m, err) || (m->policy.max_attempts > 0 && m->attempt >= m->policy.max_attempts)) {
		settle(f, (dh_bytes){0}, err);
		return;
	}
	command t = {.kind = CMD_TIMER, .delay = dh_retry_interval(&m->policy, m->attempt)};
	m->backoff = schedule(&t);
}

static void machine_cancel(dh_future *f) {
	retry_state *m = f->retry;
	if (!m) {
		cancel_handle(f->handle);
		return;
	}
	if (m->call)
		cancel_handle(m->call);
	if (m->timeout)
		cancel_handle(m->timeout);
	if (m->backoff)
		cancel_handle(m->backoff);
	m->call = m->timeout = m->backoff = 0;
}

/* check_payload traps on a NULL payload of some length: in WebAssembly reading address 0 does
 * not fault, so the call would send whatever lies there. */
static void check_payload(const char *op, const void *p, size_t len) {
	if (!p && len)
		misuse("durohost: %s with a NULL payload of %zu bytes", op, len);
}

static void check_name(const char *what, const char *name) {
	if (!name || !*name)
		misuse("durohost: %s with an empty name", what);
}

static void validate_policy(const dh_retry_policy *p) {
	if (p->max_attempts < 0)
		misuse("durohost: dh_retry_policy.max_attempts is negative");
	if (p->initial_interval < 0 || p->max_interval < 0 || p->attempt_timeout < 0)
		misuse("durohost: dh_retry_policy has a negative duration");
	if (p->backoff_coefficient != 0 && !(p->backoff_coefficient >= 1 && p->backoff_coefficient < INFINITY))
		misuse("durohost: dh_retry_policy.backoff_coefficient is not a number >= 1");
	if (p->non_retryable_count && !p->non_retryable_codes)
		misuse("durohost: dh_retry_policy.non_retryable_codes is NULL, non_retryable_count %zu", p->non_retryable_count);
	for (size_t i = 0; i < p->non_retryable_count; i++)
		if (!p->non_retryable_codes[i])
			misuse("durohost: dh_retry_policy.non_retryable_codes[%zu] is NULL", i);
}

/* call schedules a command, with retries when a policy is given, and returns its future. */
static dh_future *call(dh_ctx *ctx, const command *c, const dh_retry_policy *policy) {
	dh_future *f = new_future(ctx);
	if (!policy) {
		f->handle = schedule(c);
		return f;
	}
	validate_policy(policy);
	retry_state *m = arena_alloc(sizeof *m);
	memset(m, 0, sizeof *m);
	m->policy = *policy;
	const char **codes = arena_alloc(size_mul(size_add(policy->non_retryable_count, 1), sizeof *codes));
	for (size_t i = 0; i < policy->non_retryable_count; i++)
		codes[i] = copy_str(policy->non_retryable_codes[i], strlen(policy->non_retryable_codes[i]));
	m->policy.non_retryable_codes = codes;
	m->cmd = encode_command(c);
	m->kind = c->kind;
	m->name = copy_str(c->name, strlen(c->name));
	f->retry = m;
	retry_start(m);
	/* drive: a retrying call advances on every await of the run */
	f->driven = true;
	f->dnext = ctx->drivers;
	if (ctx->drivers)
		ctx->drivers->dprev = f;
	ctx->drivers = f;
	ctx->ndrivers++;
	arena_hold(); /* the SDK drives it even if the orchestration drops it */
	return f;
}

static const dh_call_options no_options;

dh_future *dh_call_activity(dh_ctx *ctx, const char *name, const void *input, size_t len,
                            const dh_call_options *opts) {
	check(ctx, "dh_call_activity");
	check_name("dh_call_activity", name);
	check_payload("dh_call_activity", input, len);
	if (!opts)
		opts = &no_options;
	if ((opts->instance_id && *opts->instance_id) || (opts->version && *opts->version))
		misuse("durohost: instance_id and version do not apply to activities");
	command c = {.kind = CMD_ACTIVITY, .name = name, .input = {input, len}};
	return call(ctx, &c, opts->retry);
}

dh_future *dh_call_sub_orchestration(dh_ctx *ctx, const char *name, const void *input, size_t len,
                                     const dh_call_options *opts) {
	check(ctx, "dh_call_sub_orchestration");
	check_name("dh_call_sub_orchestration", name);
	check_payload("dh_call_sub_orchestration", input, len);
	if (!opts)
		opts = &no_options;
	if (opts->retry && opts->instance_id && *opts->instance_id)
		misuse("durohost: a retried sub-orchestration needs a derived instance ID: every attempt is a new child");
	command c = {.kind = CMD_SUB_ORCHESTRATION, .name = name, .input = {input, len},
	             .version = opts->version, .instance_id = opts->instance_id};
	return call(ctx, &c, opts->retry);
}

const char *dh_start_orchestration(dh_ctx *ctx, const char *name, const void *input, size_t len,
                                   const dh_call_options *opts) {
	check(ctx, "dh_start_orchestration");
	check_name("dh_start_orchestration", name);
	check_payload("dh_start_orchestration", input, len);
	if (!opts)
		opts = &no_options;
	if (opts->retry)
		misuse("durohost: retry does not apply to detached orchestrations");
	command c = {.kind = CMD_START_ORCHESTRATION, .name = name, .input = {input, len},
	             .version = opts->version, .instance_id = opts->instance_id};
	dh_bytes id;
	if (dh_get(call(ctx, &c, NULL), &id))
		return NULL;
	return (const char *)id.ptr;
}

dh_future *dh_timer(dh_ctx *ctx, int64_t delay) {
	check(ctx, "dh_timer");
	command c = {.kind = CMD_TIMER, .delay = delay > 0 ? delay : 0};
	return call(ctx, &c, NULL);
}

const dh_error *dh_sleep(dh_ctx *ctx, int64_t delay) { return dh_get(dh_timer(ctx, delay), NULL); }

dh_future *dh_wait_event(dh_ctx *ctx, const char *name) {
	check(ctx, "dh_wait_event");
	check_name("dh_wait_event", name);
	command c = {.kind = CMD_WAIT_EVENT, .name = name};
	return call(ctx, &c, NULL);
}

dh_future *dh_dequeue(dh_ctx *ctx, const char *queue) {
	check(ctx, "dh_dequeue");
	check_name("dh_dequeue", queue);
	command c = {.kind = CMD_DEQUEUE, .name = queue};
	return call(ctx, &c, NULL);
}

/* ---- Waiting ---- */

static void check_futures(dh_ctx *ctx, const char *op, dh_future *const *fs, size_t n, bool allow_cancelled) {
	check(ctx, op);
	if (!n || !fs)
		misuse("durohost: %s with no futures", op);
	for (size_t i = 0; i < n; i++) {
		if (!fs[i])
			misuse("durohost: %s: future %zu is NULL", op, i);
		if (fs[i]->ctx != ctx)
			misuse("durohost: %s: future %zu belongs to another run", op, i);
		if (fs[i]->state == CANCELLED && !allow_cancelled)
			misuse("durohost: %s: future %zu was cancelled (a loser of dh_select?) and its handle released", op, i);
	}
}

static size_t wait_any(dh_ctx *c, dh_future *const *fs, size_t n) {
	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (fs[i]->state != PENDING)
				return i;
		c->epoch++;
		size_t cap = 2 * (n + c->ndrivers), count = 0;
		uint8_t *mark = arena.top;
		uint32_t *hs = arena_alloc(cap * sizeof *hs);
		dh_future **owners = arena_alloc(cap * sizeof *owners);
		dh_future *d = c->drivers;
		for (size_t i = 0; i < n + c->ndrivers; i++) {
			dh_future *f;
			if (i < n) {
				f = fs[i];
			} else {
				f = d;
				d = d->dnext;
			}
			if (f->mark == c->epoch)
				continue;
			f->mark = c->epoch;
			size_t k = waiting(f, hs + count);
			for (size_t j = 0; j < k; j++)
				owners[count + j] = f;
			count += k;
		}
		if (count > MAX_AWAIT_HANDLES)
			misuse("durohost: waiting on %zu handles at once; the ABI allows %d", count, MAX_AWAIT_HANDLES);
		int32_t i = dh__host_await(hs, (int32_t)count);
		if (i < 0 || (size_t)i >= count)
			misuse("durohost: await of %zu handles returned %d", count, i);
		dh_future *f = owners[i];
		uint32_t h = hs[i];
		arena_release(mark); /* the handle list is no longer needed */
		ready(f, h);
	}
}

size_t dh_wait_any(dh_ctx *ctx, dh_future *const *fs, size_t n) {
	check_futures(ctx, "dh_wait_any", fs, n, false);
	return wait_any(ctx, fs, n);
}

void dh_cancel(dh_future *f) {
	if (!f)
		misuse("durohost: dh_cancel of a NULL future");
	check(f->ctx, "dh_cancel");
	if (f->state != PENDING)
		return;
	machine_cancel(f);
	settle(f, (dh_bytes){0}, new_error(DH_CANCELLED, "", "future cancelled by the orchestration"));
	f->state = CANCELLED;
}

size_t dh_select(dh_ctx *ctx, dh_future *const *fs, size_t n) {
	check_futures(ctx, "dh_select", fs, n, false);
	size_t i = wait_any(ctx, fs, n);
	for (size_t j = 0; j < n; j++)
		if (j != i && fs[j] != fs[i])
			dh_cancel(fs[j]);
	return i;
}

const dh_error *dh_wait_all(dh_ctx *ctx, dh_future *const *fs, size_t n) {
	if (n == 0) {
		check(ctx, "dh_wait_all");
		return NULL;
	}
	check_futures(ctx, "dh_wait_all", fs, n, true);
	const dh_error *first = NULL;
	for (size_t i = 0; i < n; i++) {
		if (fs[i]->state == PENDING)
			wait_any(ctx, &fs[i], 1);
		if (fs[i]->err && !first)
			first = fs[i]->err;
	}
	return first;
}

const dh_error *dh_get(dh_future *f, dh_bytes *result) {
	if (!f)
		misuse("durohost: dh_get of a NULL future");
	if (f->state == PENDING) {
		check(f->ctx, "dh_get");
		wait_any(f->ctx, &f, 1);
	}
	if (result) {
		result->ptr = f->result.ptr ? f->result.ptr : (const uint8_t *)"";
		result->len = f->result.len;
	}
	return f->err;
}

bool dh_done(const dh_future *f) { return f && f->state != PENDING; }

/* ---- Ending the execution ---- */

static void set_outcome(dh_ctx *ctx, int kind, const char *op) {
	check(ctx, op);
	ctx->outcome = kind;
}

void dh_return(dh_ctx *ctx, const void *output, size_t len) {
	check_payload("dh_return", output, len);
	set_outcome(ctx, OUT_COMPLETED, "dh_return");
	ctx->output = copy_bytes((dh_bytes){output, len});
	arena_hold();
}

void dh_fail(dh_ctx *ctx, const char *code, const char *message) {
	set_outcome(ctx, OUT_FAILED, "dh_fail");
	ctx->failure = (dh_error){DH_APPLICATION, copy_str(code, code ? strlen(code) : 0),
	                          copy_str(message, message ? strlen(message) : 0), {0}};
	arena_hold();
}

void dh_fail_error(dh_ctx *ctx, const dh_error *err) {
	if (!err)
		misuse("durohost: dh_fail_error with a NULL error");
	set_outcome(ctx, OUT_FAILED, "dh_fail_error");
	/* copied, like dh_fail's: the execution ends after the orchestration returns, when err's
	 * strings may live in a stack frame that is gone or a buffer used again */
	ctx->failure = (dh_error){err->kind, copy_str(err->code, err->code ? strlen(err->code) : 0),
	                          copy_str(err->message, err->message ? strlen(err->message) : 0),
	                          copy_bytes(err->details)};
	arena_hold();
}

void dh_continue_as_new(dh_ctx *ctx, const void *input, size_t len, const char *version) {
	check_payload("dh_continue_as_new", input, len);
	set_outcome(ctx, OUT_CONTINUED_AS_NEW, "dh_continue_as_new");
	ctx->output = copy_bytes((dh_bytes){input, len});
	ctx->can_version = version ? copy_str(version, strlen(version)) : "";
	arena_hold();
}

static void finish(int kind, const dh_bytes *payload, const dh_error *failure, const char *version) {
	cbw w = {0};
	const registration **regs = kind == OUT_DESCRIBE ? sorted_registry() : NULL;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			w.p = arena_alloc(w.n);
			w.n = 0;
		}
		bool has_payload = payload && payload->len, has_version = version && *version;
		cb_head(&w, 5, 1 + has_payload + (failure != NULL) + has_version + (regs != NULL));
		cb_head(&w, 0, 1);
		cb_head(&w, 0, (uint64_t)kind);
		if (has_payload) {
			cb_head(&w, 0, kind == OUT_CONTINUED_AS_NEW ? 4 : 2);
			cb_data(&w, 2, payload->ptr, payload->len);
		}
		if (failure) {
			cb_head(&w, 0, 3);
			encode_failure(&w, failure);
		}
		if (has_version) {
			cb_head(&w, 0, 5);
			cb_data(&w, 3, version, strlen(version));
		}
		if (regs) {
			cb_head(&w, 0, 6);
			cb_head(&w, 4, registered);
			for (size_t i = 0; i < registered; i++) {
				cb_head(&w, 5, *regs[i]->version ? 2 : 1);
				cb_head(&w, 0, 1);
				cb_data(&w, 3, regs[i]->name, strlen(regs[i]->name));
				if (*regs[i]->version) {
					cb_head(&w, 0, 2);
					cb_data(&w, 3, regs[i]->version, strlen(regs[i]->version));
				}
			}
		}
	}
	dh__host_complete(w.p, (int32_t)w.n);
}

static void fail_infrastructure(const char *code, const char *message) {
	dh_error e = {DH_INFRASTRUCTURE, code, message, {0}};
	finish(OUT_FAILED, NULL, &e, NULL);
}

/* describe_name returns "name" or "name@version". */
static const char *describe_name(const char *name, const char *version) {
	size_t n = strlen(name), v = strlen(version);
	char *s = arena_alloc(n + v + 2);
	memcpy(s, name, n);
	if (v) {
		s[n] = '@';
		memcpy(s + n + 1, version, v);
		n += v + 1;
	}
	s[n] = 0;
	return s;
}

static void unknown_orchestration(const char *name, const char *version) {
	dh_buf b;
	dh_buf_init(&b, NULL);
	dh_buf_puts(&b, "the module does not register orchestration ");
	dh_buf_puts(&b, describe_name(name, version));
	dh_buf_puts(&b, "; it registers: ");
	const registration **regs = sorted_registry();
	for (size_t i = 0; i < registered; i++) {
		if (i)
			dh_buf_puts(&b, ", ");
		dh_buf_puts(&b, describe_name(regs[i]->name, regs[i]->version));
	}
	if (!registered)
		dh_buf_puts(&b, "none");
	dh_buf_write(&b, "", 1);
	fail_infrastructure("DH-GUEST-001", (const char *)b.data);
}

typedef struct {
	uint64_t mode, execution;
	dh_bytes name, version, instance_id, input, parent_id, status;
	bool has_status;
	int64_t start_time;
} start_info;

static const char *decode_start_info(dh_bytes raw, start_info *si) {
	cbr r = {raw.ptr, raw.ptr + raw.len, NULL};
	uint64_t n, key;
	uint32_t seen = 0;
	memset(si, 0, sizeof *si);
	if (!cr_map(&r, &n))
		return r.err;
	for (uint64_t i = 0; i < n; i++) {
		if (!cr_key(&r, &seen, &key))
			return r.err;
		switch (key) {
		case 1:
			cr_uint(&r, &si->mode);
			break;
		case 2:
			cr_data(&r, 3, &si->name);
			break;
		case 3:
			cr_data(&r, 3, &si->version);
			break;
		case 4:
			cr_data(&r, 3, &si->instance_id);
			break;
		case 5:
			cr_uint(&r, &si->execution);
			break;
		case 6:
			cr_data(&r, 2, &si->input);
			break;
		case 7:
			cr_data(&r, 3, &si->parent_id);
			break;
		case 8:
			si->has_status = cr_data(&r, 2, &si->status);
			break;
		case 9:
			cr_int(&r, &si->start_time);
			break;
		default:
			r.err = "unknown StartInfo field";
		}
		if (r.err)
			return r.err;
	}
	if (r.p != r.end)
		return "trailing bytes";
	return NULL;
}

__attribute__((export_name("durohost_abi_version"))) int32_t durohost_abi_version(void) { return DH_ABI_VERSION; }

__attribute__((export_name("durohost_run"))) void durohost_run(void) {
	arena_reset();
	dh_bytes raw = host_read(read_start_info, 0, "start_info");
	start_info si;
	const char *err = decode_start_info(raw, &si);
	if (err) {
		size_t n = strlen(err);
		char *msg = arena_alloc(n + 18);
		memcpy(msg, "read start info: ", 17);
		memcpy(msg + 17, err, n + 1);
		fail_infrastructure("DH-ABI-002", msg);
		return;
	}
	if (si.mode == MODE_DESCRIBE) {
		finish(OUT_DESCRIBE, NULL, NULL, NULL);
		return;
	}
	if (si.mode != MODE_RUN) {
		char msg[64];
		format(msg, sizeof msg, "unknown start mode %lld", (long long)si.mode);
		fail_infrastructure("DH-ABI-004", msg);
		return;
	}
	dh_ctx *c = &the_ctx;
	memset(c, 0, sizeof *c);
	c->name = copy_str(si.name.ptr, si.name.len);
	const char *version = copy_str(si.version.ptr, si.version.len);
	const registration *r = lookup(c->name, version);
	if (!r) {
		unknown_orchestration(c->name, version);
		return;
	}
	c->version = r->version;
	c->instance_id = copy_str(si.instance_id.ptr, si.instance_id.len);
	c->parent_id = copy_str(si.parent_id.ptr, si.parent_id.len);
	c->execution_id = (uint32_t)si.execution;
	c->start_time = si.start_time;
	c->has_status = si.has_status;
	c->status = copy_bytes(si.status);
	dh_bytes input = copy_bytes(si.input);
	c->running = true;
	r->fn(c, input);
	c->running = false;
	switch (c->outcome) {
	case 0:
	case OUT_COMPLETED:
		finish(OUT_COMPLETED, &c->output, NULL, NULL);
		break;
	case OUT_FAILED:
		finish(OUT_FAILED, NULL, &c->failure, NULL);
		break;
	case OUT_CONTINUED_AS_NEW:
		finish(OUT_CONTINUED_AS_NEW, &c->output, NULL, c->can_version);
		break;
	}
}

/* ---- Metadata, values, status, logs ---- */

/* ctx_of traps on a NULL context (in WebAssembly its fields would read as whatever lies at
 * address 0). */
static const dh_ctx *ctx_of(const dh_ctx *ctx, const char *op) {
	if (!ctx)
		misuse("durohost: %s with a NULL context", op);
	return ctx;
}

const char *dh_name(const dh_ctx *ctx) { return ctx_of(ctx, "dh_name")->name; }
const char *dh_version(const dh_ctx *ctx) { return ctx_of(ctx, "dh_version")->version; }
const char *dh_instance_id(const dh_ctx *ctx) { return ctx_of(ctx, "dh_instance_id")->instance_id; }
const char *dh_parent_id(const dh_ctx *ctx) { return ctx_of(ctx, "dh_parent_id")->parent_id; }
uint32_t dh_execution_id(const dh_ctx *ctx) { return ctx_of(ctx, "dh_execution_id")->execution_id; }
int64_t dh_start_time(const dh_ctx *ctx) { return ctx_of(ctx, "dh_start_time")->start_time; }

bool dh_is_replaying(dh_ctx *ctx) {
	check_running(ctx, "dh_is_replaying");
	return dh__host_is_replaying() != 0;
}

int64_t dh_now(dh_ctx *ctx) {
	(void)ctx;
	__wasi_timestamp_t t = 0;
	if (__wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t) != 0)
		misuse("durohost: clock_time_get failed");
	return (int64_t)t;
}

void dh_random(dh_ctx *ctx, void *buf, size_t len) {
	(void)ctx;
	if (len && __wasi_random_get(buf, len) != 0)
		misuse("durohost: random_get failed");
}

void dh_new_uuid(dh_ctx *ctx, char out[37]) {
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	dh_random(ctx, b, sizeof b);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	size_t w = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[w++] = '-';
		out[w++] = hex[b[i] >> 4];
		out[w++] = hex[b[i] & 15];
	}
	out[w] = 0;
}

void dh_set_status(dh_ctx *ctx, const void *status, size_t len) {
	check(ctx, "dh_set_status");
	check_payload("dh_set_status", status, len);
	ctx->has_status = true;
	ctx->status = copy_bytes((dh_bytes){status, len});
	arena_hold();
	dh__host_set_status(ctx->status.ptr, (int32_t)len);
}

void dh_clear_status(dh_ctx *ctx) {
	check(ctx, "dh_clear_status");
	ctx->has_status = false;
	ctx->status = (dh_bytes){(const uint8_t *)"", 0};
	dh__host_set_status(NULL, -1);
}

bool dh_status(const dh_ctx *ctx, dh_bytes *status) {
	ctx_of(ctx, "dh_status");
	if (status)
		*status = ctx->has_status ? ctx->status : (dh_bytes){(const uint8_t *)"", 0};
	return ctx->has_status;
}

void dh_log(dh_ctx *ctx, dh_log_level level, const char *message) {
	check_running(ctx, "dh_log");
	if (message)
		dh__host_log((int32_t)level, (const uint8_t *)message, (int32_t)strlen(message));
}

void dh_logf(dh_ctx *ctx, dh_log_level level, const char *format, ...) {
	check_running(ctx, "dh_logf");
	if (dh__host_is_replaying())
		return; /* the host would drop it: do not format it */
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(NULL, 0, format, ap);
	va_end(ap);
	if (n < 0)
		return;
	uint8_t *mark = arena.top;
	char *msg = arena_alloc((size_t)n + 1);
	va_start(ap, format);
	vsnprintf(msg, (size_t)n + 1, format, ap);
	va_end(ap);
	dh__host_log((int32_t)level, (const uint8_t *)msg, n);
	arena_release(mark);
}

/* ---- Arena API ---- */

void *dh_alloc(dh_ctx *ctx, size_t n) {
	(void)ctx;
	void *p = arena_alloc(n);
	memset(p, 0, n);
	return p;
}

char *dh_strndup(dh_ctx *ctx, const void *s, size_t n) {
	(void)ctx;
	return copy_str(s, n);
}

dh_arena_mark dh_arena_mark_get(dh_ctx *ctx) {
	(void)ctx;
	dh_arena_mark m = {arena.top};
	return m;
}

void dh_arena_release(dh_ctx *ctx, dh_arena_mark mark) {
	(void)ctx;
	arena_release(mark.top);
}

/* ---- JSON helpers ---- */

void dh_buf_init(dh_buf *b, dh_ctx *ctx) {
	b->ctx = ctx;
	b->data = NULL;
	b->len = b->cap = 0;
}

static void buf_grow(dh_buf *b, size_t n) {
	if (b->cap - b->len >= n)
		return;
	size_t need = size_add(b->len, n);
	/* the last allocation of the arena grows in place */
	if (b->data && b->data + b->cap == arena.top && (size_t)(arena.end - b->data) >= need) {
		arena.top = b->data + need;
		b->cap = need;
		return;
	}
	size_t cap = b->cap ? b->cap * 2 : 64;
	if (cap < need || cap < b->cap)
		cap = need;
	uint8_t *p = arena_alloc(cap);
	if (b->len)
		memcpy(p, b->data, b->len);
	b->data = p;
	b->cap = cap;
}

void dh_buf_write(dh_buf *b, const void *p, size_t n) {
	buf_grow(b, size_add(n, 1));
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0; /* a NUL follows, as after every payload */
}

void dh_buf_puts(dh_buf *b, const char *s) { dh_buf_write(b, s, strlen(s)); }

/* utf8_decode decodes the rune at s (n > 0 bytes) like Go's utf8.DecodeRune: it returns the
 * rune and its size, or -1 and 1 for an invalid encoding. */
static int32_t utf8_decode(const uint8_t *s, size_t n, size_t *size) {
	uint8_t c = s[0];
	*size = 1;
	if (c < 0x80)
		return c;
	int need;
	int32_t r, min;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, r = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, r = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, r = c & 0x07, min = 0x10000;
	else
		return -1;
	if (n < (size_t)need + 1)
		return -1;
	for (int i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		r = r << 6 | (s[i] & 0x3f);
	}
	if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
		return -1;
	*size = (size_t)need + 1;
	return r;
}

void dh_json_string(dh_buf *b, const char *s, size_t n) {
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	buf_grow(b, size_add(n, 3));
	dh_buf_write(b, "\"", 1);
	size_t start = 0, i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c < 0x80) {
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
				i++;
				continue;
			}
			dh_buf_write(b, p + start, i - start);
			char esc[6] = {'\\', 0};
			switch (c) {
			case '"':
			case '\\':
				esc[1] = (char)c;
				dh_buf_write(b, esc, 2);
				break;
			case '\b':
				dh_buf_write(b, "\\b", 2);
				break;
			case '\f':
				dh_buf_write(b, "\\f", 2);
				break;
			case '\n':
				dh_buf_write(b, "\\n", 2);
				break;
			case '\r':
				dh_buf_write(b, "\\r", 2);
				break;
			case '\t':
				dh_buf_write(b, "\\t", 2);
				break;
			default:
				esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
				dh_buf_write(b, esc, 6);
			}
			start = ++i;
			continue;
		}
		size_t size;
		int32_t r = utf8_decode(p + i, n - i, &size);
		if (r == -1) {
			dh_buf_write(b, p + start, i - start);
			dh_buf_puts(b, "\\ufffd");
			start = ++i;
			continue;
		}
		if (r == 0x2028 || r == 0x2029) {
			dh_buf_write(b, p + start, i - start);
			dh_buf_puts(b, r == 0x2028 ? "\\u2028" : "\\u2029");
			i += size;
			start = i;
			continue;
		}
		i += size;
	}
	dh_buf_write(b, p + start, n - start);
	dh_buf_write(b, "\"", 1);
}

void dh_json_int(dh_buf *b, int64_t v) {
	char s[24];
	dh_buf_write(b, s, format(s, sizeof s, "%lld", (long long)v));
}

/* dh_buf_quote appends s quoted like Go's %q for the names in messages: between double
 * quotes, with backslash escapes for quotes, backslashes and control characters. */
static void dh_buf_quote(dh_buf *b, const char *s) {
	static const char hex[] = "0123456789abcdef";
	dh_buf_puts(b, "\"");
	for (; *s; s++) {
		uint8_t c = (uint8_t)*s;
		const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
		if (esc) {
			dh_buf_puts(b, esc);
		} else if (c < 0x20 || c == 0x7f) {
			char x[5] = {'\\', 'x', hex[c >> 4], hex[c & 15], 0};
			dh_buf_puts(b, x);
		} else {
			dh_buf_write(b, s, 1);
		}
	}
	dh_buf_puts(b, "\"");
}

void dh_json_bool(dh_buf *b, bool v) { dh_buf_puts(b, v ? "true" : "false"); }

void dh_json_raw(dh_buf *b, dh_bytes v) {
	const uint8_t *p = v.ptr, *end = v.ptr + v.len;
	bool in_string = false;
	size_t before = b->len;
	for (; p < end; p++) {
		uint8_t c = *p;
		if (!in_string && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
			continue;
		if (c == '<' || c == '>' || c == '&') {
			char esc[7] = {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15], 0};
			dh_buf_write(b, esc, 6);
			continue;
		}
		if (c == 0xe2 && end - p >= 3 && p[1] == 0x80 && (p[2] & ~1) == 0xa8) {
			dh_buf_puts(b, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
			p += 2;
			continue;
		}
		dh_buf_write(b, p, 1);
		if (in_string && c == '\\' && p + 1 < end) {
			dh_buf_write(b, ++p, 1);
			continue;
		}
		if (c == '"')
			in_string = !in_string;
	}
	if (b->len == before)
		dh_buf_puts(b, "null");
}

void dh_json_error(dh_buf *b, const dh_error *err) {
	dh_buf_puts(b, "{\"kind\":");
	const char *kind = dh_failure_kind_name(err->kind);
	dh_json_string(b, kind, strlen(kind));
	if (err->code && *err->code) {
		dh_buf_puts(b, ",\"code\":");
		dh_json_string(b, err->code, strlen(err->code));
	}
	dh_buf_puts(b, ",\"message\":");
	dh_json_string(b, err->message ? err->message : "", err->message ? strlen(err->message) : 0);
	dh_buf_puts(b, "}");
}

/* Reading. */

static const uint8_t *ws(const uint8_t *p, const uint8_t *end) {
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* skip_string skips a JSON string starting at its quote; NULL when invalid. */
static const uint8_t *skip_string(const uint8_t *p, const uint8_t *end) {
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p < 0x20)
			return NULL;
		if (*p == '\\') {
			if (++p >= end)
				return NULL;
			if (*p == 'u') {
				for (int i = 0; i < 4; i++) {
					if (++p >= end)
						return NULL;
					uint8_t h = *p;
					if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
						return NULL;
				}
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) { /* strchr finds the NUL too */
				return NULL;
			}
		}
	}
	return NULL;
}

static const uint8_t *skip_number(const uint8_t *p, const uint8_t *end) {
	const uint8_t *s = p;
	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p > s ? p : NULL;
}

/* skip_value skips one JSON value (no leading space); NULL when invalid. */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end, int depth) {
	if (p >= end || depth > DH_JSON_MAX_DEPTH)
		return NULL;
	switch (*p) {
	case '"':
		return skip_string(p, end);
	case '{':
	case '[': {
		uint8_t close = *p == '{' ? '}' : ']';
		bool object = *p == '{';
		p = ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (object) {
				p = skip_string(p, end);
				if (!p)
					return NULL;
				p = ws(p, end);
				if (p >= end || *p != ':')
					return NULL;
				p = ws(p + 1, end);
			}
			p = skip_value(p, end, depth + 1);
			if (!p)
				return NULL;
			p = ws(p, end);
			if (p >= end)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p = ws(p + 1, end);
		}
	}
	case 't':
		return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
	case 'f':
		return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
	case 'n':
		return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
	}
	return skip_number(p, end);
}

static int hexval(uint8_t h) {
	return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10;
}

static void put_utf8(uint8_t **o, uint32_t r) {
	uint8_t *q = *o;
	if (r < 0x80) {
		*q++ = (uint8_t)r;
	} else if (r < 0x800) {
		*q++ = (uint8_t)(0xc0 | r >> 6);
		*q++ = (uint8_t)(0x80 | (r & 0x3f));
	} else if (r < 0x10000) {
		*q++ = (uint8_t)(0xe0 | r >> 12);
		*q++ = (uint8_t)(0x80 | ((r >> 6) & 0x3f));
		*q++ = (uint8_t)(0x80 | (r & 0x3f));
	} else {
		*q++ = (uint8_t)(0xf0 | r >> 18);
		*q++ = (uint8_t)(0x80 | ((r >> 12) & 0x3f));
		*q++ = (uint8_t)(0x80 | ((r >> 6) & 0x3f));
		*q++ = (uint8_t)(0x80 | (r & 0x3f));
	}
	*o = q;
}

/* unescape decodes the body of a valid JSON string (between its quotes) into out (cap bytes;
 * what does not fit is dropped) like Go's encoding/json: invalid UTF-8 and lone surrogates
 * become U+FFFD. It returns the decoded length. */
static size_t unescape(const uint8_t *p, size_t n, uint8_t *out, size_t cap) {
	const uint8_t *end = p + n;
	size_t w = 0;
	uint8_t tmp[4], *t;
#define EMIT(src, len)                                          \
	do {                                                        \
		for (size_t k_ = 0; k_ < (size_t)(len); k_++, w++)      \
			if (w < cap)                                        \
				out[w] = (src)[k_];                             \
	} while (0)
	while (p < end) {
		if (*p != '\\') {
			size_t size = 1;
			if (*p >= 0x80 && utf8_decode(p, (size_t)(end - p), &size) == -1) {
				static const uint8_t replacement[] = {0xef, 0xbf, 0xbd};
				EMIT(replacement, 3);
				p++;
				continue;
			}
			EMIT(p, size);
			p += size;
			continue;
		}
		p++;
		uint8_t c = *p++;
		uint32_t r = c;
		switch (c) {
		case 'b':
			r = '\b';
			break;
		case 'f':
			r = '\f';
			break;
		case 'n':
			r = '\n';
			break;
		case 'r':
			r = '\r';
			break;
		case 't':
			r = '\t';
			break;
		case 'u':
			r = (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
			p += 4;
			if (r >= 0xd800 && r < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				uint32_t lo = (uint32_t)(hexval(p[2]) << 12 | hexval(p[3]) << 8 | hexval(p[4]) << 4 | hexval(p[5]));
				if (lo >= 0xdc00 && lo < 0xe000) {
					r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if (r >= 0xd800 && r < 0xe000)
				r = 0xfffd;
			break;
		}
		t = tmp;
		put_utf8(&t, r);
		EMIT(tmp, t - tmp);
	}
#undef EMIT
	return w;
}

bool dh_json_valid(dh_bytes v) {
	const uint8_t *end = v.ptr + v.len, *p = ws(v.ptr, end);
	p = skip_value(p, end, 0);
	return p && ws(p, end) == end;
}

static bool key_equals(const uint8_t *raw, size_t n, const char *key) {
	size_t kn = strlen(key);
	if (!memchr(raw, '\\', n))
		return n == kn && !memcmp(raw, key, n);
	uint8_t tmp[256];
	size_t m = unescape(raw, n, tmp, sizeof tmp);
	return m == kn && m <= sizeof tmp && !memcmp(tmp, key, m);
}

bool dh_json_get(dh_bytes obj, const char *key, dh_bytes *value) {
	const uint8_t *end = obj.ptr + obj.len, *p = ws(obj.ptr, end);
	bool found = false;
	dh_bytes v0 = {(const uint8_t *)"", 0};
	*value = v0; /* absent: empty, as dh_json_is_null reads it (never what it held before) */
	if (p >= end || *p != '{')
		return false;
	p = ws(p + 1, end);
	if (p < end && *p == '}')
		return false;
	for (;;) {
		const uint8_t *k = p;
		p = skip_string(p, end);
		if (!p)
			goto invalid;
		const uint8_t *kend = p - 1;
		p = ws(p, end);
		if (p >= end || *p != ':')
			goto invalid;
		p = ws(p + 1, end);
		const uint8_t *v = p;
		p = skip_value(p, end, 0);
		if (!p)
			goto invalid;
		if (key_equals(k + 1, (size_t)(kend - k - 1), key)) { /* the last one wins, as in Go */
			value->ptr = v;
			value->len = (size_t)(p - v);
			found = true;
		}
		p = ws(p, end);
		if (p >= end || (*p != ',' && *p != '}'))
			goto invalid;
		if (*p == '}')
			return found;
		p = ws(p + 1, end);
	}
invalid:
	*value = v0;
	return false;
}

bool dh_json_next(dh_bytes *iter, dh_bytes *item) {
	const uint8_t *end = iter->ptr + iter->len, *p = ws(iter->ptr, end);
	if (p >= end)
		return false;
	if (*p == '[' || *p == ',') {
		bool first = *p == '[';
		p = ws(p + 1, end);
		if (first && p < end && *p == ']')
			goto stop;
	} else {
		goto stop;
	}
	const uint8_t *v = p;
	p = skip_value(p, end, 0);
	if (!p)
		goto stop;
	item->ptr = v;
	item->len = (size_t)(p - v);
	p = ws(p, end);
	iter->ptr = p;
	iter->len = (size_t)(end - p);
	return true;
stop:
	iter->ptr = end;
	iter->len = 0;
	return false;
}

bool dh_json_is_null(dh_bytes v) {
	const uint8_t *end = v.ptr + v.len, *p = ws(v.ptr, end);
	return p == end || (end - p >= 4 && !memcmp(p, "null", 4) && ws(p + 4, end) == end);
}

bool dh_json_to_int(dh_bytes v, int64_t *out) {
	const uint8_t *end = v.ptr + v.len, *p = ws(v.ptr, end);
	*out = 0;
	bool neg = p < end && *p == '-';
	if (neg)
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	if (*p == '0' && end - p > 1 && p[1] >= '0' && p[1] <= '9')
		return false; /* a leading zero: not JSON */
	uint64_t x = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_C(1) << 63) / 10)
			return false;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (ws(p, end) != end || x > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}

bool dh_json_to_bool(dh_bytes v) {
	const uint8_t *end = v.ptr + v.len, *p = ws(v.ptr, end);
	return end - p >= 4 && !memcmp(p, "true", 4) && ws(p + 4, end) == end;
}

char *dh_json_to_string(dh_ctx *ctx, dh_bytes v, size_t *len) {
	(void)ctx;
	const uint8_t *end = v.ptr + v.len, *p = ws(v.ptr, end);
	const uint8_t *q = skip_string(p, end);
	if (!q || ws(q, end) != end)
		return NULL;
	size_t n = (size_t)(q - p - 2);
	size_t m = unescape(p + 1, n, NULL, 0); /* the length (invalid UTF-8 grows) */
	char *s = arena_alloc(m + 1);
	unescape(p + 1, n, (uint8_t *)s, m);
	s[m] = 0;
	if (len)
		*len = m;
	return s;
}
