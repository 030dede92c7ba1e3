/*
 * test_waitq.c - the queue's wait lines (queue/waitq.c), white-box: the
 * wake-up loops that claim records in batches of futex words.  Records
 * are built by hand with the word each state leaves, so a case that a
 * running queue hits only by timing (a spinner at the head of a long
 * line) is hit every time.  The futex wakes land on words nobody sleeps
 * on, which is harmless.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include "waitq.h"

#include "unit.h"

/* More records than one batch of wakes (BATON__WAKES_MAX) holds. */
#define LINE (BATON__WAKES_MAX + 8)

struct line {
	struct baton__waitq wq;
	atomic_uint words[LINE];
	struct baton__waiter recs[LINE];
};

/*
 * Links LINE records: the first `spinning` still spin (WAITING: claimed
 * without a futex word), the one at `gone` (if < LINE) was claimed by its
 * own deadline, the rest sleep.
 */
static void
line_init(struct line *l, size_t spinning, size_t gone)
{
	*l = (struct line){ .wq = { .lock = BATON__LOCK_INIT } };
	for (size_t i = 0; i < LINE; i++) {
		atomic_init(&l->words[i],
			    i == gone      ? BATON__W_TIMEDOUT
			    : i < spinning ? BATON__W_WAITING
					   : BATON__W_SLEEPING);
		l->recs[i] = (struct baton__waiter){ .word = &l->words[i] };
		baton__waitq_link(&l->wq, &l->recs[i]);
	}
}

static size_t
count_words(struct line *l, unsigned v)
{
	size_t n = 0;

	for (size_t i = 0; i < LINE; i++)
		n += atomic_load(&l->words[i]) == v;
	return n;
}

Test(waitq, wake_all_goes_on_past_a_batch_filled_after_claiming_spinners)
{
	struct line l;

	/*
	 * Two spinners at the head, then more sleepers than one batch: the
	 * first batch claims 2 + 16 records; "claimed 16" is not the sign
	 * that it filled up.
	 */
	line_init(&l, 2, LINE);
	cr_assert_eq(baton__waitq_wake(&l.wq, 0, BATON__W_CLOSED), LINE);
	cr_assert_eq(count_words(&l, BATON__W_CLOSED), LINE);
	cr_assert_null(l.wq.head);
	cr_assert_eq(atomic_load(&l.wq.count), 0);
}

Test(waitq, wake_all_under_the_lock_claims_every_record)
{
	struct line l;

	line_init(&l, 2, LINE);
	baton__lock_acquire(&l.wq.lock);
	cr_assert_eq(baton__waitq_wake_locked(&l.wq, 0, BATON__W_CLOSED),
		     LINE);
	baton__lock_release(&l.wq.lock);
	cr_assert_eq(count_words(&l, BATON__W_CLOSED), LINE);
	cr_assert_null(l.wq.head);
}

Test(waitq, wake_n_claims_exactly_n_across_batches_and_leaves_the_rest)
{
	struct line l;
	unsigned n = BATON__WAKES_MAX + 3;

	line_init(&l, 2, LINE);
	cr_assert_eq(baton__waitq_wake(&l.wq, n, BATON__W_WOKEN), n);
	cr_assert_eq(count_words(&l, BATON__W_WOKEN), n);
	/* FIFO: the first n went, the rest still wait, in order. */
	for (size_t i = 0; i < LINE; i++)
		cr_assert_eq(atomic_load(&l.words[i]) == BATON__W_WOKEN,
			     i < n, "record %zu", i);
	cr_assert_eq(l.wq.head, &l.recs[n]);
	cr_assert_eq(atomic_load(&l.wq.count), LINE - n);
}

Test(waitq, a_record_claimed_by_its_deadline_swallows_no_wake)
{
	struct line l;

	/* The third record timed out: a wake of 3 takes the fourth. */
	line_init(&l, 0, 2);
	cr_assert_eq(baton__waitq_wake(&l.wq, 3, BATON__W_WOKEN), 3);
	cr_assert_eq(atomic_load(&l.words[2]), BATON__W_TIMEDOUT);
	cr_assert_eq(atomic_load(&l.words[3]), BATON__W_WOKEN);
	cr_assert_eq(count_words(&l, BATON__W_WOKEN), 3);
}
