/* jsonschema.h: the JSON Schema subset cx validates itself (the inputs of
 * POST /actions/<action>, against share/cx/actions/<action>.json).
 *
 * Keywords: type (string, number, integer, boolean, object, array, null, or
 * an array of them), required, properties, additionalProperties (a boolean
 * or a schema), items, enum, minLength/maxLength (code points),
 * minimum/maximum, pattern (POSIX extended syntax over UTF-8 characters,
 * unanchored as in JSON Schema; a match that runs too long is a mismatch)
 * and format (email, date-time per RFC 3339, uri). "$schema", "$id",
 * "title" and "description" are ignored; any other keyword refuses the
 * schema, so a typo in a catalogue file is caught when it is loaded.
 * Schemas and instances nest at most CX_JSONSCHEMA_MAX_DEPTH levels.
 *
 * A schema is compiled once (patterns included) and validated against many
 * times. cx_jsonschema_compile consumes the jv it is given; the compiled
 * schema is the caller's, freed with cx_jsonschema_free. Validation reads
 * the instance and does not consume it. */
#ifndef CX_JSONSCHEMA_H
#define CX_JSONSCHEMA_H

#include <jv.h>

#include "err.h"

#define CX_JSONSCHEMA_MAX_DEPTH 32

typedef struct cx_jsonschema cx_jsonschema;

/* The first way an instance fails its schema. message is one line and never
 * holds a value of the instance; path is a JSON Pointer to the failing value
 * ("" the instance itself, "/email", "/items/0"). A path that would not fit
 * stops at the deepest enclosing value that does. */
typedef struct {
	const char *code;   /* "VALIDATION_FAILED" (static) */
	char message[160];
	char path[512];
} cx_jsonschema_error;

/* Compiles schema (consumed). NULL with err (CX_EXIT_CONFIG, the message
 * naming the JSON Pointer inside the schema) when it is not a schema of the
 * subset. */
cx_jsonschema *cx_jsonschema_compile(jv schema, cx_err *err);
/* Reads and compiles the schema file at path (one JSON value). */
cx_jsonschema *cx_jsonschema_load(const char *path, cx_err *err);
void cx_jsonschema_free(cx_jsonschema *s);

/* 0 when instance (not consumed) is valid, else -1 with *e the first error. */
int cx_jsonschema_validate(const cx_jsonschema *s, jv instance, cx_jsonschema_error *e);

#endif
