/* json: see json.h. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *p, *end;
	int depth;
} parser;

static void ws(parser *ps) {
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static void *grow(void *p, size_t n) {
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("out of memory\n", stderr);
		exit(70);
	}
	return p;
}

static void put_utf8(dh_buf *b, uint32_t c) {
	if (c < 0x80) {
		dh_buf_byte(b, (uint8_t)c);
	} else if (c < 0x800) {
		dh_buf_byte(b, (uint8_t)(0xc0 | c >> 6));
		dh_buf_byte(b, (uint8_t)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		dh_buf_byte(b, (uint8_t)(0xe0 | c >> 12));
		dh_buf_byte(b, (uint8_t)(0x80 | (c >> 6 & 0x3f)));
		dh_buf_byte(b, (uint8_t)(0x80 | (c & 0x3f)));
	} else {
		dh_buf_byte(b, (uint8_t)(0xf0 | c >> 18));
		dh_buf_byte(b, (uint8_t)(0x80 | (c >> 12 & 0x3f)));
		dh_buf_byte(b, (uint8_t)(0x80 | (c >> 6 & 0x3f)));
		dh_buf_byte(b, (uint8_t)(0x80 | (c & 0x3f)));
	}
}

static int hex4(const char *p, uint32_t *v) {
	*v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return 0;
	}
	return 1;
}

static int parse_string(parser *ps, char **out, size_t *len) {
	dh_buf b = {0};
	ps->p++; /* the opening quote */
	while (ps->p < ps->end && *ps->p != '"') {
		char c = *ps->p++;
		if ((unsigned char)c < 0x20)
			goto bad;
		if (c != '\\') {
			dh_buf_byte(&b, (uint8_t)c);
			continue;
		}
		if (ps->p >= ps->end)
			goto bad;
		c = *ps->p++;
		switch (c) {
		case '"': case '\\': case '/': dh_buf_byte(&b, (uint8_t)c); break;
		case 'b': dh_buf_byte(&b, '\b'); break;
		case 'f': dh_buf_byte(&b, '\f'); break;
		case 'n': dh_buf_byte(&b, '\n'); break;
		case 'r': dh_buf_byte(&b, '\r'); break;
		case 't': dh_buf_byte(&b, '\t'); break;
		case 'u': {
			uint32_t u;
			if (ps->end - ps->p < 4 || !hex4(ps->p, &u))
				goto bad;
			ps->p += 4;
			if (u >= 0xd800 && u < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
				uint32_t lo;
				if (hex4(ps->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					ps->p += 6;
					u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				}
			}
			if (u >= 0xd800 && u < 0xe000)
				u = 0xfffd;
			put_utf8(&b, u);
			break;
		}
		default:
			goto bad;
		}
	}
	if (ps->p >= ps->end)
		goto bad;
	ps->p++;
	*len = b.n;
	dh_buf_byte(&b, 0);
	*out = (char *)b.p;
	return 1;
bad:
	dh_buf_free(&b);
	return 0;
}

static jv *parse_value(parser *ps);

static jv *parse_value(parser *ps) {
	ws(ps);
	if (ps->p >= ps->end || ++ps->depth > 200)
		return NULL;
	jv *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	v->raw = ps->p;
	char c = *ps->p;
	if (c == '{' || c == '[') {
		int obj = c == '{';
		v->t = obj ? J_OBJ : J_ARR;
		ps->p++;
		ws(ps);
		if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
			ps->p++;
		} else {
			for (;;) {
				char *key = NULL;
				size_t klen;
				if (obj) {
					ws(ps);
					if (ps->p >= ps->end || *ps->p != '"' || !parse_string(ps, &key, &klen))
						return NULL;
					ws(ps);
					if (ps->p >= ps->end || *ps->p != ':')
						return NULL;
					ps->p++;
				}
				jv *item = parse_value(ps);
				if (!item)
					return NULL;
				v->items = grow(v->items, (v->n + 1) * sizeof *v->items);
				v->keys = grow(v->keys, (v->n + 1) * sizeof *v->keys);
				v->items[v->n] = item;
				v->keys[v->n] = key;
				v->n++;
				ws(ps);
				if (ps->p < ps->end && *ps->p == ',') {
					ps->p++;
					continue;
				}
				if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
					ps->p++;
					break;
				}
				return NULL;
			}
		}
	} else if (c == '"') {
		v->t = J_STR;
		if (!parse_string(ps, &v->s, &v->slen))
			return NULL;
	} else if (c == 't' && ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) {
		v->t = J_BOOL;
		v->b = 1;
		ps->p += 4;
	} else if (c == 'f' && ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) {
		v->t = J_BOOL;
		ps->p += 5;
	} else if (c == 'n' && ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) {
		v->t = J_NULL;
		ps->p += 4;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		char tmp[64];
		const char *start = ps->p;
		while (ps->p < ps->end && strchr("+-0123456789.eE", *ps->p))
			ps->p++;
		size_t n = (size_t)(ps->p - start);
		if (n >= sizeof tmp)
			return NULL;
		memcpy(tmp, start, n);
		tmp[n] = 0;
		char *e;
		v->t = J_NUM;
		v->num = strtod(tmp, &e);
		if (*e)
			return NULL;
	} else {
		return NULL;
	}
	v->rawlen = (size_t)(ps->p - v->raw);
	ps->depth--;
	return v;
}

