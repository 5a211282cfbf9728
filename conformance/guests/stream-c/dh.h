/* dh: a client of the durohost stream ABI (abi/ABI.md, "Stream form") over C stdio only.
 *
 * The guest opens /durohost/v1, writes each call as one CBOR array and reads its answer, one
 * CBOR item. Nothing here imports a host function: the program is an ordinary WASI command.
 */
#ifndef DH_H
#define DH_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. */
typedef struct {
	uint8_t *p;
	size_t n, cap;
} dh_buf;

void dh_buf_put(dh_buf *b, const void *p, size_t n);
void dh_buf_byte(dh_buf *b, uint8_t c);
void dh_buf_str(dh_buf *b, const char *s);
void dh_buf_free(dh_buf *b);

/* CBOR encoding (RFC 8949, definite lengths). */
void dh_cbor_head(dh_buf *b, int major, uint64_t v);
void dh_cbor_uint(dh_buf *b, uint64_t v);
void dh_cbor_int(dh_buf *b, int64_t v);
void dh_cbor_bytes(dh_buf *b, const void *p, size_t n);
void dh_cbor_text(dh_buf *b, const char *s);
void dh_cbor_null(dh_buf *b);

/* A decoded CBOR item. */
typedef struct dh_cv {
	int major;         /* 0 uint, 1 negative int, 2 bytes, 3 text, 4 array, 5 map, 6 tag, 7 simple */
	uint64_t u;        /* value (0, 7), length (2, 3), count (4), pairs (5), tag (6) */
	int64_t i;         /* value of a negative integer */
	uint8_t *b;        /* bytes of a string, NUL-terminated */
	struct dh_cv *kids; /* array items; map keys and values alternately; the tagged item */
} dh_cv;

void dh_cv_free(dh_cv *v);
/* dh_cv_key returns the value of an integer key of a map, or NULL. */
const dh_cv *dh_cv_key(const dh_cv *map, uint64_t key);

/* Failure kinds, outcome kinds and command kinds of ABI.md. */
enum { DH_APPLICATION = 1, DH_INFRASTRUCTURE = 2, DH_CANCELLED = 3, DH_TIMEOUT = 4 };
enum { DH_ACTIVITY = 1, DH_TIMER = 2, DH_WAIT_EVENT = 3, DH_DEQUEUE = 4, DH_SUB = 5, DH_START = 6 };

typedef struct {
	uint64_t kind;
	char *code, *message;
	uint8_t *details;
	size_t details_len;
} dh_failure;

typedef struct {
	uint64_t mode; /* 0 run, 1 describe */
	char *name, *version, *instance_id, *parent_id;
	uint64_t execution_id;
	uint8_t *input;
	size_t input_len;
	int has_status;
	uint8_t *status;
	size_t status_len;
	int64_t start_time;
} dh_info;

/* The outcome of a future: ok with a result, or a failure. */
typedef struct {
	int failed;
	uint8_t *result;
	size_t len;
	dh_failure failure;
} dh_completion;

void dh_open(void);
void dh_start_info(dh_info *info);
uint32_t dh_schedule(int kind, const char *name, const uint8_t *input, size_t input_len,
		     const char *version, const char *instance_id, int64_t delay_ns);
uint32_t dh_await(const uint32_t *handles, size_t n);
/* dh_result reads a complete future (the handle is released); 0 when it is not complete. */
int dh_result(uint32_t handle, dh_completion *c);
void dh_cancel(uint32_t handle);
void dh_set_status(const uint8_t *p, size_t n);
void dh_clear_status(void);
void dh_log(int level, const char *msg);
int dh_is_replaying(void);

/* Endings: each calls complete. */
void dh_complete_output(const uint8_t *p, size_t n);
void dh_complete_failure(const dh_failure *f);
void dh_complete_continue(const uint8_t *input, size_t n, const char *version);
typedef struct {
	const char *name, *version;
} dh_registration;
void dh_complete_describe(const dh_registration *regs, size_t n);

/* dh_fatal ends the execution with an application failure of code "panic" and exits. */
void dh_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
