/*
 * tsan_sees_ck.c - proves that ThreadSanitizer sees Concurrency Kit's
 * synchronisation through the shadow tests/tsan/ck_pr.h.
 *
 * Two threads take turns on plain (non-atomic) ints; the only
 * happens-before between their turns is a Concurrency Kit handoff:
 *   store_load  ck_pr_store_uint / ck_pr_load_uint on a turn flag
 *   faa         ck_pr_faa_32 / ck_pr_load_32 (what ck_ec32_add does)
 *   cas         ck_pr_cas_uint_value / ck_pr_load_uint
 *   ec          ck_ec32_add (multi-producer) / ck_ec32_value
 *   ring        ck_ring_enqueue_spmc / ck_ring_dequeue_spmc of a pointer
 * In the TSan build (shadow first on the include path) TSan must report
 * nothing.  Compiled against the real ck_pr.h with -fsanitize=thread, TSan
 * cannot see the inline-assembly atomics and reports a data race on the
 * plain ints: see tests/tsan/README.
 *
 * Run: ./tsan_sees_ck
 * Output: tsan_sees_ck: 5 channels x 2000 turns ok (shadow ck_pr.h: yes)
 */
#include <ck_ec.h>
#include <ck_pr.h>
#include <ck_ring.h>

#include "stress.h"

#if STRESS_TSAN && !defined(CK_PR_TSAN_SHADOW) && !defined(TSAN_SEES_CK_REAL)
#error "ThreadSanitizer build without tests/tsan/ck_pr.h first on the path"
#endif

#define TURNS 1000

enum channel { CH_STORE_LOAD, CH_FAA, CH_CAS, CH_EC, CH_RING, CH_COUNT };

static const char *const channel_names[CH_COUNT] = {
	"store_load", "faa", "cas", "ec", "ring"
};

/* Never called: nobody sleeps on the event count, so it is never flagged. */
static void
no_wake(const struct ck_ec_ops *ops, const uint32_t *word)
{
	(void)ops;
	(void)word;
	abort();
}

static const struct ck_ec_ops ec_ops = { .wake32 = no_wake };
static const struct ck_ec_mode ec_mode = { .ops = &ec_ops,
					   .single_producer = false };

struct channel_state {
	enum channel ch;
	/* The plain data the turns hand over. */
	int shared;
	/* The handoff state: whose turn it is, in some form. */
	unsigned int turn;
	uint32_t count;
	struct ck_ec32 ec;
	struct ck_ring ring[2];
	void *slots[2][4];
	int payload[2];
	int errors[2];
};

/*
 * A spin-wait step: a pause, and now and then a yield, so that the turns
 * keep moving on a loaded machine (no happens-before comes from either).
 */
static void
backoff(unsigned int *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		ck_pr_stall();
}

/* Blocks until it is `me`'s turn number t (t counts both threads' turns). */
static void
wait_turn(struct channel_state *s, int me, unsigned int t)
{
	unsigned int spins = 0;
	void *got;

	switch (s->ch) {
	case CH_STORE_LOAD:
	case CH_CAS:
		while (ck_pr_load_uint(&s->turn) != t)
			backoff(&spins);
		break;
	case CH_FAA:
		while (ck_pr_load_32(&s->count) != t)
			backoff(&spins);
		break;
	case CH_EC:
		while (ck_ec32_value(&s->ec) != t)
			backoff(&spins);
		break;
	default:
		/* The other thread's pointer to our payload slot. */
		while (!ck_ring_dequeue_spmc(&s->ring[me],
					     (struct ck_ring_buffer *)
					     s->slots[me], &got))
			backoff(&spins);
		if (got != &s->payload[me] || s->payload[me] != (int)t)
			s->errors[me]++;
		break;
	}
}

/* Hands turn t+1 over to the other thread. */
static void
pass_turn(struct channel_state *s, int me, unsigned int t)
{
	unsigned int seen;

	switch (s->ch) {
	case CH_STORE_LOAD:
		ck_pr_store_uint(&s->turn, t + 1);
		break;
	case CH_CAS:
		while (!ck_pr_cas_uint_value(&s->turn, t, t + 1, &seen))
			ck_pr_stall();
		break;
	case CH_FAA:
		(void)ck_pr_faa_32(&s->count, 1);
		break;
	case CH_EC:
		(void)ck_ec32_add(&s->ec, &ec_mode, 1);
		break;
	default:
		/* Plain payload write, then publish its address. */
		s->payload[1 - me] = (int)(t + 1);
		while (!ck_ring_enqueue_spmc(&s->ring[1 - me],
					     (struct ck_ring_buffer *)
					     s->slots[1 - me],
					     &s->payload[1 - me]))
			ck_pr_stall();
		break;
	}
}

struct player {
	struct channel_state *s;
	int me;
};

static void *
play(void *arg)
{
	struct player *p = arg;
	struct channel_state *s = p->s;

	/* Thread 0 takes even turns, thread 1 odd ones. */
	for (unsigned int t = (unsigned int)p->me; t < 2 * TURNS; t += 2) {
		if (t > 0)
			wait_turn(s, p->me, t);
		/* Plain read-modify-write: a race unless the turn orders it. */
		if (s->shared != (int)t)
			s->errors[p->me]++;
		s->shared = (int)t + 1;
		pass_turn(s, p->me, t);
	}
	return NULL;
}

int
main(void)
{
	int failures = 0;

	for (int ch = 0; ch < CH_COUNT; ch++) {
		struct channel_state *s = calloc(1, sizeof(*s));
		struct player players[2];
		pthread_t threads[2];

		if (s == NULL)
			return 2;
		s->ch = (enum channel)ch;
		ck_ec32_init(&s->ec, 0);
		ck_ring_init(&s->ring[0], 4);
		ck_ring_init(&s->ring[1], 4);
		for (int i = 0; i < 2; i++) {
			players[i].s = s;
			players[i].me = i;
			stress_thread_create(&threads[i], play, &players[i]);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(threads[i], NULL);
		if (s->errors[0] + s->errors[1] != 0 ||
		    s->shared != 2 * TURNS) {
			fprintf(stderr, "FAIL: channel %s: %d errors, shared "
				"%d\n", channel_names[ch],
				s->errors[0] + s->errors[1], s->shared);
			failures++;
		}
		free(s);
	}
	printf("tsan_sees_ck: %d channels x %d turns %s (tsan: %s, shadow "
	       "ck_pr.h: %s)\n", CH_COUNT, 2 * TURNS,
	       failures ? "FAILED" : "ok", STRESS_TSAN ? "yes" : "no",
#ifdef CK_PR_TSAN_SHADOW
	       "yes"
#else
	       "no"
#endif
	);
	return failures ? 1 : 0;
}
