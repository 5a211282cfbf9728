/* The C test guest of the conformance suite over the stream form of the ABI: an ordinary
 * WASI command that uses only C stdio on /durohost/v1 (dh.c) and implements the scenario
 * orchestrations of conformance/scenarios/README.md exactly as the Go guest does, so that the
 * Go guest's golden histories replay against it. Built by build.sh; -DVARIANT_B builds the
 * "variant b" of the suite. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dh.h"
#include "json.h"

#ifdef VARIANT_B
static const char variant[] = "b";
#else
static const char variant[] = "a";
#endif

static dh_info info;
/* The custom status as the orchestration knows it (carried by continue-as-new). */
static int status_set;
static dh_buf status;

/* What an orchestration ends with. */
typedef struct {
	enum { OK, FAIL, CONTINUE } kind;
	dh_buf out;       /* OK: the output; CONTINUE: the next input */
	dh_failure f;     /* FAIL */
	const char *version; /* CONTINUE */
} ending;

static ending ok(dh_buf out) { return (ending){.kind = OK, .out = out}; }

static ending fail_with(dh_failure f) { return (ending){.kind = FAIL, .f = f}; }

static ending fail_app(const char *code, const char *message) {
	return fail_with((dh_failure){.kind = DH_APPLICATION, .code = strdup(code), .message = strdup(message)});
}

static ending continue_as_new(dh_buf in, const char *version) {
	return (ending){.kind = CONTINUE, .out = in, .version = version};
}

/* Futures. */

static dh_completion get(uint32_t h) {
	dh_completion c;
	dh_await(&h, 1);
	if (!dh_result(h, &c))
		dh_fatal("handle %" PRIu32 " not complete after await", h);
	return c;
}

static void sleep_ms(int64_t ms) {
	dh_completion c = get(dh_schedule(DH_TIMER, NULL, NULL, 0, NULL, NULL, ms * 1000000));
	(void)c;
}

static uint32_t activity(const char *name, const char *input, size_t n) {
	return dh_schedule(DH_ACTIVITY, name, (const uint8_t *)input, n, NULL, NULL, 0);
}

/* input returns a JSON value's text as an activity or child input: null when absent. */
static const char *input_of(const jv *v, size_t *n) {
	if (!v) {
		*n = 4;
		return "null";
	}
	*n = v->rawlen;
	return v->raw;
}

static const char *kind_name(uint64_t k) {
	switch (k) {
	case DH_APPLICATION: return "application";
	case DH_INFRASTRUCTURE: return "infrastructure";
	case DH_CANCELLED: return "cancelled";
	case DH_TIMEOUT: return "timeout";
	}
	return "unknown";
}

/* jw_error writes an error object {"kind", "code", "message"}. */
static void jw_error(dh_buf *b, const dh_failure *f) {
	jw_raw(b, "{\"kind\":");
	jw_str(b, kind_name(f->kind));
	if (f->code && *f->code) {
		jw_raw(b, ",\"code\":");
		jw_str(b, f->code);
	}
	jw_raw(b, ",\"message\":");
	jw_str(b, f->message ? f->message : "");
	dh_buf_byte(b, '}');
}

/* go_duration formats nanoseconds as Go's time.Duration.String does. */
static void go_duration(int64_t d, char *out, size_t cap) {
	char buf[40];
	int w = (int)sizeof buf - 1;
	buf[w] = 0;
	uint64_t u = d < 0 ? (uint64_t)(-d) : (uint64_t)d;
	int neg = d < 0;
	/* frac writes the digits of v's last prec digits without trailing zeros, returns v/10^prec. */
#define FRAC(v, prec)                                                                 \
	do {                                                                          \
		int print = 0;                                                        \
		for (int k = 0; k < (prec); k++) {                                    \
			int digit = (int)((v) % 10);                                  \
			print = print || digit != 0;                                  \
			if (print)                                                    \
				buf[--w] = (char)('0' + digit);                       \
			(v) /= 10;                                                    \
		}                                                                     \
		if (print)                                                            \
			buf[--w] = '.';                                               \
	} while (0)
#define INT(v)                                                                        \
	do {                                                                          \
		if ((v) == 0) {                                                       \
			buf[--w] = '0';                                               \
		} else {                                                              \
			while ((v) > 0) {                                             \
				buf[--w] = (char)('0' + (int)((v) % 10));             \
				(v) /= 10;                                            \
			}                                                             \
		}                                                                     \
	} while (0)
	if (u < 1000000000ull) {
		int prec;
		const char *unit;
		if (u == 0) {
			snprintf(out, cap, "0s");
			return;
		} else if (u < 1000ull) {
			prec = 0, unit = "ns";
		} else if (u < 1000000ull) {
			prec = 3, unit = "\xc2\xb5s";
		} else {
			prec = 6, unit = "ms";
		}
		w -= (int)strlen(unit);
		memcpy(buf + w, unit, strlen(unit));
		FRAC(u, prec);
		INT(u);
	} else {
		buf[--w] = 's';
		FRAC(u, 9);
		uint64_t s = u % 60;
		INT(s);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			uint64_t m = u % 60;
			INT(m);
			u /= 60;
			if (u > 0) {
				buf[--w] = 'h';
				INT(u);
			}
		}
	}
	if (neg)
		buf[--w] = '-';
	snprintf(out, cap, "%s", buf + w);