jv *json_parse(const uint8_t *p, size_t n) {
	parser ps = {(const char *)p, (const char *)p + n, 0};
	jv *v = parse_value(&ps);
	ws(&ps);
	if (!v || ps.p != ps.end)
		return NULL;
	return v;
}

const jv *json_get(const jv *obj, const char *key) {
	if (!obj || obj->t != J_OBJ)
		return NULL;
	for (size_t k = 0; k < obj->n; k++)
		if (!strcmp(obj->keys[k], key))
			return obj->items[k];
	return NULL;
}

const char *json_str(const jv *v) { return v && v->t == J_STR ? v->s : ""; }
double json_num(const jv *v) { return v && v->t == J_NUM ? v->num : 0; }
int64_t json_int(const jv *v) { return (int64_t)json_num(v); }
int json_bool(const jv *v) { return v && v->t == J_BOOL && v->b; }
int json_present(const jv *v) { return v && v->t != J_NULL; }

static const char hexdigits[] = "0123456789abcdef";

/* utf8_len returns the length of the valid UTF-8 sequence at p (0 when invalid). */
static size_t utf8_len(const uint8_t *p, size_t n, uint32_t *cp) {
	uint8_t c = p[0];
	size_t len;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, v = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, v = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, v = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[k] & 0x3f);
	}
	if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v < 0xe000))
		return 0;
	*cp = v;
	return len;
}

/* jw_escaped writes the inside of a JSON string as Go's encoding/json does: HTML characters
 * and U+2028/U+2029 as \u escapes, invalid UTF-8 as U+FFFD. */
static void jw_escaped(dh_buf *b, const uint8_t *p, size_t n) {
	for (size_t k = 0; k < n;) {
		uint8_t c = p[k];
		if (c < 0x80) {
			k++;
			switch (c) {
			case '"': dh_buf_str(b, "\\\""); continue;
			case '\\': dh_buf_str(b, "\\\\"); continue;
			case '\n': dh_buf_str(b, "\\n"); continue;
			case '\r': dh_buf_str(b, "\\r"); continue;
			case '\t': dh_buf_str(b, "\\t"); continue;
			case '\b': dh_buf_str(b, "\\b"); continue;
			case '\f': dh_buf_str(b, "\\f"); continue;
			}
			if (c < 0x20 || c == '<' || c == '>' || c == '&') {
				dh_buf_str(b, "\\u00");
				dh_buf_byte(b, (uint8_t)hexdigits[c >> 4]);
				dh_buf_byte(b, (uint8_t)hexdigits[c & 15]);
				continue;
			}
			dh_buf_byte(b, c);
			continue;
		}
		uint32_t cp;
		size_t len = utf8_len(p + k, n - k, &cp);
		if (len == 0) {
			dh_buf_str(b, "\\ufffd");
			k++;
			continue;
		}
		if (cp == 0x2028 || cp == 0x2029) {
			dh_buf_str(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
		} else {
			dh_buf_put(b, p + k, len);
		}
		k += len;
	}
}

void jw_str(dh_buf *b, const char *s) {
	dh_buf_byte(b, '"');
	jw_escaped(b, (const uint8_t *)s, strlen(s));
	dh_buf_byte(b, '"');
}

void jw_int(dh_buf *b, int64_t v) {
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%lld", (long long)v);
	dh_buf_str(b, tmp);
}

void jw_raw(dh_buf *b, const char *s) { dh_buf_str(b, s); }

void jw_compact(dh_buf *b, const uint8_t *p, size_t n) {
	for (size_t k = 0; k < n;) {
		uint8_t c = p[k];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			k++;
			continue;
		}
		if (c != '"') {
			dh_buf_byte(b, c);
			k++;
			continue;
		}
		/* A string: copied, with Go's HTML escapes. */
		dh_buf_byte(b, '"');
		k++;
		while (k < n && p[k] != '"') {
			uint8_t d = p[k];
			if (d == '\\' && k + 1 < n) {
				dh_buf_put(b, p + k, 2);
				k += 2;
				continue;
			}
			if (d == '<' || d == '>' || d == '&') {
				dh_buf_str(b, "\\u00");
				dh_buf_byte(b, (uint8_t)hexdigits[d >> 4]);
				dh_buf_byte(b, (uint8_t)hexdigits[d & 15]);
				k++;
				continue;
			}
			uint32_t cp;
			size_t len = d < 0x80 ? 1 : utf8_len(p + k, n - k, &cp);
			if (len > 1 && (cp == 0x2028 || cp == 0x2029)) {
				dh_buf_str(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
			} else {
				dh_buf_put(b, p + k, len ? len : 1);
			}
			k += len ? len : 1;
		}
		if (k < n) {
			dh_buf_byte(b, '"');
			k++;
		}
	}
}

void jw_payload(dh_buf *b, const uint8_t *p, size_t n) {
	if (n == 0)
		dh_buf_str(b, "null");
	else
		jw_compact(b, p, n);
}
