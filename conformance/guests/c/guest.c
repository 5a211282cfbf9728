/*
 * The C test guest of the conformance suite: the scenario orchestrations ("sc_...") of
 * conformance/scenarios/README.md, written with the C guest SDK (guest-sdk/c). Their histories
 * and outputs are those of the Go test guest (conformance/guests/go) byte for byte: outputs
 * are written as Go's encoding/json writes them (object keys of maps sorted, of structs in
 * field order, strings escaped alike), so that the golden histories replay against it.
 *
 * Built twice by build.sh: guest.wasm (variant a) and, with -DVARIANT_B, guest-b.wasm.
 */
#include <stdlib.h>
#include <string.h>

#include "durohost.h"

#ifdef VARIANT_B
static const char variant[] = "b";
#else
static const char variant[] = "a";
#endif

/* ---- Helpers ---- */

/* field returns the value of key in obj (empty when absent). */
static dh_bytes field(dh_bytes obj, const char *key) {
	dh_bytes v = {0};
	dh_json_get(obj, key, &v);
	return v;
}

/* string_field returns the string value of key ("" when absent or null). */
static const char *string_field(dh_ctx *c, dh_bytes obj, const char *key) {
	dh_bytes v = field(obj, key);
	if (dh_json_is_null(v))
		return "";
	const char *s = dh_json_to_string(c, v, NULL);
	return s ? s : "";
}

static int64_t int_field(dh_bytes obj, const char *key) {
	int64_t n = 0;
	dh_json_to_int(field(obj, key), &n);
	return n;
}

/* input returns a JSON value as an activity or child input: null when absent. */
static dh_bytes input(dh_bytes v) { return v.len ? v : dh_str("null"); }

/* count returns the number of elements of a JSON array (0 for anything else). */
static size_t count(dh_bytes array) {
	size_t n = 0;
	dh_bytes it = array, item;
	while (dh_json_next(&it, &item))
		n++;
	return n;
}

static void finish(dh_ctx *c, dh_buf *b) { dh_return(c, b->data, b->len); }

static dh_future **futures(dh_ctx *c, size_t n) { return dh_alloc(c, (n ? n : 1) * sizeof(dh_future *)); }

/* decimal writes n as a JSON number into a new buffer. */
static dh_buf number(dh_ctx *c, int64_t n) {
	dh_buf b;
	dh_buf_init(&b, c);
	dh_json_int(&b, n);
	return b;
}

/* retry_policy reads the scenario form of a retry policy; false when absent or null. */
static bool retry_policy(dh_ctx *c, dh_bytes spec, dh_retry_policy *p) {
	if (dh_json_is_null(spec))
		return false;
	memset(p, 0, sizeof *p);
	p->max_attempts = (int)int_field(spec, "max_attempts");
	p->initial_interval = int_field(spec, "initial_ms") * DH_MILLISECOND;
	p->max_interval = int_field(spec, "max_ms") * DH_MILLISECOND;
	p->attempt_timeout = int_field(spec, "timeout_ms") * DH_MILLISECOND;
	dh_bytes coef = field(spec, "coefficient");
	if (coef.len)
		p->backoff_coefficient = strtod(dh_strndup(c, coef.ptr, coef.len), NULL);
	dh_bytes codes = field(spec, "non_retryable"), it = codes, item;
	size_t n = count(codes), i = 0;
	const char **list = dh_alloc(c, (n + 1) * sizeof *list);
	while (dh_json_next(&it, &item))
		list[i++] = dh_json_to_string(c, item, NULL);
	p->non_retryable_codes = list;
	p->non_retryable_count = n;
	return true;
}

/* ---- Basic scenarios ---- */

/* sc_call: one activity call, maybe retried; its payload, {"len": n}, or {"error": ...}. */
static void sc_call(dh_ctx *c, dh_bytes in) {
	dh_retry_policy policy;
	dh_call_options o = {0};
	if (retry_policy(c, field(in, "retry"), &policy))
		o.retry = &policy;
	dh_bytes x = input(field(in, "input")), res;
	const dh_error *err = dh_get(dh_call_activity(c, string_field(c, in, "activity"), x.ptr, x.len, &o), &res);
	dh_buf b;
	dh_buf_init(&b, c);
	if (err && dh_json_to_bool(field(in, "catch"))) {
		dh_buf_puts(&b, "{\"error\":");
		dh_json_error(&b, err);
		dh_buf_puts(&b, "}");
	} else if (err) {
		dh_fail_error(c, err);
		return;
	} else if (dh_json_to_bool(field(in, "len"))) {
		dh_buf_puts(&b, "{\"len\":");
		dh_json_int(&b, (int64_t)res.len);
		dh_buf_puts(&b, "}");
	} else {
		dh_json_raw(&b, res);
	}
	finish(c, &b);
}

/* sc_sequence: count calls with the inputs 0..count-1, batch at a time. */
static void sc_sequence(dh_ctx *c, dh_bytes in) {
	const char *activity = string_field(c, in, "activity");
	int64_t n = int_field(in, "count"), batch = int_field(in, "batch");
	if (batch < 1)
		batch = 1;
	dh_future **fs = futures(c, (size_t)batch);
	dh_bytes last = {0};
	for (int64_t i = 0; i < n; i += batch) {
		size_t k = 0;
		for (int64_t j = i; j < i + batch && j < n; j++) {
			dh_buf x = number(c, j);
			fs[k++] = dh_call_activity(c, activity, x.data, x.len, NULL);
		}
		const dh_error *first = NULL;
		for (size_t j = 0; j < k; j++) {
			const dh_error *err = dh_get(fs[j], &last);
			if (err && !first)
				first = err;
		}
		if (first) {
			dh_fail_error(c, first);
			return;
		}
	}
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"count\":");
	dh_json_int(&b, n);
	dh_buf_puts(&b, ",\"last\":");
	dh_json_raw(&b, last);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

