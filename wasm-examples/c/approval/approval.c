/*
 * approval waits for a person's decision, sent as an external event, but gives up after a
 * timeout: the C twin of wasm-examples/go/approval, with the same input and output.
 *
 * Run it from the repository root (durohost compiles the .c files of the directory with the
 * SDK it ships):
 *
 *     go run ./cmd/durohost run wasm-examples/c/approval --input '{"request": "new laptop", "timeout_ms": 60000}'
 *
 * and decide from another terminal:
 *
 *     go run ./cmd/durohost raise <instance-id> approval '{"approved": true, "by": "alice"}'
 */
#include <string.h>

#include "durohost.h"

/* The wait when the input names none. */
#define DEFAULT_TIMEOUT (60 * DH_SECOND)

/* output writes {"request": ..., "status": ..., "by": ...} ("by" omitted when empty). */
static void output(dh_ctx *ctx, const char *request, const char *status, const char *by) {
	dh_buf b;
	dh_buf_init(&b, ctx);
	dh_buf_puts(&b, "{\"request\":");
	dh_json_string(&b, request, strlen(request));
	dh_buf_puts(&b, ",\"status\":");
	dh_json_string(&b, status, strlen(status));
	if (*by) {
		dh_buf_puts(&b, ",\"by\":");
		dh_json_string(&b, by, strlen(by));
	}
	dh_buf_puts(&b, "}");
	dh_return(ctx, b.data, b.len);
}

/* string_field returns the string value of key in obj, "" when absent or not a string. */
static const char *string_field(dh_ctx *ctx, dh_bytes obj, const char *key) {
	dh_bytes v;
	const char *s = dh_json_get(obj, key, &v) ? dh_json_to_string(ctx, v, NULL) : NULL;
	return s ? s : "";
}

static void approval(dh_ctx *ctx, dh_bytes input) {
	const char *request = string_field(ctx, input, "request");
	dh_bytes v;
	int64_t ms = 0;
	if (dh_json_get(input, "timeout_ms", &v))
		dh_json_to_int(v, &ms);
	int64_t timeout = ms > 0 ? ms * DH_MILLISECOND : DEFAULT_TIMEOUT;

	/* The custom status tells clients what the instance is doing (durohost status ID). */
	static const char waiting[] = "\"waiting for approval\"";
	dh_set_status(ctx, waiting, sizeof waiting - 1);

	/* Wait for whichever comes first, the event "approval" or the timer, and cancel the
	 * other: dh_select records the cancellation in history, so a replay takes the same
	 * branch. An event raised before this line is kept until the subscription takes it. */
	dh_future *race[2] = {dh_wait_event(ctx, "approval"), dh_timer(ctx, timeout)};
	size_t winner = dh_select(ctx, race, 2);
	dh_clear_status(ctx);

	if (winner == 1) {
		dh_logf(ctx, DH_INFO, "no decision request=%s timeout_ms=%lld", request, (long long)(timeout / DH_MILLISECOND));
		output(ctx, request, "timed out", "");
		return;
	}
	dh_bytes decision;
	const dh_error *err = dh_get(race[0], &decision);
	if (err) {
		dh_fail_error(ctx, err);
		return;
	}
	if (!dh_json_valid(decision)) {
		dh_fail(ctx, DH_CODE_BAD_PAYLOAD, "the approval event is not JSON");
		return;
	}
	bool approved = dh_json_get(decision, "approved", &v) && dh_json_to_bool(v);
	const char *status = approved ? "approved" : "rejected";
	const char *by = string_field(ctx, decision, "by");
	dh_logf(ctx, DH_INFO, "decided request=%s status=%s by=%s", request, status, by);
	output(ctx, request, status, by);
}

DH_REGISTER(approval, "approval")
