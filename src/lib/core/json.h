/* json.h: JSON through libjq 1.6: jv values and jq programs compiled once.
 * Ownership follows jv's rule: functions consume the jv they are given and
 * return a jv the caller owns. cx_jq_* callbacks receive outputs they own. */
#ifndef CX_JSON_H
#define CX_JSON_H

#include <stddef.h>

#include <jv.h>

#include "err.h"

typedef struct cx_jq cx_jq;

/* Compiles a jq program once. args: a jv object of $name -> value bindings,
 * or jv_null(); consumed. */
cx_jq *cx_jq_compile(const char *program, jv args, cx_err *err);
/* Compiles the program in a file (mapping programs in share/cx). */
cx_jq *cx_jq_compile_file(const char *path, jv args, cx_err *err);
void cx_jq_free(cx_jq *q);
/* Runs the program on input (consumed), calling each(out, ctx) for every
 * output (each owns out). Returns 0, or -1 with err on a runtime error
 * (outputs before the error were delivered). */
int cx_jq_run(cx_jq *q, jv input, void (*each)(jv out, void *ctx), void *ctx,
    cx_err *err);
/* The program's first output on input (consumed), or jv_invalid() when it
 * produced none or failed. For paths like .dedupe_key. */
jv cx_jq_first(cx_jq *q, jv input);

/* Helpers over jv objects. cx_json_str returns the string at key or NULL;
 * the pointer lives as long as obj (which is not consumed). */
const char *cx_json_str(jv obj, const char *key);
/* A value as a key string: strings as they are, numbers and others as
 * compact JSON; NULL for null or invalid. Consumes v; caller frees. */
char *cx_json_key_string(jv v);
/* Compact serialization into a new C string; consumes v. */
char *cx_json_dump(jv v);

/* A growing byte buffer. */
typedef struct {
	char *s;
	size_t len, cap;
} cx_buf;

void cx_buf_add(cx_buf *b, const char *s, size_t n);
/* Appends v's compact JSON, byte for byte what jv_dump_string(v, 0) gives,
 * without building a jv string on the way; consumes v. */
void cx_json_append(cx_buf *b, jv v);

/* Nesting libjq 1.6 reads: it refuses a 256th open container. */
#define CX_JSON_MAX_DEPTH 255

/* 1 when s[0..len) is one JSON object and nothing else, strictly per
 * RFC 8259 (no NUL, byte order mark, nan, 01, .5 or raw control character;
 * valid UTF-8; escapes complete, surrogate pairs paired), every number
 * finite as a double, nesting at most CX_JSON_MAX_DEPTH; else 0. Whatever it
 * accepts libjq reads. Allocates nothing: webhook bodies are checked with it
 * before they are stored. */
int cx_json_object_valid(const char *s, size_t len);

/* What text holds, judged as strictly as cx_json_object_valid, except that
 * UTF-8 is the caller's to check. */
typedef enum { CX_JSON_INVALID, CX_JSON_OBJECT, CX_JSON_NOT_OBJECT } cx_json_text;
cx_json_text cx_json_check(const char *s, size_t len);

/* Finds the top-level member name in an object cx_json_check accepted,
 * without parsing it: 1 with *value, *value_len the raw text of its value
 * (the last one, as libjq reads repeated names), 0 when there is none, -1
 * when a member name holds an escape (parse the text to know). */
int cx_json_member(const char *s, size_t len, const char *name,
    const char **value, size_t *value_len);

#endif
