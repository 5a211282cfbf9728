/*
 * durohost.h: the C guest SDK of durohost (ABI version 1, abi/ABI.md).
 *
 * A C orchestration module is a WebAssembly reactor built from your sources and durohost.c:
 *
 *     clang --target=wasm32-wasi -std=c11 -Os -mexec-model=reactor -Wl,--strip-all \
 *         -Wl,-z,stack-size=32768 -Wl,--stack-first -o my.wasm my.c durohost.c
 *
 * Register orchestrations with DH_REGISTER (a constructor, run by the reactor's _initialize);
 * the SDK provides the exports the host calls (durohost_run, durohost_abi_version).
 *
 * Orchestrations are plain blocking C functions. dh_get, dh_wait_any and friends block in the
 * host's await; the host may instead drop the instance and run the function again from the top
 * on a later turn, answering what already happened from history. The code must therefore do
 * the same thing every time it runs: side effects go in activities, time and randomness come
 * from dh_now and dh_random (or libc's clock and random functions, which the host makes
 * functions of history too).
 *
 * Memory: the SDK allocates nothing with malloc. Everything it returns (payloads, errors,
 * strings, futures, JSON it builds) lives in the *arena* of the run: a bump allocator that
 * starts in a static block of DH_ARENA_INITIAL bytes and grows linear memory (memory.grow) in
 * 64 KiB steps when it needs more. Nothing in it is freed before the orchestration returns,
 * unless the code releases it with dh_arena_release; the instance is discarded after its run.
 * Every payload the SDK hands out is followed by a NUL byte (not counted in its length).
 *
 * Misuse (a bug in the calling code: waiting on a cancelled future, a NULL name or context, a
 * NULL payload with a length, a future of another run) stops the guest like abort(): the
 * reason is logged at error level and the guest traps, which fails the instance with
 * DH-TRAP-001. (In WebAssembly a NULL pointer does not fault: reading it reads address 0.)
 */
#ifndef DUROHOST_H
#define DUROHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this SDK implements (the durohost_abi_version export). */
#define DH_ABI_VERSION 1

/* Size of the arena's first, static block; more comes from memory.grow. */
#ifndef DH_ARENA_INITIAL
#define DH_ARENA_INITIAL (16 * 1024)
#endif

/* How many orchestrations (name and version pairs) a module may register. */
#ifndef DH_MAX_ORCHESTRATIONS
#define DH_MAX_ORCHESTRATIONS 64
#endif

/* Codes the SDK reports (ABI.md, "Failure codes"): the same in every language's SDK. */
#define DH_CODE_PANIC "panic"
#define DH_CODE_ATTEMPT_TIMEOUT "attempt_timeout"
#define DH_CODE_BAD_PAYLOAD "bad_payload"

/* One millisecond and one second, in the nanoseconds of durations. */
#define DH_MILLISECOND INT64_C(1000000)
#define DH_SECOND INT64_C(1000000000)

/* A byte string: a payload, or a span of one. ptr may be NULL when len is 0. */
typedef struct dh_bytes {
	const uint8_t *ptr;
	size_t len;
} dh_bytes;

/* dh_str makes a dh_bytes of a NUL-terminated string (without the NUL). */
dh_bytes dh_str(const char *s);

/* Failure kinds (ABI.md, "Failure"). */
typedef enum dh_failure_kind {
	DH_APPLICATION = 1,
	DH_INFRASTRUCTURE = 2,
	DH_CANCELLED = 3,
	DH_TIMEOUT = 4,
} dh_failure_kind;

/* dh_failure_kind_name returns "application", "infrastructure", "cancelled", "timeout". */
const char *dh_failure_kind_name(dh_failure_kind kind);

/*
 * A failure crossing the ABI: an activity's or a child's, a cancelled future's, or the one an
 * orchestration reports. code is "" when there is none; strings are NUL-terminated.
 */
typedef struct dh_error {
	dh_failure_kind kind;
	const char *code;
	const char *message;
	dh_bytes details;
} dh_error;

/* Log levels (ABI.md, "Log levels"). */
typedef enum dh_log_level {
	DH_DEBUG = 0,
	DH_INFO = 1,
	DH_WARN = 2,
	DH_ERROR = 3,
} dh_log_level;