/* sc_fanout: one call per input, all at once, joined in schedule order. */
static void sc_fanout(dh_ctx *c, dh_bytes in) {
	const char *activity = string_field(c, in, "activity");
	dh_bytes inputs = field(in, "inputs"), it = inputs, item;
	size_t n = count(inputs), k = 0;
	dh_future **fs = futures(c, n);
	while (dh_json_next(&it, &item)) {
		dh_bytes x = input(item);
		fs[k++] = dh_call_activity(c, activity, x.ptr, x.len, NULL);
	}
	dh_buf results;
	dh_buf_init(&results, c);
	dh_buf_puts(&results, "[");
	const dh_error *first = NULL;
	for (size_t i = 0; i < n; i++) {
		dh_bytes res;
		const dh_error *err = dh_get(fs[i], &res);
		if (i)
			dh_buf_puts(&results, ",");
		dh_json_raw(&results, err ? (dh_bytes){0} : res);
		if (err && !first)
			first = err;
	}
	dh_buf_puts(&results, "]");
	if (first && dh_json_to_bool(field(in, "catch"))) {
		dh_buf b;
		dh_buf_init(&b, c);
		dh_buf_puts(&b, "{\"error\":");
		dh_json_error(&b, first);
		dh_buf_puts(&b, ",\"results\":");
		dh_buf_write(&b, results.data, results.len);
		dh_buf_puts(&b, "}");
		finish(c, &b);
		return;
	}
	if (first) {
		dh_fail_error(c, first);
		return;
	}
	finish(c, &results);
}

/* sc_saga: the steps in order; on a failure the compensations of the completed steps in
 * reverse order, then a saga_failed failure. */
static void sc_saga(dh_ctx *c, dh_bytes in) {
	dh_bytes steps = field(in, "steps"), it = steps, item;
	size_t n = count(steps), done = 0;
	const char **names = dh_alloc(c, (n + 1) * sizeof *names);
	while (dh_json_next(&it, &item)) {
		const char *step = dh_json_to_string(c, item, NULL);
		if (!step)
			step = "";
		const dh_error *err = dh_get(dh_call_activity(c, step, "null", 4, NULL), NULL);
		if (!err) {
			names[done++] = step;
			continue;
		}
		dh_buf compensated, failed;
		dh_buf_init(&compensated, c);
		dh_buf_init(&failed, c);
		dh_buf_puts(&compensated, "");
		dh_buf_puts(&failed, "");
		for (size_t i = done; i-- > 0;) {
			dh_buf undo;
			dh_buf_init(&undo, c);
			dh_buf_puts(&undo, "undo_");
			dh_buf_puts(&undo, names[i]);
			dh_buf *list = dh_get(dh_call_activity(c, (const char *)undo.data, "null", 4, NULL), NULL) ? &failed : &compensated;
			if (list->len)
				dh_buf_puts(list, " ");
			dh_buf_puts(list, (const char *)undo.data);
		}
		dh_log(c, DH_WARN, "saga failed: compensating");
		dh_buf msg;
		dh_buf_init(&msg, c);
		dh_buf_puts(&msg, "step ");
		dh_buf_puts(&msg, step);
		dh_buf_puts(&msg, " failed (");
		dh_buf_puts(&msg, err->message);
		dh_buf_puts(&msg, "); compensated [");
		dh_buf_puts(&msg, (const char *)compensated.data);
		dh_buf_puts(&msg, "]; compensations failed [");
		dh_buf_puts(&msg, (const char *)failed.data);
		dh_buf_puts(&msg, "]");
		dh_fail(c, "saga_failed", (const char *)msg.data);
		return;
	}
	dh_buf b;
	dh_buf_init(&b, c);
	if (!done) { /* Go encodes the nil slice of no steps as null */
		dh_buf_puts(&b, "null");
		finish(c, &b);
		return;
	}
	dh_buf_puts(&b, "[");
	for (size_t i = 0; i < done; i++) {
		if (i)
			dh_buf_puts(&b, ",");
		dh_json_string(&b, names[i], strlen(names[i]));
	}
	dh_buf_puts(&b, "]");
	finish(c, &b);
}

/* sc_timers: timers one after the other, or all at once and awaited in order. */
static void sc_timers(dh_ctx *c, dh_bytes in) {
	int64_t start = dh_now(c), want = 0;
	dh_bytes ms = field(in, "ms"), it = ms, item;
	size_t n = count(ms), k = 0;
	if (dh_json_to_bool(field(in, "parallel"))) {
		dh_future **fs = futures(c, n);
		while (dh_json_next(&it, &item)) {
			int64_t d = 0;
			dh_json_to_int(item, &d);
			fs[k++] = dh_timer(c, d * DH_MILLISECOND);
			if (d * DH_MILLISECOND > want)
				want = d * DH_MILLISECOND;
		}
		const dh_error *err = dh_wait_all(c, fs, n);
		if (err) {
			dh_fail_error(c, err);
			return;
		}
	} else {
		while (dh_json_next(&it, &item)) {
			int64_t d = 0;
			dh_json_to_int(item, &d);
			const dh_error *err = dh_sleep(c, d * DH_MILLISECOND);
			if (err) {
				dh_fail_error(c, err);
				return;
			}
			want += d * DH_MILLISECOND;
		}
	}
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"elapsed_ok\":");
	dh_json_bool(&b, dh_now(c) - start >= want);
	dh_buf_puts(&b, ",\"fired\":");
	dh_json_int(&b, (int64_t)n);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

