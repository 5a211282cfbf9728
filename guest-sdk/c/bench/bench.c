/*
 * The C guest of `durohost bench --guest c`: the orchestrations of the benchmark's workloads
 * (internal/bench), each as light as the SDK allows so that a workload measures the host, not
 * the guest. Inputs are JSON numbers; the activity "noop" (registered by the benchmark)
 * returns its input. durohost bench builds this directory with the SDK it ships.
 */
#include "durohost.h"

/* The input of every activity call: a small JSON value. */
static const char noop[] = "\"x\"";

/* count reads the input, a non-negative JSON integer (none: 1); false (and the execution
 * failed) for anything else. */
static bool count(dh_ctx *ctx, dh_bytes input, int64_t *n) {
	*n = 1;
	if (dh_json_is_null(input))
		return true;
	if (!dh_json_to_int(input, n) || *n < 0) {
		dh_fail(ctx, "bad_input", "input must be a non-negative integer");
		return false;
	}
	return true;
}

static void return_count(dh_ctx *ctx, int64_t n) {
	dh_buf b;
	dh_buf_init(&b, ctx);
	dh_json_int(&b, n);
	dh_return(ctx, b.data, b.len);
}

/* bench_sequence calls "noop" n times, one call after the other, and returns n. */
static void bench_sequence(dh_ctx *ctx, dh_bytes input) {
	int64_t n;
	if (!count(ctx, input, &n))
		return;
	for (int64_t i = 0; i < n; i++) {
		dh_arena_mark m = dh_arena_mark_get(ctx); /* each call's future and result are done with */
		const dh_error *err = dh_get(dh_call_activity(ctx, "noop", noop, sizeof noop - 1, NULL), NULL);
		if (err) {
			dh_fail_error(ctx, err);
			return;
		}
		dh_arena_release(ctx, m);
	}
	return_count(ctx, n);
}

/* bench_fanout calls "noop" n times in parallel, waits for them all and returns n. */
static void bench_fanout(dh_ctx *ctx, dh_bytes input) {
	int64_t n;
	if (!count(ctx, input, &n))
		return;
	dh_future **fs = dh_alloc(ctx, (size_t)(n ? n : 1) * sizeof *fs);
	for (int64_t i = 0; i < n; i++)
		fs[i] = dh_call_activity(ctx, "noop", noop, sizeof noop - 1, NULL);
	const dh_error *err = dh_wait_all(ctx, fs, (size_t)n);
	if (err) {
		dh_fail_error(ctx, err);
		return;
	}
	return_count(ctx, n);
}

/* bench_one calls "noop" once and returns its result. */
static void bench_one(dh_ctx *ctx, dh_bytes input) {
	(void)input;
	dh_bytes res;
	const dh_error *err = dh_get(dh_call_activity(ctx, "noop", noop, sizeof noop - 1, NULL), &res);
	if (err) {
		dh_fail_error(ctx, err);
		return;
	}
	dh_return(ctx, res.ptr, res.len);
}

/* bench_timer waits for a durable timer of input milliseconds. */
static void bench_timer(dh_ctx *ctx, dh_bytes input) {
	int64_t ms;
	if (!count(ctx, input, &ms))
		return;
	const dh_error *err = dh_sleep(ctx, ms * DH_MILLISECOND);
	if (err) {
		dh_fail_error(ctx, err);
		return;
	}
	dh_return(ctx, "null", 4);
}

/* bench_ticks waits for n durable timers of 0 ms, one after the other: each is one turn of the
 * host (fetch, run, commit) with no activity involved. */
static void bench_ticks(dh_ctx *ctx, dh_bytes input) {
	int64_t n;
	if (!count(ctx, input, &n))
		return;
	for (int64_t i = 0; i < n; i++) {
		dh_arena_mark m = dh_arena_mark_get(ctx);
		const dh_error *err = dh_sleep(ctx, 0);
		if (err) {
			dh_fail_error(ctx, err);
			return;
		}
		dh_arena_release(ctx, m);
	}
	return_count(ctx, n);
}

DH_REGISTER(bench_sequence, "bench_sequence")
DH_REGISTER(bench_fanout, "bench_fanout")
DH_REGISTER(bench_one, "bench_one")
DH_REGISTER(bench_timer, "bench_timer")
DH_REGISTER(bench_ticks, "bench_ticks")
