/*
 * reason.c - exit reasons with formatted messages.
 *
 * Design notes
 * ============
 * Why a text is owned by the result and copied into each reader's value:
 * a reader's struct baton_exit_reason must be a plain value the program
 * never frees, valid after the result is gone (a strict task's cell is
 * recycled the moment await returns).  So the reader gets the text in an
 * inline buffer, and only a result's own storage is on the heap.  The
 * copy happens on failure paths only: a value's reason is never exported.
 *
 * The text: one counted heap block (refs, then the bytes), at most
 * BATON_EXIT_TEXT_MAX bytes with its NUL, cut with "..." when formatted,
 * so exporting never cuts again.  The cell keeps a 16-byte
 * struct baton__reason whose `owned` says its message is such a block's
 * bytes; each holder of an owned reason holds one count.  A forward
 * (then, all, any: a failure copied to another cell) takes a count, so
 * it never allocates and cannot fail; the last release frees the block.
 *
 * Who releases: a cell releases its reason and its body's reason when
 * its last reference goes (cell.c); a body's reason replaced by a later
 * baton_exit is released by that call; one a cancel made moot is
 * released by the body's end.
 */
#include "reason.h"

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct text {
	atomic_uint refs;
	char s[];
};

const struct baton__reason baton__reason_normal =
    BATON__REASON(BATON_EXIT_NORMAL, 0, NULL);

static struct text *
text_of(const char *s)
{
	return (struct text *)(void *)(s - offsetof(struct text, s));
}

/* The cut: a character boundary at or before max, then the marker. */
static size_t
cut_at(const char *s, size_t max)
{
	size_t n = max - (sizeof(BATON_EXIT_TRUNCATED) - 1);

	assert(max >= sizeof(BATON_EXIT_TRUNCATED));

	/* Back over UTF-8 continuation bytes: never half a character. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

void
baton__text_cut(char *dst, size_t size, const char *src, size_t n)
{
	size_t len = src != NULL ? strnlen(src, n) : 0;

	if (len < size) {
		memcpy(dst, src != NULL ? src : "", len);
		dst[len] = '\0';
		return;
	}
	len = cut_at(src, size - 1);
	memcpy(dst, src, len);
	memcpy(dst + len, BATON_EXIT_TRUNCATED, sizeof(BATON_EXIT_TRUNCATED));
}

void
baton__text_put(char *dst, const char *src, size_t n)
{
	baton__text_cut(dst, BATON_EXIT_TEXT_MAX, src, n);
}

/* A counted copy of the text in buf (terminated); NULL on ENOMEM. */
static const char *
text_new(const char *buf)
{
	size_t len = strlen(buf);
	struct text *t;

	assert(len < BATON_EXIT_TEXT_MAX);
	t = baton__malloc(sizeof(*t) + len + 1);
	if (t == NULL)
		return NULL;
	/* relaxed: published with whatever publishes the reason. */
	atomic_init(&t->refs, 1);
	memcpy(t->s, buf, len + 1);
	return t->s;
}

static const char lost[] = "message lost: out of memory";

int
baton__reason_vformat(struct baton__reason *out, int kind, int code,
		      const char *fmt, va_list ap)
{
	/* One spare byte: a text of exactly MAX-1 bytes is not cut. */
	char buf[BATON_EXIT_TEXT_MAX + 1];
	char cut[BATON_EXIT_TEXT_MAX];
	const char *s;
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		buf[0] = '\0'; /* an encoding error: no text, still the exit */
	baton__text_put(cut, buf, sizeof(buf));
	s = text_new(cut);
	*out = (struct baton__reason)BATON__REASON(kind, code, s);
	if (s == NULL) {
		out->message = lost;
		return -ENOMEM;
	}
	out->owned = true;
	return 0;
}

void
baton__reason_copy(struct baton__reason *dst, const struct baton__reason *src)
{
	*dst = *src;
	/* relaxed: the caller already holds a count (the source's). */
	if (src->owned)
		atomic_fetch_add_explicit(&text_of(src->message)->refs, 1,
					  memory_order_relaxed);
}

void
baton__reason_release(struct baton__reason *r)
{
	if (r->owned) {
		struct text *t = text_of(r->message);

		/* acq_rel: the last holder frees after every other use. */
		if (atomic_fetch_sub_explicit(&t->refs, 1,
					      memory_order_acq_rel) == 1)
			free(t);
	}
	*r = baton__reason_normal;
}

void
baton__reason_export(struct baton_exit_reason *out,
		     const struct baton__reason *r)
{
	out->kind = (enum baton_exit_kind)r->kind;
	out->code = r->code;
	out->message = r->owned ? NULL : r->message;
	baton__text_put(out->text, r->message, SIZE_MAX);
}

void
baton__reason_set(struct baton_exit_reason *out, int kind, int code,
		  const char *message)
{
	out->kind = (enum baton_exit_kind)kind;
	out->code = code;
	out->message = message;
	baton__text_put(out->text, message, SIZE_MAX);
}

int
baton__reason_import(struct baton__reason *out,
		     const struct baton_exit_reason *in)
{
	char buf[BATON_EXIT_TEXT_MAX];
	const char *s;

	*out = (struct baton__reason)BATON__REASON(in->kind, in->code,
						   in->message);
	if (in->message != NULL || in->text[0] == '\0')
		return 0;
	/* The program's buffer may lack its NUL: read MAX bytes at most. */
	baton__text_put(buf, in->text, sizeof(in->text));
	if ((s = text_new(buf)) == NULL)
		return -ENOMEM;
	out->message = s;
	out->owned = true;
	return 0;
}