static bool raw_equals(dh_bytes v, const char *s) { return v.len == strlen(s) && !memcmp(v.ptr, s, v.len); }

/* sc_status: set, change and clear the custom status; report it at the end. */
static void sc_status(dh_ctx *c, dh_bytes in) {
	dh_bytes it = in, step;
	for (size_t i = 0; dh_json_next(&it, &step); i++) {
		if (i) {
			const dh_error *err = dh_sleep(c, DH_MILLISECOND);
			if (err) {
				dh_fail_error(c, err);
				return;
			}
		}
		if (raw_equals(step, "\"clear\""))
			dh_clear_status(c);
		else if (raw_equals(step, "\"empty\""))
			dh_set_status(c, "", 0);
		else
			dh_set_status(c, step.ptr, step.len);
	}
	dh_bytes st;
	dh_buf b;
	dh_buf_init(&b, c);
	if (!dh_status(c, &st)) {
		dh_buf_puts(&b, "{\"set\":false}");
	} else {
		dh_buf_puts(&b, "{\"set\":true,\"status\":");
		dh_json_string(&b, (const char *)st.ptr, st.len);
		dh_buf_puts(&b, "}");
	}
	finish(c, &b);
}

/* sc_fail: fails with an application failure of the given code and message. */
static void sc_fail(dh_ctx *c, dh_bytes in) {
	dh_fail(c, string_field(c, in, "code"), string_field(c, in, "message"));
}

/* sc_info: the instance's identity. */
static void sc_info(dh_ctx *c, dh_bytes in) {
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"execution_id\":");
	dh_json_int(&b, dh_execution_id(c));
	dh_buf_puts(&b, ",\"input\":");
	dh_json_raw(&b, in);
	dh_buf_puts(&b, ",\"instance_id\":");
	dh_json_string(&b, dh_instance_id(c), strlen(dh_instance_id(c)));
	dh_buf_puts(&b, ",\"parent_id\":");
	dh_json_string(&b, dh_parent_id(c), strlen(dh_parent_id(c)));
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

DH_REGISTER(sc_call, "sc_call")
DH_REGISTER(sc_sequence, "sc_sequence")
DH_REGISTER(sc_fanout, "sc_fanout")
DH_REGISTER(sc_saga, "sc_saga")
DH_REGISTER(sc_timers, "sc_timers")
DH_REGISTER(sc_status, "sc_status")
DH_REGISTER(sc_fail, "sc_fail")
DH_REGISTER(sc_info, "sc_info")

/* ---- Flow scenarios ---- */

/* start_future starts the future a scenario describes; NULL for an unknown kind. */
static dh_future *start_future(dh_ctx *c, dh_bytes spec) {
	const char *kind = string_field(c, spec, "kind"), *name = string_field(c, spec, "name");
	dh_bytes x = input(field(spec, "input"));
	if (!strcmp(kind, "activity"))
		return dh_call_activity(c, name, x.ptr, x.len, NULL);
	if (!strcmp(kind, "timer"))
		return dh_timer(c, int_field(spec, "ms") * DH_MILLISECOND);
	if (!strcmp(kind, "event"))
		return dh_wait_event(c, name);
	if (!strcmp(kind, "queue"))
		return dh_dequeue(c, name);
	if (!strcmp(kind, "child")) {
		dh_call_options o = {.instance_id = string_field(c, spec, "id")};
		return dh_call_sub_orchestration(c, name, x.ptr, x.len, &o);
	}
	return NULL;
}

/* start_futures starts the futures of {"futures": [...]}; false (and the execution failed)
 * for an unknown kind. */
static bool start_futures(dh_ctx *c, dh_bytes in, dh_future ***fs, size_t *n) {
	dh_bytes specs = field(in, "futures"), it = specs, item;
	*n = count(specs);
	*fs = futures(c, *n);
	for (size_t i = 0; dh_json_next(&it, &item); i++) {
		if (!((*fs)[i] = start_future(c, item))) {
			dh_fail(c, DH_CODE_PANIC, "unknown future kind");
			return false;
		}
	}
	return true;
}

/* outcome appends {"result": payload} or {"error": ...} (with the index of sc_select). */
static void outcome(dh_buf *b, dh_future *f, int64_t index) {
	dh_bytes res;
	const dh_error *err = dh_get(f, &res);
	if (err) {
		dh_buf_puts(b, "{\"error\":");
		dh_json_error(b, err);
		if (index >= 0) {
			dh_buf_puts(b, ",\"index\":");
			dh_json_int(b, index);
		}
	} else {
		dh_buf_puts(b, "{");
		if (index >= 0) {
			dh_buf_puts(b, "\"index\":");
			dh_json_int(b, index);
			dh_buf_puts(b, ",");
		}
		dh_buf_puts(b, "\"result\":");
		dh_json_raw(b, res);
	}
	dh_buf_puts(b, "}");
}