/* The context of one run of an orchestration; valid until the orchestration returns. */
typedef struct dh_ctx dh_ctx;

/* The pending result of something the orchestration started; it lives in the arena. */
typedef struct dh_future dh_future;

/*
 * An orchestration. It reads its input, does its work through ctx and ends with one of
 * dh_return, dh_fail, dh_fail_error or dh_continue_as_new before it returns; returning without
 * one completes the execution with an empty output. After that call only logs, metadata and
 * dh_status may be used: starting or waiting for work, or ending again, traps.
 */
typedef void (*dh_orchestration)(dh_ctx *ctx, dh_bytes input);

/*
 * dh_register registers fn under name (and version, "" for none). Call it before the host runs
 * the module: from a constructor, which DH_REGISTER writes for you. A request naming a version
 * runs exactly that version; one without runs the highest ("1.10" > "1.9" > "1" > "").
 * Registering a name and version twice, or more than DH_MAX_ORCHESTRATIONS, traps. The SDK
 * keeps the pointers (no copy, and no arena exists yet): name and version must live as long as
 * the module, as string literals do.
 */
void dh_register(const char *name, const char *version, dh_orchestration fn);

#define DH__CAT2(a, b) a##b
#define DH__CAT(a, b) DH__CAT2(a, b)
/* DH_REGISTER(fn, "name") registers fn when the module initialises. */
#define DH_REGISTER(fn, name) DH_REGISTER_VERSION(fn, name, "")
/* DH_REGISTER_VERSION(fn, "name", "version") registers a version of name. */
#define DH_REGISTER_VERSION(fn, name, version)                                                  \
	__attribute__((constructor)) static void DH__CAT(dh__register_, DH__CAT(fn, __LINE__))(void) { \
		dh_register((name), (version), (fn));                                               \
	}

/* ---- Ending the execution (the last call before the orchestration returns) ---- */

/* dh_return completes the execution with an output (copied). */
void dh_return(dh_ctx *ctx, const void *output, size_t len);
/* dh_fail fails the execution with an application failure (code may be "" or NULL). */
void dh_fail(dh_ctx *ctx, const char *code, const char *message);
/* dh_fail_error fails the execution with err's kind, code, message and details, copied
 * (propagate a failure the orchestration received, or report one of its own). */
void dh_fail_error(dh_ctx *ctx, const dh_error *err);
/* dh_continue_as_new ends this execution and starts the next one of the instance with input,
 * running version ("" or NULL keeps the current one). Custom status and unconsumed queue
 * messages carry over. */
void dh_continue_as_new(dh_ctx *ctx, const void *input, size_t len, const char *version);

/* ---- Metadata ---- */

const char *dh_name(const dh_ctx *ctx);        /* the orchestration's registered name */
const char *dh_version(const dh_ctx *ctx);     /* the version that runs, "" for none */
const char *dh_instance_id(const dh_ctx *ctx); /* the instance ID */
const char *dh_parent_id(const dh_ctx *ctx);   /* the parent's instance ID, "" for none */
uint32_t dh_execution_id(const dh_ctx *ctx);   /* 1, then +1 per continue-as-new */
int64_t dh_start_time(const dh_ctx *ctx);      /* logical start, Unix nanoseconds */
bool dh_is_replaying(dh_ctx *ctx);             /* re-executing recorded history? */

/* ---- Deterministic values ---- */

/* dh_now returns the logical time in Unix nanoseconds (the same on every replay). */
int64_t dh_now(dh_ctx *ctx);
/* dh_random fills buf with bytes of the instance's random stream (the same on every replay). */
void dh_random(dh_ctx *ctx, void *buf, size_t len);
/* dh_new_uuid writes a random version 4 UUID, 36 characters and a NUL, to out. */
void dh_new_uuid(dh_ctx *ctx, char out[37]);

/* ---- Custom status and logs ---- */

/* dh_set_status sets the custom status (an empty one is a status); dh_clear_status removes it. */
void dh_set_status(dh_ctx *ctx, const void *status, size_t len);
void dh_clear_status(dh_ctx *ctx);
/* dh_status reads back the custom status: false when none is set. A new execution starts with
 * the status the previous one left. */
