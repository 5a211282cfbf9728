/* json: the little JSON the conformance guest needs: a parser that keeps every value's exact
 * text (inputs are passed on byte for byte), and a writer that encodes strings as Go's
 * encoding/json does (outputs and continue-as-new inputs are compared with the Go guest's). */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>

#include "dh.h"

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
	int t;
	int b;               /* J_BOOL */
	double num;          /* J_NUM */
	char *s;             /* J_STR: decoded, NUL-terminated */
	size_t slen;
	struct jv **items;   /* J_ARR, J_OBJ values */
	char **keys;         /* J_OBJ keys */
	size_t n;
	const char *raw;     /* the value's text in the parsed document */
	size_t rawlen;
} jv;

/* json_parse parses a document (NULL when it is not valid JSON). */
jv *json_parse(const uint8_t *p, size_t n);
const jv *json_get(const jv *obj, const char *key);
const char *json_str(const jv *v);   /* "" unless a string */
int64_t json_int(const jv *v);       /* 0 unless a number */
double json_num(const jv *v);
int json_bool(const jv *v);          /* 0 unless true */
int json_present(const jv *v);       /* set and not null */

/* Writing (into a dh_buf). */
void jw_str(dh_buf *b, const char *s);          /* a JSON string, escaped as Go does */
void jw_int(dh_buf *b, int64_t v);
void jw_raw(dh_buf *b, const char *s);
void jw_compact(dh_buf *b, const uint8_t *p, size_t n); /* embed JSON text as Go does */
void jw_payload(dh_buf *b, const uint8_t *p, size_t n); /* null for an empty payload */

#endif