/* sc_select: starts the futures, selects the first to complete, cancels the others. */
static void sc_select(dh_ctx *c, dh_bytes in) {
	dh_future **fs;
	size_t n;
	if (!start_futures(c, in, &fs, &n))
		return;
	if (!n) {
		dh_fail(c, DH_CODE_PANIC, "select of no futures");
		return;
	}
	size_t i = dh_select(c, fs, n);
	dh_buf b;
	dh_buf_init(&b, c);
	outcome(&b, fs[i], (int64_t)i);
	finish(c, &b);
}

/* sc_join: starts the futures, awaits each in order, reports each outcome. */
static void sc_join(dh_ctx *c, dh_bytes in) {
	dh_future **fs;
	size_t n;
	if (!start_futures(c, in, &fs, &n))
		return;
	dh_wait_all(c, fs, n);
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			dh_buf_puts(&b, ",");
		outcome(&b, fs[i], -1);
	}
	dh_buf_puts(&b, "]");
	finish(c, &b);
}

/* sc_receive: waits for the gate event, then takes each step's event or queue message, raced
 * against a timer when the step has a timeout. */
static void sc_receive(dh_ctx *c, dh_bytes in) {
	const char *gate = string_field(c, in, "gate");
	const dh_error *err;
	if (*gate && (err = dh_get(dh_wait_event(c, gate), NULL))) {
		dh_fail_error(c, err);
		return;
	}
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "[");
	dh_bytes it = field(in, "steps"), step;
	for (size_t i = 0; dh_json_next(&it, &step); i++) {
		const char *event = string_field(c, step, "event");
		dh_future *f = *event ? dh_wait_event(c, event) : dh_dequeue(c, string_field(c, step, "queue"));
		if (i)
			dh_buf_puts(&b, ",");
		int64_t timeout = int_field(step, "timeout_ms");
		if (timeout > 0) {
			dh_future *race[2] = {f, dh_timer(c, timeout * DH_MILLISECOND)};
			if (dh_select(c, race, 2) == 1) {
				dh_buf_puts(&b, "\"timeout\"");
				continue;
			}
		}
		dh_bytes data;
		if ((err = dh_get(f, &data))) {
			dh_fail_error(c, err);
			return;
		}
		dh_json_raw(&b, data);
	}
	dh_buf_puts(&b, "]");
	finish(c, &b);
}

static dh_future *subscribe(dh_ctx *c, bool queue, const char *name) {
	return queue ? dh_dequeue(c, name) : dh_wait_event(c, name);
}

/* sc_rebind: subscribes, waits for the gate only, cancels the subscription unread, subscribes
 * again and returns what the second subscription takes. */
static void sc_rebind(dh_ctx *c, dh_bytes in) {
	bool queue = !strcmp(string_field(c, in, "kind"), "queue");
	const char *name = string_field(c, in, "name");
	dh_future *first = subscribe(c, queue, name);
	const dh_error *err = dh_get(dh_wait_event(c, string_field(c, in, "gate")), NULL);
	if (err) {
		dh_fail_error(c, err);
		return;
	}
	dh_cancel(first);
	dh_bytes data;
	if ((err = dh_get(subscribe(c, queue, name), &data))) {
		dh_fail_error(c, err);
		return;
	}
	dh_buf b;
	dh_buf_init(&b, c);
	dh_json_raw(&b, data);
	finish(c, &b);
}

/* sc_child: one sub-orchestration; its output, or its failure (propagated or caught). */
static void sc_child(dh_ctx *c, dh_bytes in) {
	dh_call_options o = {.instance_id = string_field(c, in, "id")};
	dh_bytes x = input(field(in, "input")), res;
	const dh_error *err = dh_get(dh_call_sub_orchestration(c, string_field(c, in, "name"), x.ptr, x.len, &o), &res);
	dh_buf b;
	dh_buf_init(&b, c);
	if (err && dh_json_to_bool(field(in, "catch"))) {
		dh_buf_puts(&b, "{\"error\":");
		dh_json_error(&b, err);
		dh_buf_puts(&b, "}");
	} else if (err) {
		dh_fail_error(c, err);
		return;
	} else {
		dh_json_raw(&b, res);
	}
	finish(c, &b);
}

/* sc_hold: starts the activity and the child sc_hold (depth - 1, "<own ID>-c"), not awaited,
 * then waits for the event "release". */
static void sc_hold(dh_ctx *c, dh_bytes in) {
	const char *activity = string_field(c, in, "activity");
	int64_t depth = int_field(in, "depth");
	if (*activity)
		dh_call_activity(c, activity, "null", 4, NULL);
	if (depth > 0) {
		dh_buf x, id;
		dh_buf_init(&x, c);
		dh_buf_puts(&x, "{\"depth\":");
		dh_json_int(&x, depth - 1);
		dh_buf_puts(&x, ",\"activity\":");
		dh_json_string(&x, activity, strlen(activity));
		dh_buf_puts(&x, "}");
		dh_buf_init(&id, c);
		dh_buf_puts(&id, dh_instance_id(c));
		dh_buf_puts(&id, "-c");
		dh_call_options o = {.instance_id = (const char *)id.data};
		dh_call_sub_orchestration(c, "sc_hold", x.data, x.len, &o);
	}
	const dh_error *err = dh_get(dh_wait_event(c, "release"), NULL);
	if (err) {
		dh_fail_error(c, err);
		return;
	}
	dh_return(c, "\"released\"", 10);
}

