/* The durohost JavaScript runtime: QuickJS as a WASI reactor that runs orchestrations written
 * in JavaScript over the stream form of the ABI (abi/ABI.md, "Stream form").
 *
 * Initialisation (_initialize, which the host snapshots) creates the interpreter and evaluates
 * the files the module bundles, /durohost/files/durohost.js (the SDK, guest-sdk/javascript)
 * then /durohost/files/main.js (the user's orchestrations). durohost_run then calls the SDK's
 * durohost.__run(), which speaks the ABI through the native functions of __durohost below.
 * Only the stream file and the bundled files are used: no host function is imported.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quickjs.h"

static JSRuntime *rt;
static JSContext *ctx;
static char *init_error; /* what went wrong while initialising, reported by durohost_run */
static FILE *out, *in;

typedef struct {
	uint8_t *p;
	size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			fputs("durohost js: out of memory\n", stderr);
			abort();
		}
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static int get1(uint8_t *c) {
	int v = getc(in);
	if (v == EOF)
		return 0;
	*c = (uint8_t)v;
	return 1;
}

/* read_item copies one CBOR item (definite lengths, as the host writes them) from the stream. */
static int read_item(buf *b, int depth) {
	uint8_t h, x;
	if (depth > 64 || !get1(&h))
		return 0;
	put(b, &h, 1);
	int major = h >> 5, info = h & 31;
	uint64_t arg = 0;
	if (info < 24) {
		arg = (uint64_t)info;
	} else if (info <= 27) {
		for (int k = 0; k < (1 << (info - 24)); k++) {
			if (!get1(&x))
				return 0;
			put(b, &x, 1);
			arg = arg << 8 | x;
		}
	} else {
		return 0;
	}
	switch (major) {
	case 2:
	case 3: {
		uint8_t chunk[4096];
		while (arg > 0) {
			size_t n = arg < sizeof chunk ? (size_t)arg : sizeof chunk;
			if (fread(chunk, 1, n, in) != n)
				return 0;
			put(b, chunk, n);
			arg -= n;
		}
		return 1;
	}
	case 4:
	case 5:
		for (uint64_t k = 0; k < (major == 5 ? 2 * arg : arg); k++)
			if (!read_item(b, depth + 1))
				return 0;
		return 1;
	case 6:
		return read_item(b, depth + 1);
	}
	return 1;
}

/* __durohost.call(ArrayBuffer) -> ArrayBuffer: writes one call, returns its answer. */
static JSValue js_call(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
	(void)this_val;
	size_t n;
	uint8_t *p = argc > 0 ? JS_GetArrayBuffer(c, &n, argv[0]) : NULL;
	if (!p)
		return JS_ThrowTypeError(c, "__durohost.call takes an ArrayBuffer");
	if (!out) {
		/* Opened at the first call, not while initialising: descriptors are not part of the
		 * snapshot that stands for initialisation. */
		out = fopen("/durohost/v1", "w");
		in = fopen("/durohost/v1", "r");
		if (!out || !in)
			return JS_ThrowInternalError(c, "cannot open /durohost/v1 (not run by a durohost host?)");
	}
	if (fwrite(p, 1, n, out) != n || fflush(out) != 0)
		return JS_ThrowInternalError(c, "cannot write to /durohost/v1");
	buf b = {0};
	if (!read_item(&b, 0)) {
		free(b.p);
		return JS_ThrowInternalError(c, "the host's answer ended early");
	}
	JSValue r = JS_NewArrayBufferCopy(c, b.p, b.n);
	free(b.p);
	return r;
}

/* __durohost.random(n) -> ArrayBuffer: n bytes of the sandbox's random source. */
static JSValue js_random(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
	(void)this_val;
	uint32_t n;
	if (argc < 1 || JS_ToUint32(c, &n, argv[0]) || n > 1 << 20)
		return JS_ThrowRangeError(c, "__durohost.random takes a length up to 1 MiB");
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return JS_ThrowOutOfMemory(c);
	for (uint32_t k = 0; k < n; k += 256) {
		uint32_t m = n - k < 256 ? n - k : 256;
		if (getentropy(p + k, m)) {
			free(p);
			return JS_ThrowInternalError(c, "getentropy failed");
		}
	}
	JSValue r = JS_NewArrayBufferCopy(c, p, n);
	free(p);
	return r;
}

/* __durohost.utf8encode(string) -> ArrayBuffer */
static JSValue js_utf8encode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
	(void)this_val;
	size_t n;
	const char *s = argc > 0 ? JS_ToCStringLen(c, &n, argv[0]) : NULL;
	if (!s)
		return JS_EXCEPTION;
	JSValue r = JS_NewArrayBufferCopy(c, (const uint8_t *)s, n);
	JS_FreeCString(c, s);
	return r;
}

