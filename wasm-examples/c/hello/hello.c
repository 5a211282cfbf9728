/*
 * hello is the first C durohost example: an orchestration that calls one activity three
 * times, one call after the other, and returns what it got back.
 *
 * Run it from the repository root (durohost builds the directory with its Makefile):
 *
 *     go run ./cmd/durohost run wasm-examples/c/hello --input '"World"'
 *
 * Build the module by hand (a WebAssembly reactor, the kind of module the host runs):
 *
 *     make -C wasm-examples/c/hello
 */
#include <stdio.h>
#include <string.h>

#include "durohost.h"

/*
 * hello greets a name in three languages. Each greeting goes through the built-in activity
 * "echo", which returns its input unchanged: a stand-in for real work such as sending an email
 * or calling an API, which in durohost always happens in an activity, never in the
 * orchestration itself.
 *
 * The host records every activity result in the instance's history. If the process stops
 * half-way, the function is run again from the top on resume: the calls that already
 * completed are answered from history instead of being run again, and the orchestration
 * carries on from where it stopped. That is why the code must do the same thing every time
 * it runs.
 */
static void hello(dh_ctx *ctx, dh_bytes input) {
	/* Inputs and outputs are JSON. An orchestration started without input gets none. */
	const char *name = "World";
	if (!dh_json_is_null(input)) {
		name = dh_json_to_string(ctx, input, NULL);
		if (!name) {
			dh_fail(ctx, DH_CODE_BAD_PAYLOAD, "the input is not a JSON string");
			return;
		}
	}

	static const char *const greetings[] = {"Hello, %s!", "Bonjour, %s!", "Hola, %s!"};
	dh_buf out; /* the output, built in the SDK's arena: no malloc, nothing to free */
	dh_buf_init(&out, ctx);
	for (size_t i = 0; i < sizeof greetings / sizeof *greetings; i++) {
		/* Measure, then format into the arena: a fixed buffer would cut a long name short. */
		int n = snprintf(NULL, 0, greetings[i], name);
		char *text = dh_alloc(ctx, (size_t)n + 1);
		snprintf(text, (size_t)n + 1, greetings[i], name);
		dh_buf arg;
		dh_buf_init(&arg, ctx);
		dh_json_string(&arg, text, strlen(text));

		/* dh_call_activity schedules the activity and returns a future at once; dh_get waits
		 * for its result. Waiting here, before the next call, runs the calls in sequence. */
		dh_bytes reply;
		const dh_error *err = dh_get(dh_call_activity(ctx, "echo", arg.data, arg.len, NULL), &reply);
		if (err) {
			/* The activity failed: fail the orchestration with the same failure. */
			dh_fail_error(ctx, err);
			return;
		}
		const char *s = dh_json_to_string(ctx, reply, NULL);
		if (i)
			dh_buf_puts(&out, " ");
		dh_buf_puts(&out, s ? s : "");
	}

	/* A replay-safe log line: the host drops it while the orchestration replays, so it
	 * appears once however many times the code runs. */
	dh_logf(ctx, DH_INFO, "greeted name=%s greetings=%d", name, 3);

	/* The output, a JSON string. */
	dh_buf result;
	dh_buf_init(&result, ctx);
	dh_json_string(&result, (const char *)out.data, out.len);
	dh_return(ctx, result.data, result.len);
}

/* Registers hello under the name "hello" when the module is initialised (a constructor that
 * the reactor's _initialize runs before the host calls anything). */
DH_REGISTER(hello, "hello")