/* sc_detached: starts an independent orchestration and returns its instance ID. */
static void sc_detached(dh_ctx *c, dh_bytes in) {
	dh_call_options o = {.instance_id = string_field(c, in, "id")};
	dh_bytes x = input(field(in, "input"));
	const char *id = dh_start_orchestration(c, string_field(c, in, "name"), x.ptr, x.len, &o);
	dh_buf b;
	dh_buf_init(&b, c);
	dh_json_string(&b, id, strlen(id));
	finish(c, &b);
}

/* append_list appends the JSON array of the raw values items (compacted). */
static void append_list(dh_buf *b, const dh_bytes *items, size_t n) {
	dh_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			dh_buf_puts(b, ",");
		dh_json_raw(b, items[i]);
	}
	dh_buf_puts(b, "]");
}

/* got_list reads the "got" list of sc_counter and sc_carry, with room for extra more. */
static dh_bytes *got_list(dh_ctx *c, dh_bytes in, size_t extra, size_t *n) {
	dh_bytes got = field(in, "got"), it = got, item;
	dh_bytes *items = dh_alloc(c, (count(got) + extra + 1) * sizeof *items);
	*n = 0;
	while (dh_json_next(&it, &item))
		items[(*n)++] = item;
	return items;
}

/* sc_counter: custom status {"n": n}, maybe one event, then continue-as-new until n = to. */
static void sc_counter(dh_ctx *c, dh_bytes in) {
	int64_t n = int_field(in, "n"), to = int_field(in, "to");
	const char *event = string_field(c, in, "event");
	size_t ngot;
	dh_bytes *got = got_list(c, in, 1, &ngot);
	dh_buf st;
	dh_buf_init(&st, c);
	dh_buf_puts(&st, "{\"n\":");
	dh_json_int(&st, n);
	dh_buf_puts(&st, "}");
	dh_set_status(c, st.data, st.len);
	if (*event) {
		const dh_error *err = dh_get(dh_wait_event(c, event), &got[ngot]);
		if (err) {
			dh_fail_error(c, err);
			return;
		}
		ngot++;
	}
	dh_buf b;
	dh_buf_init(&b, c);
	if (n < to) {
		dh_buf_puts(&b, "{\"n\":");
		dh_json_int(&b, n + 1);
		dh_buf_puts(&b, ",\"to\":");
		dh_json_int(&b, to);
		if (*event) {
			dh_buf_puts(&b, ",\"event\":");
			dh_json_string(&b, event, strlen(event));
		}
		if (ngot) {
			dh_buf_puts(&b, ",\"got\":");
			append_list(&b, got, ngot);
		}
		dh_buf_puts(&b, "}");
		dh_continue_as_new(c, b.data, b.len, NULL);
		return;
	}
	dh_buf_puts(&b, "{\"execution\":");
	dh_json_int(&b, dh_execution_id(c));
	dh_buf_puts(&b, ",\"got\":");
	append_list(&b, got, ngot);
	dh_buf_puts(&b, ",\"n\":");
	dh_json_int(&b, n);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

/* sc_carry: phase 1 sets the status "carried", waits for "go", takes one message of "q" and
 * continues as new; phase 2 takes two more and reports them with the status it started with. */
static void sc_carry(dh_ctx *c, dh_bytes in) {
	size_t ngot;
	dh_bytes *got = got_list(c, in, 2, &ngot);
	const dh_error *err;
	dh_buf b;
	dh_buf_init(&b, c);
	if (int_field(in, "phase") <= 1) {
		dh_set_status(c, "\"carried\"", 9);
		if ((err = dh_get(dh_wait_event(c, "go"), NULL))) {
			dh_fail_error(c, err);
			return;
		}
		err = dh_get(dh_dequeue(c, "q"), &got[ngot++]);
		if (err) {
			dh_fail_error(c, err);
			return;
		}
		dh_buf_puts(&b, "{\"phase\":2,\"got\":");
		append_list(&b, got, ngot);
		dh_buf_puts(&b, "}");
		dh_continue_as_new(c, b.data, b.len, NULL);
		return;
	}
	dh_bytes st;
	dh_status(c, &st);
	for (int i = 0; i < 2; i++) {
		err = dh_get(dh_dequeue(c, "q"), &got[ngot++]);
		if (err) {
			dh_fail_error(c, err);
			return;
		}
	}
	dh_buf_puts(&b, "{\"execution\":");
	dh_json_int(&b, dh_execution_id(c));
	dh_buf_puts(&b, ",\"got\":");
	append_list(&b, got, ngot);
	dh_buf_puts(&b, ",\"status\":");
	dh_json_string(&b, (const char *)st.ptr, st.len);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

/* sample appends {"crypto": 8 random bytes in hex, "rand_ok": true, "uuid": a v4 UUID}, drawn
 * in the order of the Go guest (the bytes, then the UUID) from the instance's random stream. */
static void sample(dh_ctx *c, dh_buf *b) {
	static const char hex[] = "0123456789abcdef";
	uint8_t r[8];
	char crypto[17], uuid[37];
	dh_random(c, r, sizeof r);
	for (int i = 0; i < 8; i++) {
		crypto[2 * i] = hex[r[i] >> 4];
		crypto[2 * i + 1] = hex[r[i] & 15];
	}
	crypto[16] = 0;
	dh_new_uuid(c, uuid);
	bool rand_ok = rand() >= 0; /* libc's generator: deterministic too, not in the output */
	dh_buf_puts(b, "{\"crypto\":\"");
	dh_buf_puts(b, crypto);
	dh_buf_puts(b, "\",\"rand_ok\":");
	dh_json_bool(b, rand_ok);
	dh_buf_puts(b, ",\"uuid\":\"");
	dh_buf_puts(b, uuid);
	dh_buf_puts(b, "\"}");
}

/* sc_random: random values and time before and after a durable timer. */
static void sc_random(dh_ctx *c, dh_bytes in) {
	int64_t ms = int_field(in, "ms"), t0 = dh_now(c);
	dh_buf before, b;
	dh_buf_init(&before, c);
	sample(c, &before);
	const dh_error *err = dh_sleep(c, ms * DH_MILLISECOND);
	if (err) {
		dh_fail_error(c, err);
		return;
	}
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"after\":");
	sample(c, &b);
	dh_buf_puts(&b, ",\"before\":");
	dh_buf_write(&b, before.data, before.len);
	dh_buf_puts(&b, ",\"time_ok\":");
	dh_json_bool(&b, dh_now(c) - t0 >= ms * DH_MILLISECOND);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

DH_REGISTER(sc_select, "sc_select")
DH_REGISTER(sc_join, "sc_join")
DH_REGISTER(sc_receive, "sc_receive")
DH_REGISTER(sc_rebind, "sc_rebind")
DH_REGISTER(sc_child, "sc_child")
DH_REGISTER(sc_hold, "sc_hold")
DH_REGISTER(sc_detached, "sc_detached")
DH_REGISTER(sc_counter, "sc_counter")
DH_REGISTER(sc_carry, "sc_carry")
DH_REGISTER(sc_random, "sc_random")

/* ---- Variant-dependent scenarios ---- */

/* bad_payload fails the execution as the Go SDK's typed helpers do with a payload they cannot
 * decode. */
static void bad_payload(dh_ctx *c, const char *what) {
	dh_buf m;
	dh_buf_init(&m, c);
	dh_buf_puts(&m, "decode ");
	dh_buf_puts(&m, what);
	dh_fail(c, DH_CODE_BAD_PAYLOAD, (const char *)m.data);
}

/* json_string_or_empty decodes a JSON string; an empty payload is "" (Go's zero value). */
static const char *json_string_or_empty(dh_ctx *c, dh_bytes v) {
	if (!v.len)
		return "";
	return dh_json_to_string(c, v, NULL);
}

static void return_string(dh_ctx *c, const char *prefix, const char *s) {
	dh_buf t, b;
	dh_buf_init(&t, c);
	dh_buf_puts(&t, prefix);
	dh_buf_puts(&t, s);
	dh_buf_init(&b, c);
	dh_json_string(&b, (const char *)t.data, t.len);
	finish(c, &b);
}

/* sc_versioned version 1: waits for "go"; variant a continues as new on version 2 with
 * "from-v1" when told to "upgrade"; else returns "v1-<variant>:<data>". */
static void sc_versioned_v1(dh_ctx *c, dh_bytes in) {
	(void)in;
	dh_bytes data;
	const dh_error *err = dh_get(dh_wait_event(c, "go"), &data);
	if (err) {
		dh_fail_error(c, err);
		return;
	}
	const char *s = json_string_or_empty(c, data);
	if (!s) {
		bad_payload(c, "event go as a string");
		return;
	}
	if (!strcmp(s, "upgrade") && variant[0] == 'a') {
		dh_continue_as_new(c, "\"from-v1\"", 9, "2");
		return;
	}
	return_string(c, variant[0] == 'a' ? "v1-a:" : "v1-b:", s);
}

DH_REGISTER_VERSION(sc_versioned_v1, "sc_versioned", "1")

#ifdef VARIANT_B
/* sc_versioned version 2 (variant b only): returns "v2-b:<input>". */
static void sc_versioned_v2(dh_ctx *c, dh_bytes in) {
	const char *s = json_string_or_empty(c, in);
	if (!s) {
		bad_payload(c, "input of sc_versioned as a string");
		return;
	}
	return_string(c, "v2-b:", s);
}

DH_REGISTER_VERSION(sc_versioned_v2, "sc_versioned", "2")
#endif

static dh_future *nd_call(dh_ctx *c, const char *activity, int64_t n) {
	dh_buf x = number(c, n);
	return dh_call_activity(c, activity, x.data, x.len, NULL);
}

/* sc_nd: variant a calls nd_step with 1 and 2 at once and returns the sum; variant b changes
 * its first turn according to the input (name, input, kind, extra, missing). */
static void sc_nd(dh_ctx *c, dh_bytes in) {
	const char *change = json_string_or_empty(c, in);
	if (!change)
		change = "";
	dh_future *fs[3];
	size_t n = 0;
	if (variant[0] != 'b') {
		fs[n++] = nd_call(c, "nd_step", 1);
		fs[n++] = nd_call(c, "nd_step", 2);
	} else if (!strcmp(change, "name")) {
		fs[n++] = nd_call(c, "nd_other", 1);
		fs[n++] = nd_call(c, "nd_step", 2);
	} else if (!strcmp(change, "input")) {
		fs[n++] = nd_call(c, "nd_step", 99);
		fs[n++] = nd_call(c, "nd_step", 2);
	} else if (!strcmp(change, "kind")) {
		const dh_error *err = dh_sleep(c, DH_MILLISECOND);
		if (err) {
			dh_fail_error(c, err);
			return;
		}
		fs[n++] = nd_call(c, "nd_step", 2);
	} else if (!strcmp(change, "extra")) {
		fs[n++] = nd_call(c, "nd_step", 1);
		fs[n++] = nd_call(c, "nd_step", 2);
		fs[n++] = nd_call(c, "nd_step", 3);
	} else if (!strcmp(change, "missing")) {
		fs[n++] = nd_call(c, "nd_step", 1);
	}
	int64_t sum = 0;
	const dh_error *first = NULL;
	for (size_t i = 0; i < n; i++) {
		dh_bytes res;
		int64_t v = 0;
		const dh_error *err = dh_get(fs[i], &res);
		if (!err && res.len && !dh_json_to_int(res, &v)) {
			bad_payload(c, "result of nd_step as an int");
			return;
		}
		if (err && !first)
			first = err;
		sum += v;
	}
	if (first) {
		dh_fail_error(c, first);
		return;
	}
	dh_buf b = number(c, sum);
	finish(c, &b);
}

DH_REGISTER(sc_nd, "sc_nd")

/* ---- SDK self-tests (not part of the scenario catalog; driven by conformance/c_test.go) ---- */

/* c_json: input {"strings": [S...], "raw": [V...]}. Returns {"strings": [S...], "raw": [V...]}
 * where each string was decoded with dh_json_to_string and encoded again with dh_json_string,
 * and each raw value went through dh_json_raw: so that the Go test compares the SDK's JSON
 * with encoding/json's, byte for byte. */
static void c_json(dh_ctx *c, dh_bytes in) {
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"strings\":[");
	dh_bytes it = field(in, "strings"), item;
	for (size_t i = 0; dh_json_next(&it, &item); i++) {
		size_t n;
		const char *s = dh_json_to_string(c, item, &n);
		if (!s) {
			bad_payload(c, "a string");
			return;
		}
		if (i)
			dh_buf_puts(&b, ",");
		dh_json_string(&b, s, n);
	}
	dh_buf_puts(&b, "],\"raw\":[");
	it = field(in, "raw");
	for (size_t i = 0; dh_json_next(&it, &item); i++) {
		if (i)
			dh_buf_puts(&b, ",");
		dh_json_raw(&b, item);
	}
	dh_buf_puts(&b, "]}");
	finish(c, &b);
}

/* c_json_read: input [T...], JSON strings holding texts; returns [[valid, int]...]: whether
 * dh_json_valid accepts each text and, when dh_json_to_int reads it, the integer (else null). */
static void c_json_read(dh_ctx *c, dh_bytes in) {
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "[");
	dh_bytes it = in, item;
	for (size_t i = 0; dh_json_next(&it, &item); i++) {
		size_t n;
		const char *s = dh_json_to_string(c, item, &n);
		if (!s) {
			bad_payload(c, "a string");
			return;
		}
		dh_bytes text = {(const uint8_t *)s, n};
		int64_t v;
		dh_buf_puts(&b, i ? ",[" : "[");
		dh_json_bool(&b, dh_json_valid(text));
		dh_buf_puts(&b, ",");
		if (dh_json_to_int(text, &v))
			dh_json_int(&b, v);
		else
			dh_buf_puts(&b, "null");
		dh_buf_puts(&b, "]");
	}
	dh_buf_puts(&b, "]");
	finish(c, &b);
}