#undef FRAC
#undef INT
}

/* Retry policies (the semantics of the Go SDK's RetryPolicy). */

typedef struct {
	int64_t max_attempts, initial_ms, max_ms, timeout_ms;
	double coefficient;
	const jv *non_retryable;
} retry_policy;

static int64_t interval_ns(const retry_policy *p, int attempt) {
	int64_t initial = p->initial_ms ? p->initial_ms * 1000000 : 1000000000;
	double coef = p->coefficient != 0 ? p->coefficient : 2;
	int64_t max_interval = p->max_ms ? p->max_ms * 1000000 : 100 * initial;
	double d = (double)initial * pow(coef, (double)(attempt > 1 ? attempt - 1 : 0));
	if (d >= (double)max_interval)
		return max_interval;
	return (int64_t)d;
}

static int retryable(const retry_policy *p, const dh_failure *f) {
	if (f->kind != DH_APPLICATION && f->kind != DH_TIMEOUT)
		return 0;
	if (p->non_retryable && p->non_retryable->t == J_ARR)
		for (size_t k = 0; k < p->non_retryable->n; k++)
			if (!strcmp(json_str(p->non_retryable->items[k]), f->code ? f->code : ""))
				return 0;
	return 1;
}

/* call_retrying calls an activity with a retry policy: each attempt is the activity command
 * (raced against a timer when the policy has an attempt timeout), each wait a durable timer. */
static dh_completion call_retrying(const char *name, const char *in, size_t n, const retry_policy *p) {
	int attempt = 0;
	uint32_t call = 0, timeout = 0, backoff = 0;
	dh_completion c;
#define START()                                                                                 \
	do {                                                                                    \
		attempt++;                                                                      \
		call = activity(name, in, n);                                                   \
		if (p->timeout_ms > 0)                                                          \
			timeout = dh_schedule(DH_TIMER, NULL, NULL, 0, NULL, NULL, p->timeout_ms * 1000000); \
	} while (0)
	START();
	for (;;) {
		uint32_t hs[2];
		size_t nh = 0;
		if (backoff) {
			hs[nh++] = backoff;
		} else {
			hs[nh++] = call;
			if (timeout)
				hs[nh++] = timeout;
		}
		uint32_t h = hs[dh_await(hs, nh)];
		if (h == backoff) {
			backoff = 0;
			dh_result(h, &c);
			if (c.failed)
				return c;
			START();
			continue;
		}
		if (h == call) {
			call = 0;
			dh_result(h, &c);
			if (timeout) {
				dh_cancel(timeout);
				timeout = 0;
			}
			if (!c.failed)
				return c;
		} else {
			timeout = 0;
			dh_result(h, &c);
			dh_cancel(call);
			call = 0;
			if (c.failed)
				return c;
			char dur[40], msg[512];
			go_duration(p->timeout_ms * 1000000, dur, sizeof dur);
			dh_buf q = {0};
			jw_str(&q, name);
			dh_buf_byte(&q, 0);
			snprintf(msg, sizeof msg, "activity %s: attempt %d timed out after %s", (char *)q.p, attempt, dur);
			dh_buf_free(&q);
			c = (dh_completion){.failed = 1,
					    .failure = {.kind = DH_TIMEOUT, .code = strdup("attempt_timeout"), .message = strdup(msg)}};
		}
		if (!retryable(p, &c.failure) || (p->max_attempts > 0 && attempt >= p->max_attempts))
			return c;
		backoff = dh_schedule(DH_TIMER, NULL, NULL, 0, NULL, NULL, interval_ns(p, attempt));
	}
#undef START
}

/* Orchestrations (conformance/scenarios/README.md). Their outputs are byte for byte those of
 * the Go guest (the golden histories record them): the keys of what Go encodes from a map are
 * sorted, those of a struct (error objects, continue-as-new inputs) keep the struct's order. */