bool dh_status(const dh_ctx *ctx, dh_bytes *status);
/* dh_log writes a log line; the host drops it while the orchestration replays. */
void dh_log(dh_ctx *ctx, dh_log_level level, const char *message);
/* dh_logf is dh_log with printf formatting (in the arena, released after the call). */
void dh_logf(dh_ctx *ctx, dh_log_level level, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- Starting work ---- */

/*
 * A retry policy: each attempt is a command, each wait between attempts a durable timer, each
 * attempt timeout a timer raced against the attempt (the loser is cancelled). Failures of kind
 * application and attempt timeouts are retried, unless their code is non-retryable; the future
 * fails with the last attempt's failure. Durations are nanoseconds; zero fields take defaults.
 */
typedef struct dh_retry_policy {
	int max_attempts;           /* attempts, the first included; 0: no limit */
	int64_t initial_interval;   /* wait before the second attempt; 0: 1 s */
	double backoff_coefficient; /* multiplies the wait after every attempt; 0: 2; else >= 1 */
	int64_t max_interval;       /* caps the wait; 0: 100 x initial_interval */
	int64_t attempt_timeout;    /* fails an attempt that takes longer; 0: none */
	const char *const *non_retryable_codes; /* codes that end the retries at once */
	size_t non_retryable_count;
} dh_retry_policy;

/* dh_retry_interval returns the wait after failed attempt n (1 for the first), defaults applied. */
int64_t dh_retry_interval(const dh_retry_policy *p, int attempt);

/* Options of a call; NULL or zero fields for the defaults. */
typedef struct dh_call_options {
	const dh_retry_policy *retry; /* activities; sub-orchestrations with a derived ID */
	const char *instance_id;      /* sub- and detached orchestrations; NULL: derived */
	const char *version;          /* sub- and detached orchestrations; NULL: the highest */
} dh_call_options;

/* dh_call_activity schedules the activity name with an input. */
dh_future *dh_call_activity(dh_ctx *ctx, const char *name, const void *input, size_t len,
                            const dh_call_options *opts);
/* dh_call_sub_orchestration starts name as a child and returns the future of its output. */
dh_future *dh_call_sub_orchestration(dh_ctx *ctx, const char *name, const void *input, size_t len,
                                     const dh_call_options *opts);
/* dh_start_orchestration starts name as an independent instance and returns its instance ID
 * (the host completes the start at once; NULL only if it failed it). */
const char *dh_start_orchestration(dh_ctx *ctx, const char *name, const void *input, size_t len,
                                   const dh_call_options *opts);
/* dh_timer starts a durable timer of delay nanoseconds (a negative delay counts as 0). */
dh_future *dh_timer(dh_ctx *ctx, int64_t delay);
/* dh_sleep waits for a durable timer; it returns a failure only when the host fails the timer. */
const dh_error *dh_sleep(dh_ctx *ctx, int64_t delay);
/* dh_wait_event subscribes to the next external event name (positional, oldest first). */
dh_future *dh_wait_event(dh_ctx *ctx, const char *name);
/* dh_dequeue takes the next message of the instance's persistent queue name (FIFO). */
dh_future *dh_dequeue(dh_ctx *ctx, const char *queue);

/* ---- Waiting ---- */

/*
 * dh_get waits until f completes and returns NULL with its result in *result (which may be
 * NULL), or its failure. It may be called again and returns the same. A cancelled future
 * fails with kind DH_CANCELLED.
 */
const dh_error *dh_get(dh_future *f, dh_bytes *result);
/* dh_done reports whether f has completed (or was cancelled) without waiting. */
bool dh_done(const dh_future *f);
/* dh_cancel drops f: the host records the cancellation and stops the work. Cancelling a
 * completed or cancelled future does nothing. */
void dh_cancel(dh_future *f);
/* dh_wait_any waits until one of the n futures completes and returns its index: the one that
 * completed first in history, so the answer is the same on every replay.
 * Every wait (dh_get, dh_wait_all included) is one await of the handles of its futures and of
 * every pending retrying call (which progress during any wait): one handle per future, two for
 * a retrying call with an attempt timeout. The ABI allows 4096 at once and more traps: start
 * a fan-out of thousands of retrying calls in batches, each awaited before the next starts. */
size_t dh_wait_any(dh_ctx *ctx, dh_future *const *fs, size_t n);
/* dh_select is dh_wait_any that then cancels all the other futures. */
size_t dh_select(dh_ctx *ctx, dh_future *const *fs, size_t n);
/* dh_wait_all waits for every future and returns the first failure in array order, or NULL. */
const dh_error *dh_wait_all(dh_ctx *ctx, dh_future *const *fs, size_t n);

/* ---- Arena ---- */

/* dh_alloc returns n bytes of the arena, aligned to 8 and zeroed. */
void *dh_alloc(dh_ctx *ctx, size_t n);
/* dh_strndup copies n bytes of s to the arena, with a NUL. */
char *dh_strndup(dh_ctx *ctx, const void *s, size_t n);
/* A position in the arena; dh_arena_release frees everything allocated after it (futures,
 * results, strings) for reuse. Use it only for what is no longer referenced. What the SDK
 * itself still holds stays allocated, with what lies below it: the outcome (dh_return, ...),
 * the custom status, and retrying calls (dh_retry_policy) started after the mark. */
typedef struct dh_arena_mark {
	uint8_t *top;
} dh_arena_mark;
dh_arena_mark dh_arena_mark_get(dh_ctx *ctx);
void dh_arena_release(dh_ctx *ctx, dh_arena_mark mark);

/* ---- JSON helpers ---- */

/* The deepest nesting of arrays and objects the JSON reader accepts; deeper text counts as
 * invalid (the reader recurses, and the stack is small). */
#ifndef DH_JSON_MAX_DEPTH
#define DH_JSON_MAX_DEPTH 128
#endif

/* A growing buffer in the arena: build payloads with it, then pass data and len. */
typedef struct dh_buf {
	dh_ctx *ctx;
	uint8_t *data;
	size_t len, cap;
} dh_buf;

void dh_buf_init(dh_buf *b, dh_ctx *ctx);
void dh_buf_write(dh_buf *b, const void *p, size_t n);
/* dh_buf_puts appends the text s as is (JSON punctuation, keys you know need no escaping). */
void dh_buf_puts(dh_buf *b, const char *s);
/* dh_json_string appends s (n bytes of UTF-8) as a JSON string, escaped like Go's
 * encoding/json (so that outputs match byte for byte across SDKs). */
void dh_json_string(dh_buf *b, const char *s, size_t n);
void dh_json_int(dh_buf *b, int64_t v);
void dh_json_bool(dh_buf *b, bool v);
/* dh_json_raw appends a JSON value as is, compacted; an empty value appends null. */
void dh_json_raw(dh_buf *b, dh_bytes v);
/* dh_json_error appends {"kind": ..., "code": ..., "message": ...} ("code" omitted if ""). */
void dh_json_error(dh_buf *b, const dh_error *err);

/* dh_json_get finds key in the JSON object obj and sets *value to the text of its value.
 * False (and *value empty, which dh_json_is_null reads as absent) when obj is not an object
 * or has no such key. */
bool dh_json_get(dh_bytes obj, const char *key, dh_bytes *value);
/* dh_json_next iterates a JSON array: start with *iter = the array, then each call sets *item
 * to the next element; false at the end (or when it is not an array). */
bool dh_json_next(dh_bytes *iter, dh_bytes *item);
/* dh_json_is_null: the value is absent (empty) or null. */
bool dh_json_is_null(dh_bytes v);
/* dh_json_to_int: an integer; false (and *out 0) for anything else. */
bool dh_json_to_int(dh_bytes v, int64_t *out);
/* dh_json_to_bool: true for the value true, false otherwise. */
bool dh_json_to_bool(dh_bytes v);
/* dh_json_to_string decodes a JSON string into the arena (NUL-terminated, length in *len when
 * len is not NULL); NULL when v is not a string. */
char *dh_json_to_string(dh_ctx *ctx, dh_bytes v, size_t *len);
/* dh_json_valid reports whether v is exactly one JSON value (surrounding spaces allowed). */
bool dh_json_valid(dh_bytes v);

#ifdef __cplusplus
}
#endif

#endif /* DUROHOST_H */