/* c_json_get_absent: looks up the key "absent" in its input, into a value that holds the
 * input before; returns {"found": bool, "len": the value's length after}. */
static void c_json_get_absent(dh_ctx *c, dh_bytes in) {
	dh_bytes v = in;
	bool found = dh_json_get(in, "absent", &v);
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"found\":");
	dh_json_bool(&b, found);
	dh_buf_puts(&b, ",\"len\":");
	dh_json_int(&b, (int64_t)v.len);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

/* c_interval: input [{"initial_ms", "coefficient", "max_ms", "attempt"}...]; returns the
 * retry intervals (nanoseconds) dh_retry_interval computes, for comparison with the Go SDK's. */
static void c_interval(dh_ctx *c, dh_bytes in) {
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "[");
	dh_bytes it = in, item;
	for (size_t i = 0; dh_json_next(&it, &item); i++) {
		dh_retry_policy p;
		retry_policy(c, item, &p);
		if (i)
			dh_buf_puts(&b, ",");
		dh_json_int(&b, dh_retry_interval(&p, (int)int_field(item, "attempt")));
	}
	dh_buf_puts(&b, "]");
	finish(c, &b);
}

/* c_misuse: a bug the SDK reports as misuse. Input "cancelled": waits on a future that
 * dh_select cancelled; "alloc_overflow", "strndup_overflow": arena sizes that overflow;
 * "null_code": a NULL non-retryable code; "null_input", "null_output": a NULL payload of some
 * length; "null_ctx": metadata of a NULL context; "after_end": starts an activity after dh_fail (a
 * missing return);
 * anything else: logs after dh_return, which is allowed. */