static ending sc_call(const jv *in) {
	size_t n;
	const char *x = input_of(json_get(in, "input"), &n);
	const char *name = json_str(json_get(in, "activity"));
	const jv *r = json_get(in, "retry");
	dh_completion c;
	if (json_present(r)) {
		retry_policy p = {
			.max_attempts = json_int(json_get(r, "max_attempts")),
			.initial_ms = json_int(json_get(r, "initial_ms")),
			.coefficient = json_num(json_get(r, "coefficient")),
			.max_ms = json_int(json_get(r, "max_ms")),
			.timeout_ms = json_int(json_get(r, "timeout_ms")),
			.non_retryable = json_get(r, "non_retryable"),
		};
		c = call_retrying(name, x, n, &p);
	} else {
		c = get(activity(name, x, n));
	}
	dh_buf out = {0};
	if (c.failed) {
		if (!json_bool(json_get(in, "catch")))
			return fail_with(c.failure);
		jw_raw(&out, "{\"error\":");
		jw_error(&out, &c.failure);
		jw_raw(&out, "}");
	} else if (json_bool(json_get(in, "len"))) {
		jw_raw(&out, "{\"len\":");
		jw_int(&out, (int64_t)c.len);
		jw_raw(&out, "}");
	} else {
		jw_payload(&out, c.result, c.len);
	}
	return ok(out);
}

static ending sc_sequence(const jv *in) {
	const char *name = json_str(json_get(in, "activity"));
	int64_t count = json_int(json_get(in, "count")), batch = json_int(json_get(in, "batch"));
	if (batch < 1)
		batch = 1;
	dh_completion last = {0};
	for (int64_t i = 0; i < count; i += batch) {
		int64_t end = i + batch < count ? i + batch : count;
		uint32_t *hs = calloc((size_t)(end - i), sizeof *hs);
		for (int64_t j = i; j < end; j++) {
			char num[32];
			snprintf(num, sizeof num, "%" PRId64, j);
			hs[j - i] = activity(name, num, strlen(num));
		}
		int failed = 0;
		dh_failure first = {0};
		for (int64_t j = i; j < end; j++) {
			dh_completion c = get(hs[j - i]);
			if (c.failed && !failed)
				failed = 1, first = c.failure;
			last = c;
		}
		free(hs);
		if (failed)
			return fail_with(first);
	}
	dh_buf out = {0};
	jw_raw(&out, "{\"count\":");
	jw_int(&out, count);
	jw_raw(&out, ",\"last\":");
	jw_payload(&out, last.failed ? NULL : last.result, last.failed ? 0 : last.len);
	jw_raw(&out, "}");
	return ok(out);
}

static ending sc_fanout(const jv *in) {
	const char *name = json_str(json_get(in, "activity"));
	const jv *inputs = json_get(in, "inputs");
	size_t n = inputs && inputs->t == J_ARR ? inputs->n : 0;
	uint32_t *hs = calloc(n ? n : 1, sizeof *hs);
	for (size_t k = 0; k < n; k++) {
		size_t len;
		const char *x = input_of(inputs->items[k], &len);
		hs[k] = activity(name, x, len);
	}
	dh_buf results = {0};
	dh_buf_byte(&results, '[');
	int failed = 0;
	dh_failure first = {0};
	for (size_t k = 0; k < n; k++) {
		dh_completion c = get(hs[k]);
		if (k)
			dh_buf_byte(&results, ',');
		if (c.failed) {
			jw_raw(&results, "null");
			if (!failed)
				failed = 1, first = c.failure;
		} else {
			jw_payload(&results, c.result, c.len);
		}
	}
	dh_buf_byte(&results, ']');
	free(hs);
	if (failed && !json_bool(json_get(in, "catch")))
		return fail_with(first);
	if (!failed)
		return ok(results);
	dh_buf out = {0};
	jw_raw(&out, "{\"error\":");
	jw_error(&out, &first);
	jw_raw(&out, ",\"results\":");
	dh_buf_put(&out, results.p, results.n);
	jw_raw(&out, "}");
	return ok(out);
}

