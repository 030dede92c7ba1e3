/*
 * reason.h - internal: an exit reason as a result cell keeps it, with a
 * formatted message it owns, and the conversion to the plain value every
 * reader gets (struct baton_exit_reason, baton/task.h).
 */
#ifndef BATON_SRC_REASON_H
#define BATON_SRC_REASON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "baton/task.h"

/*
 * 16 bytes, like the public struct used to be, so the cell's run line
 * still holds two.  message is static text, or (owned) the bytes of a
 * counted heap text: whoever holds an owned reason holds one count.
 */
struct baton__reason {
	uint8_t kind;  /* enum baton_exit_kind */
	bool owned;    /* message is a counted text (reason.c) */
	int32_t code;
	const char *message;
};

/* A static reason (no text to free): BATON__REASON(KILLED, 0, "..."). */
#define BATON__REASON(kind, code, message) \
	{ (uint8_t)(kind), false, (code), (message) }

/* The reason of a value: NORMAL, 0, no message. */
extern const struct baton__reason baton__reason_normal;

/*
 * Formats fmt into a new counted text, cut as the public text is (at most
 * BATON_EXIT_TEXT_MAX - 1 bytes, "..." when cut): *out is an owned reason.
 * -ENOMEM: *out is a static reason with the same kind and code.
 */
int baton__reason_vformat(struct baton__reason *out, int kind, int code,
			  const char *fmt, va_list ap);

/* One more holder of r's text (a forward): *dst = *src, counted. */
void baton__reason_copy(struct baton__reason *dst,
			const struct baton__reason *src);

/* Drops r's count on its text (the last frees it); r becomes NORMAL. */
void baton__reason_release(struct baton__reason *r);

/*
 * Fills the plain value a reader gets: kind, code, message (NULL for an
 * owned text) and text (cut, NUL-terminated).  Failure paths only.
 */
void baton__reason_export(struct baton_exit_reason *out,
			  const struct baton__reason *r);

/*
 * A reason handed in by the program (baton_promise_fail): a non-NULL
 * message is kept as static text; else a non-empty text (read up to
 * BATON_EXIT_TEXT_MAX bytes, terminated or not) is copied into an owned
 * one.  -ENOMEM (nothing held).
 */
int baton__reason_import(struct baton__reason *out,
			 const struct baton_exit_reason *in);

/*
 * Writes src into dst[BATON_EXIT_TEXT_MAX], at most n bytes of it (src
 * need not be terminated within n), cut at a character boundary with
 * BATON_EXIT_TRUNCATED when it does not fit; always terminated.  For the
 * layers that bring a text from elsewhere (isolated, shm).
 */
void baton__text_put(char *dst, const char *src, size_t n);

/* As baton__text_put, into dst[size] (size > 3). */
void baton__text_cut(char *dst, size_t size, const char *src, size_t n);

/*
 * Clears a reader's reason cheaply (kind NORMAL, code 0, message NULL,
 * text ""): four stores, not a buffer.
 */
static inline void
baton__reason_clear(struct baton_exit_reason *r)
{
	r->kind = BATON_EXIT_NORMAL;
	r->code = 0;
	r->message = NULL;
	r->text[0] = '\0';
}

/* A reader's reason from static parts (text copied from message). */
void baton__reason_set(struct baton_exit_reason *out, int kind, int code,
		       const char *message);

/*
 * Set in an isolated worker (no cell runs its bodies): baton_exit and
 * baton_exitf hand the reason to it, borrowed; 0 or -EINVAL.
 */
extern int (*baton__exit_hook)(const struct baton__reason *reason);

#endif /* BATON_SRC_REASON_H */