static void c_misuse(dh_ctx *c, dh_bytes in) {
	const char *what = json_string_or_empty(c, in);
	if (what && !strcmp(what, "cancelled")) {
		dh_future *fs[2] = {dh_timer(c, 0), dh_timer(c, DH_SECOND * 3600)};
		dh_select(c, fs, 2);
		dh_select(c, fs, 2);
	} else if (what && !strcmp(what, "alloc_overflow")) {
		dh_alloc(c, SIZE_MAX); /* a size computed from garbage */
	} else if (what && !strcmp(what, "strndup_overflow")) {
		dh_strndup(c, "x", SIZE_MAX);
	} else if (what && !strcmp(what, "null_code")) {
		const char *codes[] = {"fatal", NULL};
		dh_retry_policy p = {.max_attempts = 2, .non_retryable_codes = codes, .non_retryable_count = 2};
		dh_call_options o = {.retry = &p};
		dh_call_activity(c, "echo", "1", 1, &o);
	} else if (what && !strcmp(what, "null_input")) {
		dh_get(dh_call_activity(c, "echo", NULL, 3, NULL), NULL);
	} else if (what && !strcmp(what, "null_output")) {
		dh_return(c, NULL, 4);
	} else if (what && !strcmp(what, "null_ctx")) {
		dh_log(c, DH_INFO, dh_instance_id(NULL));
	} else if (what && !strcmp(what, "after_end")) {
		dh_fail(c, "", "failed");
		dh_call_activity(c, "echo", "1", 1, NULL);
	} else {
		dh_return(c, "\"fine\"", 6);
		dh_logf(c, DH_INFO, "logged after dh_return by %s", dh_name(c));
	}
}

