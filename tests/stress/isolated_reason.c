/*
 * isolated_reason.c - an isolated body's baton_exit/baton_exitf crosses
 * the process boundary: its kind, code and text reach the awaiter (cut
 * with the marker when long), whatever the body returns; and a worker
 * that corrupts the exit record in its channel (a length or kind out of
 * range) gets EPROTO, never a read past the channel.  A reason is left
 * untouched on -ETIMEDOUT.
 *
 * Run: build/tests/stress/isolated_reason (plain: it forks workers).
 */
#include <stdio.h>

#include "channel.h"
#include "isolated_common.h"

static int
body_exitf(const void *a, size_t n, void *out, size_t *ol)
{
	int id;

	memcpy(&id, a, n < sizeof(id) ? n : sizeof(id));
	*ol = 0;
	(void)out;
	baton_exitf(BATON_EXIT_ERROR, 42, "input %d: bad header", id);
	return 0; /* the exit wins over the return */
}

static int
body_long(const void *a, size_t n, void *out, size_t *ol)
{
	char s[3 * BATON_EXIT_TEXT_MAX];

	(void)a;
	(void)n;
	(void)out;
	*ol = 0;
	memset(s, 'l', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	baton_exitf(BATON_EXIT_TIMEOUT, 1, "%s", s);
	return 0;
}

/* The worker's own channel: the memfd mapping named baton-isolated. */
static struct baton__iso_channel *
my_channel(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	void *p = NULL;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "baton-isolated") != NULL) {
			sscanf(line, "%p", &p);
			break;
		}
	}
	if (f != NULL)
		fclose(f);
	return p;
}

/* A hostile worker: records an exit, then breaks its length or kind. */
static int
body_corrupt(const void *a, size_t n, void *out, size_t *ol)
{
	struct baton__iso_channel *ch = my_channel();
	int how = 0;

	memcpy(&how, a, n < sizeof(how) ? n : sizeof(how));
	(void)out;
	*ol = 0;
	baton_exitf(BATON_EXIT_ERROR, 1, "honest");
	if (ch == NULL)
		return 99;
	if (how == 0)
		ch->exit_len = 1u << 30;
	else if (how == 1)
		ch->exit_len = BATON_EXIT_TEXT_MAX;
	else
		ch->exit_kind = 1000;
	return 0;
}

int
main(void)
{
	struct baton_isolated_value v;
	struct baton_exit_reason why;
	baton_isolated t;
	int r, id = 7;
	size_t len;

	iso_init("isolated_reason", 2, 0, 60);

	r = baton_isolated_async(&t, body_exitf, &id, sizeof(id));
	r = r ? r : baton_isolated_await(&t, 5000, &v, &why);
	CHECK(r == BATON_EXITED, "exitf: %d", r);
	CHECK(why.kind == BATON_EXIT_ERROR && why.code == 42 &&
		  why.message == NULL &&
		  strcmp(why.text, "input 7: bad header") == 0,
	      "exitf: kind %d code %d text '%s'", why.kind, why.code,
	      why.text);
	CHECK(baton_isolated_reason_signal(&why) == 0, "not a signal");

	r = baton_isolated_async(&t, body_long, "", 0);
	r = r ? r : baton_isolated_await(&t, 5000, &v, &why);
	len = strnlen(why.text, sizeof(why.text));
	CHECK(r == BATON_EXITED && why.kind == BATON_EXIT_TIMEOUT &&
		  len == BATON_EXIT_TEXT_MAX - 1 &&
		  strcmp(why.text + len - 3, BATON_EXIT_TRUNCATED) == 0,
	      "long: %d kind %d length %zu", r, why.kind, len);

	for (int how = 0; how < 3; how++) {
		r = baton_isolated_async(&t, body_corrupt, &how, sizeof(how));
		r = r ? r : baton_isolated_await(&t, 5000, &v, &why);
		CHECK(r == BATON_EXITED && why.kind == BATON_EXIT_ERROR &&
			  why.code == EPROTO,
		      "corrupt %d: %d kind %d code %d '%s'", how, r, why.kind,
		      why.code, why.text);
	}

	/* -ETIMEDOUT leaves the reason alone (yield, then await). */
	r = baton_isolated_async(&t, body_gated, &id, sizeof(id));
	CHECK(r == 0, "gated: %d", r);
	wait_started();
	memset(&why, 'x', sizeof(why));
	r = baton_isolated_yield(&t, 10, &v, &why);
	CHECK(r == -ETIMEDOUT && why.text[0] == 'x', "yield: %d", r);
	r = baton_isolated_await(&t, 10, &v, &why);
	CHECK(r == -ETIMEDOUT && why.text[0] == 'x', "await: %d", r);
	release(1);
	return iso_finish("isolated_reason");
}