/* __durohost.utf8decode(ArrayBuffer) -> string */
static JSValue js_utf8decode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
	(void)this_val;
	size_t n;
	uint8_t *p = argc > 0 ? JS_GetArrayBuffer(c, &n, argv[0]) : NULL;
	if (!p)
		return JS_ThrowTypeError(c, "__durohost.utf8decode takes an ArrayBuffer");
	return JS_NewStringLen(c, (const char *)p, n);
}

/* __durohost.print(fd, string): a line on stdout (1) or stderr (2), which the host logs. */
static JSValue js_print(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
	(void)this_val;
	int32_t fd;
	size_t n;
	if (argc < 2 || JS_ToInt32(c, &fd, argv[0]))
		return JS_EXCEPTION;
	const char *s = JS_ToCStringLen(c, &n, argv[1]);
	if (!s)
		return JS_EXCEPTION;
	FILE *f = fd == 2 ? stderr : stdout;
	fwrite(s, 1, n, f);
	fputc('\n', f);
	fflush(f);
	JS_FreeCString(c, s);
	return JS_UNDEFINED;
}

static const JSCFunctionListEntry native_funcs[] = {
	JS_CFUNC_DEF("call", 1, js_call),
	JS_CFUNC_DEF("random", 1, js_random),
	JS_CFUNC_DEF("utf8encode", 1, js_utf8encode),
	JS_CFUNC_DEF("utf8decode", 1, js_utf8decode),
	JS_CFUNC_DEF("print", 2, js_print),
};

/* exception_text returns the pending exception with its stack, malloc'ed. */
static char *exception_text(void) {
	JSValue e = JS_GetException(ctx);
	const char *s = JS_ToCString(ctx, e);
	buf b = {0};
	put(&b, s ? s : "exception", strlen(s ? s : "exception"));
	if (s)
		JS_FreeCString(ctx, s);
	if (JS_IsError(ctx, e)) {
		JSValue st = JS_GetPropertyStr(ctx, e, "stack");
		const char *t = JS_IsUndefined(st) ? NULL : JS_ToCString(ctx, st);
		if (t) {
			put(&b, "\n", 1);
			put(&b, t, strlen(t));
			JS_FreeCString(ctx, t);
		}
		JS_FreeValue(ctx, st);
	}
	JS_FreeValue(ctx, e);
	put(&b, "", 1);
	return (char *)b.p;
}

/* eval_file evaluates a bundled file as a script; 0 and init_error set on failure. */
static int eval_file(const char *name) {
	char path[256];
	snprintf(path, sizeof path, "/durohost/files/%s", name);
	FILE *f = fopen(path, "r");
	if (!f) {
		buf m = {0};
		const char *pre = "the module bundles no file ";
		put(&m, pre, strlen(pre));
		put(&m, name, strlen(name) + 1);
		init_error = (char *)m.p;
		return 0;
	}
	buf src = {0};
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		put(&src, chunk, n);
	fclose(f);
	put(&src, "", 1);
	JSValue v = JS_Eval(ctx, (const char *)src.p, src.n - 1, name, JS_EVAL_TYPE_GLOBAL);
	free(src.p);
	if (JS_IsException(v)) {
		init_error = exception_text();
		return 0;
	}
	JS_FreeValue(ctx, v);
	return 1;
}

/* init runs during _initialize: the interpreter and the scripts, once for every instance (the
 * host starts instances from a snapshot of this state). */
__attribute__((constructor)) static void init(void) {
	rt = JS_NewRuntime();
	ctx = rt ? JS_NewContext(rt) : NULL;
	if (!ctx) {
		init_error = "cannot create the JavaScript runtime";
		return;
	}
	JSValue global = JS_GetGlobalObject(ctx);
	JSValue native = JS_NewObject(ctx);
	JS_SetPropertyFunctionList(ctx, native, native_funcs, sizeof native_funcs / sizeof native_funcs[0]);
	JS_SetPropertyStr(ctx, global, "__durohost", native);
	JS_FreeValue(ctx, global);
	if (eval_file("durohost.js"))
		eval_file("main.js");
}

/* durohost_run runs one orchestration (or describes the module) through the SDK. */
__attribute__((export_name("durohost_run"))) void durohost_run(void) {
	JSValue global = JS_GetGlobalObject(ctx);
	JSValue sdk = JS_GetPropertyStr(ctx, global, "durohost");
	JSValue run = JS_GetPropertyStr(ctx, sdk, "__run");
	JSValue err = init_error ? JS_NewString(ctx, init_error) : JS_UNDEFINED;
	if (!JS_IsFunction(ctx, run)) {
		fprintf(stderr, "durohost js: %s\n", init_error ? init_error : "the SDK (durohost.js) is not loaded");
		exit(70);
	}
	JSValue r = JS_Call(ctx, run, sdk, 1, &err);
	if (JS_IsException(r)) {
		char *t = exception_text();
		fprintf(stderr, "durohost js: %s\n", t);
		exit(70);
	}
	JS_FreeValue(ctx, r);
	JS_FreeValue(ctx, err);
	JS_FreeValue(ctx, run);
	JS_FreeValue(ctx, sdk);
	JS_FreeValue(ctx, global);
}