/* c_memory: returns {"len": n} after building a payload of n bytes in the arena (which then
 * grows linear memory) and handing it to the activity "echo" and back. */
static void c_memory(dh_ctx *c, dh_bytes in) {
	int64_t n = 0;
	dh_json_to_int(in, &n);
	dh_buf x;
	dh_buf_init(&x, c);
	dh_buf_puts(&x, "\"");
	for (int64_t i = 0; i < n; i++)
		dh_buf_write(&x, "x", 1);
	dh_buf_puts(&x, "\"");
	dh_bytes res;
	const dh_error *err = dh_get(dh_call_activity(c, "echo", x.data, x.len, NULL), &res);
	if (err) {
		dh_fail_error(c, err);
		return;
	}
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"len\":");
	dh_json_int(&b, res.len == x.len && !memcmp(res.ptr, x.data, x.len) && res.ptr[res.len] == 0 ? n : -1);
	dh_buf_puts(&b, "}");
	finish(c, &b);
}

/* c_fail_copy fails with a failure whose strings and details are in buffers it overwrites
 * before it returns: the SDK must have copied them (the execution ends after the return). */
static char fail_code[16], fail_message[32];
static uint8_t fail_details[16];
static void c_fail_copy(dh_ctx *c, dh_bytes in) {
	(void)in;
	strcpy(fail_code, "copied_code");
	strcpy(fail_message, "copied message");
	memcpy(fail_details, "{\"copied\":1}", 12);
	dh_error e = {DH_APPLICATION, fail_code, fail_message, {fail_details, 12}};
	dh_fail_error(c, &e);
	memset(fail_code, 'x', sizeof fail_code - 1);
	memset(fail_message, 'y', sizeof fail_message - 1);
	memset(fail_details, 'z', sizeof fail_details);
}

/* scribble allocates arena memory and fills it, so that anything released before shows. */
static void scribble(dh_ctx *c) { memset(dh_alloc(c, 4096), 0xff, 4096); }

/* c_release releases the arena after a retrying call it drops, after setting the custom status
 * and after dh_return, scribbling over what was released each time: the SDK must keep what it
 * holds. It returns {"status": the status read back}. */
static void c_release(dh_ctx *c, dh_bytes in) {
	(void)in;
	dh_arena_mark m = dh_arena_mark_get(c);
	dh_retry_policy p = {.max_attempts = 2};
	dh_call_options o = {.retry = &p};
	dh_call_activity(c, "echo", "\"dropped\"", 9, &o); /* the SDK drives it while we sleep */
	dh_arena_release(c, m);
	scribble(c);
	dh_sleep(c, DH_MILLISECOND);
	m = dh_arena_mark_get(c);
	dh_set_status(c, "\"held\"", 6);
	dh_arena_release(c, m);
	scribble(c);
	dh_bytes st;
	dh_status(c, &st);
	m = dh_arena_mark_get(c);
	dh_buf b;
	dh_buf_init(&b, c);
	dh_buf_puts(&b, "{\"status\":");
	dh_json_raw(&b, st);
	dh_buf_puts(&b, "}");
	finish(c, &b);
	dh_arena_release(c, m);
	scribble(c);
}

DH_REGISTER(c_json, "c_json")
DH_REGISTER(c_json_read, "c_json_read")
DH_REGISTER(c_json_get_absent, "c_json_get_absent")
DH_REGISTER(c_interval, "c_interval")
DH_REGISTER(c_misuse, "c_misuse")
DH_REGISTER(c_memory, "c_memory")
DH_REGISTER(c_fail_copy, "c_fail_copy")
DH_REGISTER(c_release, "c_release")