static ending sc_saga(const jv *in) {
	const jv *steps = json_get(in, "steps");
	size_t n = steps && steps->t == J_ARR ? steps->n : 0;
	dh_buf out = {0};
	dh_buf_byte(&out, '[');
	for (size_t k = 0; k < n; k++) {
		const char *s = json_str(steps->items[k]);
		dh_completion c = get(activity(s, "null", 4));
		if (!c.failed) {
			if (k)
				dh_buf_byte(&out, ',');
			jw_str(&out, s);
			continue;
		}
		dh_buf compensated = {0}, failed = {0};
		for (size_t j = k; j-- > 0;) {
			char undo[1100];
			snprintf(undo, sizeof undo, "undo_%s", json_str(steps->items[j]));
			dh_completion u = get(activity(undo, "null", 4));
			dh_buf *list = u.failed ? &failed : &compensated;
			if (list->n)
				dh_buf_byte(list, ' ');
			dh_buf_str(list, undo);
		}
		dh_buf_byte(&compensated, 0);
		dh_buf_byte(&failed, 0);
		dh_buf msg = {0};
		dh_buf_str(&msg, "step ");
		dh_buf_str(&msg, s);
		dh_buf_str(&msg, " failed (");
		dh_buf_str(&msg, c.failure.message);
		dh_buf_str(&msg, "); compensated [");
		dh_buf_str(&msg, (char *)compensated.p);
		dh_buf_str(&msg, "]; compensations failed [");
		dh_buf_str(&msg, (char *)failed.p);
		dh_buf_str(&msg, "]");
		dh_buf_byte(&msg, 0);
		return fail_app("saga_failed", (char *)msg.p);
	}
	dh_buf_byte(&out, ']');
	return ok(out);
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ending sc_timers(const jv *in) {
	const jv *ms = json_get(in, "ms");
	size_t n = ms && ms->t == J_ARR ? ms->n : 0;
	int64_t start = now_ns(), want = 0;
	if (json_bool(json_get(in, "parallel"))) {
		uint32_t *hs = calloc(n ? n : 1, sizeof *hs);
		for (size_t k = 0; k < n; k++) {
			int64_t d = json_int(ms->items[k]) * 1000000;
			hs[k] = dh_schedule(DH_TIMER, NULL, NULL, 0, NULL, NULL, d);
			if (d > want)
				want = d;
		}
		for (size_t k = 0; k < n; k++)
			get(hs[k]);
		free(hs);
	} else {
		for (size_t k = 0; k < n; k++) {
			sleep_ms(json_int(ms->items[k]));
			want += json_int(ms->items[k]) * 1000000;
		}
	}
	dh_buf out = {0};
	jw_raw(&out, now_ns() - start >= want ? "{\"elapsed_ok\":true,\"fired\":" : "{\"elapsed_ok\":false,\"fired\":");
	jw_int(&out, (int64_t)n);
	jw_raw(&out, "}");
	return ok(out);
}

static void set_status(const uint8_t *p, size_t n) {
	dh_set_status(p, n);
	status.n = 0;
	dh_buf_put(&status, p, n);
	status_set = 1;
}

static void clear_status(void) {
	dh_clear_status();
	status.n = 0;
	status_set = 0;
}

static ending sc_status(const jv *in) {
	size_t n = in && in->t == J_ARR ? in->n : 0;
	for (size_t k = 0; k < n; k++) {
		const jv *s = in->items[k];
		if (k > 0)
			sleep_ms(1);
		if (s->rawlen == 7 && !memcmp(s->raw, "\"clear\"", 7))
			clear_status();
		else if (s->rawlen == 7 && !memcmp(s->raw, "\"empty\"", 7))
			set_status((const uint8_t *)"", 0);
		else
			set_status((const uint8_t *)s->raw, s->rawlen);
	}
	dh_buf out = {0};
	if (!status_set) {
		jw_raw(&out, "{\"set\":false}");
		return ok(out);
	}
	dh_buf text = {0};
	dh_buf_put(&text, status.p, status.n);
	dh_buf_byte(&text, 0);
	jw_raw(&out, "{\"set\":true,\"status\":");
	jw_str(&out, (char *)text.p);
	jw_raw(&out, "}");
	return ok(out);
}

static ending sc_fail(const jv *in) {
	return fail_app(json_str(json_get(in, "code")), json_str(json_get(in, "message")));
}

static ending sc_info(const jv *in) {
	(void)in;
	dh_buf out = {0};
	jw_raw(&out, "{\"execution_id\":");
	jw_int(&out, (int64_t)info.execution_id);
	jw_raw(&out, ",\"input\":");
	jw_payload(&out, info.input, info.input_len);
	jw_raw(&out, ",\"instance_id\":");
	jw_str(&out, info.instance_id);
	jw_raw(&out, ",\"parent_id\":");
	jw_str(&out, info.parent_id);
	jw_raw(&out, "}");
	return ok(out);
}

/* A future of sc_select and sc_join: one handle. */
static uint32_t start_future(const jv *s) {
	const char *kind = json_str(json_get(s, "kind"));
	const char *name = json_str(json_get(s, "name"));
	size_t n;
	const char *x = input_of(json_get(s, "input"), &n);
	if (!strcmp(kind, "activity"))
		return activity(name, x, n);
	if (!strcmp(kind, "timer"))
		return dh_schedule(DH_TIMER, NULL, NULL, 0, NULL, NULL, json_int(json_get(s, "ms")) * 1000000);
	if (!strcmp(kind, "event"))
		return dh_schedule(DH_WAIT_EVENT, name, NULL, 0, NULL, NULL, 0);
	if (!strcmp(kind, "queue"))
		return dh_schedule(DH_DEQUEUE, name, NULL, 0, NULL, NULL, 0);
	if (!strcmp(kind, "child"))
		return dh_schedule(DH_SUB, name, (const uint8_t *)x, n, NULL, json_str(json_get(s, "id")), 0);
	dh_fatal("unknown future kind \"%s\"", kind);
}

static void jw_outcome(dh_buf *b, const dh_completion *c, int is_timer) {
	if (c->failed) {
		jw_raw(b, "\"error\":");
		jw_error(b, &c->failure);
	} else {
		jw_raw(b, "\"result\":");
		jw_payload(b, is_timer ? NULL : c->result, is_timer ? 0 : c->len);
	}
}

static ending sc_select(const jv *in) {
	const jv *fs = json_get(in, "futures");
	size_t n = fs && fs->t == J_ARR ? fs->n : 0;
	if (n == 0)
		dh_fatal("durable: Select with no futures");
	uint32_t *hs = calloc(n, sizeof *hs);
	for (size_t k = 0; k < n; k++)
		hs[k] = start_future(fs->items[k]);
	uint32_t i = dh_await(hs, n);
	for (size_t k = 0; k < n; k++)
		if (k != i)
			dh_cancel(hs[k]);
	dh_completion c;
	dh_result(hs[i], &c);
	/* Keys in the order of Go's encoding of a map: "error" < "index" < "result". */
	dh_buf out = {0};
	dh_buf_byte(&out, '{');
	if (c.failed) {
		jw_outcome(&out, &c, 0);
		jw_raw(&out, ",\"index\":");
		jw_int(&out, i);
	} else {
		jw_raw(&out, "\"index\":");
		jw_int(&out, i);
		dh_buf_byte(&out, ',');
		jw_outcome(&out, &c, !strcmp(json_str(json_get(fs->items[i], "kind")), "timer"));
	}
	dh_buf_byte(&out, '}');
	free(hs);
	return ok(out);
}

static ending sc_join(const jv *in) {
	const jv *fs = json_get(in, "futures");
	size_t n = fs && fs->t == J_ARR ? fs->n : 0;
	if (n == 0)
		dh_fatal("durable: WaitAll with no futures");
	uint32_t *hs = calloc(n, sizeof *hs);
	for (size_t k = 0; k < n; k++)
		hs[k] = start_future(fs->items[k]);
	dh_buf out = {0};
	dh_buf_byte(&out, '[');
	for (size_t k = 0; k < n; k++) {
		dh_completion c = get(hs[k]);
		if (k)
			dh_buf_byte(&out, ',');
		dh_buf_byte(&out, '{');
		jw_outcome(&out, &c, !strcmp(json_str(json_get(fs->items[k], "kind")), "timer"));
		dh_buf_byte(&out, '}');
	}
	dh_buf_byte(&out, ']');
	free(hs);
	return ok(out);
}

static ending sc_receive(const jv *in) {
	const char *gate = json_str(json_get(in, "gate"));
	if (*gate) {
		dh_completion c = get(dh_schedule(DH_WAIT_EVENT, gate, NULL, 0, NULL, NULL, 0));
		if (c.failed)
			return fail_with(c.failure);
	}
	const jv *steps = json_get(in, "steps");
	size_t n = steps && steps->t == J_ARR ? steps->n : 0;
	dh_buf out = {0};
	dh_buf_byte(&out, '[');
	for (size_t k = 0; k < n; k++) {
		const jv *s = steps->items[k];
		const char *event = json_str(json_get(s, "event"));
		uint32_t f = *event ? dh_schedule(DH_WAIT_EVENT, event, NULL, 0, NULL, NULL, 0)
				    : dh_schedule(DH_DEQUEUE, json_str(json_get(s, "queue")), NULL, 0, NULL, NULL, 0);
		if (k)
			dh_buf_byte(&out, ',');
		int64_t t = json_int(json_get(s, "timeout_ms"));
		if (t > 0) {
			uint32_t hs[2] = {f, dh_schedule(DH_TIMER, NULL, NULL, 0, NULL, NULL, t * 1000000)};
			uint32_t i = dh_await(hs, 2);
			dh_cancel(hs[1 - i]);
			if (i == 1) {
				dh_completion c;
				dh_result(hs[1], &c);
				jw_raw(&out, "\"timeout\"");
				continue;
			}
		}
		dh_completion c = get(f);
		if (c.failed)
			return fail_with(c.failure);
		jw_payload(&out, c.result, c.len);
	}
	dh_buf_byte(&out, ']');
	return ok(out);
}

static ending sc_rebind(const jv *in) {
	int queue = !strcmp(json_str(json_get(in, "kind")), "queue");
	const char *name = json_str(json_get(in, "name"));
	int kind = queue ? DH_DEQUEUE : DH_WAIT_EVENT;
	uint32_t first = dh_schedule(kind, name, NULL, 0, NULL, NULL, 0);
	dh_completion g = get(dh_schedule(DH_WAIT_EVENT, json_str(json_get(in, "gate")), NULL, 0, NULL, NULL, 0));
	if (g.failed)
		return fail_with(g.failure);
	dh_cancel(first);
	dh_completion c = get(dh_schedule(kind, name, NULL, 0, NULL, NULL, 0));
	if (c.failed)
		return fail_with(c.failure);
	dh_buf out = {0};
	jw_payload(&out, c.result, c.len);
	return ok(out);
}

static ending sc_child(const jv *in) {
	size_t n;
	const char *x = input_of(json_get(in, "input"), &n);
	dh_completion c = get(dh_schedule(DH_SUB, json_str(json_get(in, "name")), (const uint8_t *)x, n, NULL,
					  json_str(json_get(in, "id")), 0));
	dh_buf out = {0};
	if (c.failed) {
		if (!json_bool(json_get(in, "catch")))
			return fail_with(c.failure);
		jw_raw(&out, "{\"error\":");
		jw_error(&out, &c.failure);
		jw_raw(&out, "}");
		return ok(out);
	}
	jw_payload(&out, c.result, c.len);
	return ok(out);
}

static ending sc_hold(const jv *in) {
	const char *act = json_str(json_get(in, "activity"));
	int64_t depth = json_int(json_get(in, "depth"));
	if (*act)
		activity(act, "null", 4);
	if (depth > 0) {
		dh_buf child = {0}, id = {0};
		jw_raw(&child, "{\"depth\":");
		jw_int(&child, depth - 1);
		jw_raw(&child, ",\"activity\":");
		jw_str(&child, act);
		jw_raw(&child, "}");
		dh_buf_str(&id, info.instance_id);
		dh_buf_str(&id, "-c");
		dh_buf_byte(&id, 0);
		dh_schedule(DH_SUB, "sc_hold", child.p, child.n, NULL, (char *)id.p, 0);
	}
	dh_completion c = get(dh_schedule(DH_WAIT_EVENT, "release", NULL, 0, NULL, NULL, 0));
	if (c.failed)
		return fail_with(c.failure);
	dh_buf out = {0};
	jw_str(&out, "released");
	return ok(out);
}

static ending sc_detached(const jv *in) {
	size_t n;
	const char *x = input_of(json_get(in, "input"), &n);
	dh_completion c = get(dh_schedule(DH_START, json_str(json_get(in, "name")), (const uint8_t *)x, n, NULL,
					  json_str(json_get(in, "id")), 0));
	if (c.failed)
		return fail_with(c.failure);
	dh_buf id = {0}, out = {0};
	dh_buf_put(&id, c.result, c.len);
	dh_buf_byte(&id, 0);
	jw_str(&out, (char *)id.p);
	return ok(out);
}

/* jw_got writes a list of payloads kept as JSON texts. */
static void jw_list(dh_buf *b, const dh_buf *items, size_t n) {
	dh_buf_byte(b, '[');
	for (size_t k = 0; k < n; k++) {
		if (k)
			dh_buf_byte(b, ',');
		jw_compact(b, items[k].p, items[k].n);
	}
	dh_buf_byte(b, ']');
}

/* got_of copies a JSON array's items (as texts) into a new list with room for more. */
static dh_buf *got_of(const jv *got, size_t *n, size_t extra) {
	*n = got && got->t == J_ARR ? got->n : 0;
	dh_buf *items = calloc(*n + extra + 1, sizeof *items);
	for (size_t k = 0; k < *n; k++)
		dh_buf_put(&items[k], got->items[k]->raw, got->items[k]->rawlen);
	return items;
}

static void payload_into(dh_buf *b, const dh_completion *c) {
	if (c->failed || c->len == 0)
		dh_buf_str(b, "null");
	else
		dh_buf_put(b, c->result, c->len);
}

static ending sc_counter(const jv *in) {
	int64_t nv = json_int(json_get(in, "n")), to = json_int(json_get(in, "to"));
	const char *event = json_str(json_get(in, "event"));
	size_t ngot;
	dh_buf *got = got_of(json_get(in, "got"), &ngot, 1);
	dh_buf st = {0};
	jw_raw(&st, "{\"n\":");
	jw_int(&st, nv);
	jw_raw(&st, "}");
	set_status(st.p, st.n);
	if (*event) {
		dh_completion c = get(dh_schedule(DH_WAIT_EVENT, event, NULL, 0, NULL, NULL, 0));
		if (c.failed)
			return fail_with(c.failure);
		payload_into(&got[ngot++], &c);
	}
	dh_buf out = {0};
	if (nv < to) {
		jw_raw(&out, "{\"n\":");
		jw_int(&out, nv + 1);
		jw_raw(&out, ",\"to\":");
		jw_int(&out, to);
		if (*event) {
			jw_raw(&out, ",\"event\":");
			jw_str(&out, event);
		}
		if (ngot) {
			jw_raw(&out, ",\"got\":");
			jw_list(&out, got, ngot);
		}
		jw_raw(&out, "}");
		return continue_as_new(out, NULL);
	}
	jw_raw(&out, "{\"execution\":");
	jw_int(&out, (int64_t)info.execution_id);
	jw_raw(&out, ",\"got\":");
	jw_list(&out, got, ngot);
	jw_raw(&out, ",\"n\":");
	jw_int(&out, nv);
	jw_raw(&out, "}");
	return ok(out);
}

static ending sc_carry(const jv *in) {
	int64_t phase = json_int(json_get(in, "phase"));
	size_t ngot;
	dh_buf *got = got_of(json_get(in, "got"), &ngot, 2);
	dh_buf out = {0};
	if (phase <= 1) {
		set_status((const uint8_t *)"\"carried\"", 9);
		dh_completion g = get(dh_schedule(DH_WAIT_EVENT, "go", NULL, 0, NULL, NULL, 0));
		if (g.failed)
			return fail_with(g.failure);
		dh_completion c = get(dh_schedule(DH_DEQUEUE, "q", NULL, 0, NULL, NULL, 0));
		payload_into(&got[ngot++], &c);
		if (c.failed)
			return fail_with(c.failure);
		jw_raw(&out, "{\"phase\":2,\"got\":");
		jw_list(&out, got, ngot);
		jw_raw(&out, "}");
		return continue_as_new(out, NULL);
	}
	dh_buf st = {0};
	dh_buf_put(&st, status.p, status.n);
	dh_buf_byte(&st, 0);
	for (int k = 0; k < 2; k++) {
		dh_completion c = get(dh_schedule(DH_DEQUEUE, "q", NULL, 0, NULL, NULL, 0));
		payload_into(&got[ngot++], &c);
		if (c.failed)
			return fail_with(c.failure);
	}
	jw_raw(&out, "{\"execution\":");
	jw_int(&out, (int64_t)info.execution_id);
	jw_raw(&out, ",\"got\":");
	jw_list(&out, got, ngot);
	jw_raw(&out, ",\"status\":");
	jw_str(&out, (char *)st.p);
	jw_raw(&out, "}");
	return ok(out);
}

static void hex(char *dst, const uint8_t *p, size_t n) {
	static const char digits[] = "0123456789abcdef";
	for (size_t k = 0; k < n; k++) {
		dst[2 * k] = digits[p[k] >> 4];
		dst[2 * k + 1] = digits[p[k] & 15];
	}
	dst[2 * n] = 0;
}

/* sample draws what sc_random reports, in the Go guest's order: 8 random bytes, then a v4
 * UUID, both from the sandbox's random source (random_get), then a number of the ordinary
 * generator. */
static void sample(dh_buf *out) {
	uint8_t b[8], u[16];
	char crypto[17], h[33], uuid[37];
	if (getentropy(b, sizeof b) || getentropy(u, sizeof u))
		dh_fatal("getentropy failed");
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	hex(crypto, b, 8);
	hex(h, u, 16);
	snprintf(uuid, sizeof uuid, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
	int r = rand();
	jw_raw(out, "{\"crypto\":");
	jw_str(out, crypto);
	jw_raw(out, r >= 0 ? ",\"rand_ok\":true" : ",\"rand_ok\":false");
	jw_raw(out, ",\"uuid\":");
	jw_str(out, uuid);
	jw_raw(out, "}");
}

static ending sc_random(const jv *in) {
	int64_t ms = json_int(json_get(in, "ms"));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dh_buf before = {0}, out = {0};
	sample(&before);
	sleep_ms(ms);
	jw_raw(&out, "{\"after\":");
	sample(&out);
	jw_raw(&out, ",\"before\":");
	dh_buf_put(&out, before.p, before.n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t elapsed = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
	jw_raw(&out, elapsed >= ms * 1000000 ? ",\"time_ok\":true}" : ",\"time_ok\":false}");
	return ok(out);
}

/* Variant-dependent orchestrations. */

static ending sc_versioned_v1(const jv *in) {
	(void)in;
	dh_completion c = get(dh_schedule(DH_WAIT_EVENT, "go", NULL, 0, NULL, NULL, 0));
	if (c.failed)
		return fail_with(c.failure);
	jv *data = c.len ? json_parse(c.result, c.len) : NULL;
	if (c.len && (!data || data->t != J_STR)) {
		return fail_with((dh_failure){.kind = DH_APPLICATION, .code = strdup("bad_payload"),
					      .message = strdup("decode result as string: not a JSON string")});
	}
	const char *d = json_str(data);
	dh_buf out = {0};
	if (!strcmp(d, "upgrade") && !strcmp(variant, "a")) {
		dh_buf_str(&out, "\"from-v1\"");
		return continue_as_new(out, "2");
	}
	dh_buf s = {0};
	dh_buf_str(&s, "v1-");
	dh_buf_str(&s, variant);
	dh_buf_str(&s, ":");
	dh_buf_str(&s, d);
	dh_buf_byte(&s, 0);
	jw_str(&out, (char *)s.p);
	return ok(out);
}

__attribute__((unused)) static ending sc_versioned_v2(const jv *in) {
	dh_buf s = {0}, out = {0};
	dh_buf_str(&s, "v2-");
	dh_buf_str(&s, variant);
	dh_buf_str(&s, ":");
	dh_buf_str(&s, json_str(in));
	dh_buf_byte(&s, 0);
	jw_str(&out, (char *)s.p);
	return ok(out);
}

static ending sc_nd(const jv *in) {
	const char *change = json_str(in);
	uint32_t hs[3];
	size_t n = 0;
	if (strcmp(variant, "b") != 0) {
		hs[n++] = activity("nd_step", "1", 1);
		hs[n++] = activity("nd_step", "2", 1);
	} else if (!strcmp(change, "name")) {
		hs[n++] = activity("nd_other", "1", 1);
		hs[n++] = activity("nd_step", "2", 1);
	} else if (!strcmp(change, "input")) {
		hs[n++] = activity("nd_step", "99", 2);
		hs[n++] = activity("nd_step", "2", 1);
	} else if (!strcmp(change, "kind")) {
		sleep_ms(1);
		hs[n++] = activity("nd_step", "2", 1);
	} else if (!strcmp(change, "extra")) {
		hs[n++] = activity("nd_step", "1", 1);
		hs[n++] = activity("nd_step", "2", 1);
		hs[n++] = activity("nd_step", "3", 1);
	} else if (!strcmp(change, "missing")) {
		hs[n++] = activity("nd_step", "1", 1);
	}
	int64_t sum = 0;
	int failed = 0;
	dh_failure first = {0};
	for (size_t k = 0; k < n; k++) {
		dh_completion c = get(hs[k]);
		if (c.failed) {
			if (!failed)
				failed = 1, first = c.failure;
			continue;
		}
		jv *v = json_parse(c.result, c.len);
		sum += json_int(v);
	}
	if (failed)
		return fail_with(first);
	dh_buf out = {0};
	jw_int(&out, sum);
	return ok(out);
}

/* The registry. */

typedef struct {
	const char *name, *version;
	ending (*fn)(const jv *in);
} orchestration;

static const orchestration registry[] = {
	{"sc_call", "", sc_call},
	{"sc_sequence", "", sc_sequence},
	{"sc_fanout", "", sc_fanout},
	{"sc_saga", "", sc_saga},
	{"sc_timers", "", sc_timers},
	{"sc_status", "", sc_status},
	{"sc_fail", "", sc_fail},
	{"sc_info", "", sc_info},
	{"sc_select", "", sc_select},
	{"sc_join", "", sc_join},
	{"sc_receive", "", sc_receive},
	{"sc_rebind", "", sc_rebind},
	{"sc_child", "", sc_child},
	{"sc_hold", "", sc_hold},
	{"sc_detached", "", sc_detached},
	{"sc_counter", "", sc_counter},
	{"sc_carry", "", sc_carry},
	{"sc_random", "", sc_random},
	{"sc_versioned", "1", sc_versioned_v1},
#ifdef VARIANT_B
	{"sc_versioned", "2", sc_versioned_v2},
#endif
	{"sc_nd", "", sc_nd},
};
static const size_t nregistry = sizeof registry / sizeof registry[0];

/* lookup finds the orchestration to run: the version asked for, else the unversioned one,
 * else the highest version. */
static const orchestration *lookup(const char *name, const char *version) {
	const orchestration *best = NULL;
	for (size_t k = 0; k < nregistry; k++) {
		const orchestration *o = &registry[k];
		if (strcmp(o->name, name) != 0)
			continue;
		if (*version) {
			if (!strcmp(o->version, version))
				return o;
			continue;
		}
		if (!*o->version)
			return o;
		if (!best || atoll(o->version) > atoll(best->version))
			best = o;
	}
	return best;
}

int main(void) {
	dh_open();
	dh_start_info(&info);
	if (info.mode == 1) {
		dh_registration regs[sizeof registry / sizeof registry[0]];
		for (size_t k = 0; k < nregistry; k++)
			regs[k] = (dh_registration){registry[k].name, registry[k].version};
		dh_complete_describe(regs, nregistry);
		return 0;
	}
	const orchestration *o = lookup(info.name, info.version);
	if (!o) {
		dh_buf msg = {0};
		dh_buf_str(&msg, "the module does not register orchestration ");
		dh_buf_str(&msg, info.name);
		if (*info.version) {
			dh_buf_str(&msg, "@");
			dh_buf_str(&msg, info.version);
		}
		dh_buf_byte(&msg, 0);
		dh_failure f = {.kind = DH_INFRASTRUCTURE, .code = "DH-GUEST-001", .message = (char *)msg.p};
		dh_complete_failure(&f);
		return 0;
	}
	status_set = info.has_status;
	dh_buf_put(&status, info.status, info.status_len);
	jv null = {.t = J_NULL, .raw = "null", .rawlen = 4};
	jv *in = &null;
	if (info.input_len > 0) {
		in = json_parse(info.input, info.input_len);
		if (!in) {
			dh_failure f = {.kind = DH_APPLICATION, .code = "bad_payload", .message = "the input is not valid JSON"};
			dh_complete_failure(&f);
			return 0;
		}
	}
	ending e = o->fn(in);
	switch (e.kind) {
	case OK:
		dh_complete_output(e.out.p, e.out.n);
		break;
	case FAIL:
		dh_complete_failure(&e.f);
		break;
	case CONTINUE:
		dh_complete_continue(e.out.p, e.out.n, e.version);
		break;
	}
	return 0;
}
