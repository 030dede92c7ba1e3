/*
 * combinators.c - futures made of futures: all, any and first-k.
 *
 * Design notes
 * ============
 * A combined future is a result cell created as a promise's is: RUNNING
 * with no body, so nobody can claim it to run it, and completers race
 * (cell.c).  Behind it sits one heap context:
 *
 *	struct combine
 *	  out       the combined cell (the context's own reference)
 *	  inputs[]  a reference on every input, in input order
 *	  list      the value being built, allocated up front so that no
 *	            callback ever allocates
 *	  ok, failed, slot, refs   atomics, below
 *
 * and one struct baton__callback per input (baton__malloc, so that a
 * fault-injection build can fail it; cell.c frees each node after running
 * it).  Every input callback counts its input's outcome, and exactly one
 * of them is decisive:
 *
 *	success  `slot` hands out list positions in completion order (first)
 *	         and `ok` counts the filled ones; the callback that brings
 *	         `ok` to k completes the cell with the list.
 *	failure  `failed` counts failures (broken and cancelled inputs
 *	         included); the callback that brings it to n - k + 1, the
 *	         first count at which k successes are impossible, completes
 *	         the cell with its input's reason.
 *
 * all is first with k = n (one failure decides) whose list is filled in
 * input order at the end; any is first with k = 1 (the n-th failure, the
 * last, decides).  Since ok + failed <= n and k + (n - k + 1) > n, at most
 * one of the two thresholds is ever reached, and once every callback has
 * run one of them has been: the combined cell is then claimed.
 *
 * Completing is claim, fill, publish (cell.c), so a decisive callback that
 * finds the claim taken (a cancel of the combined future won: it settles
 * a RUNNING cell with no body as cancelled, future.c) simply keeps its
 * list.  A broken input propagates as broken: CELL_BROKEN is raised on
 * the combined cell before it is published, as future.c's then does.
 * Inputs are never cancelled from here: other holders may want them.
 *
 * Who frees what.  The context holds one count per registered callback;
 * the last callback to run frees it: the input references, the
 * context's reference on the combined cell, and the list unless it was
 * handed over (then the combined cell's value destructor,
 * baton_future_list_free, owns it).  By then the combined cell is
 * claimed (above); a cancel still publishing holds its caller's
 * reference on the cell and never touches the context.  A pending
 * combined future whose last reference is dropped stays alive through
 * the context's reference until its inputs complete; an input that never
 * completes (a promise kept forever) keeps the context forever, as it
 * keeps its own waiters.
 *
 * Ordering.  Each input callback runs after its input's completion
 * (cell.c's callback list gives the edge).  `ok` and `failed` are
 * acq_rel read-modify-writes, so the decisive callback has seen every
 * counted completion before it publishes with release: every input's
 * completion happens-before a successful wait on the combined future.
 */
#include <stdint.h>
#include <stdlib.h>

#include "alloc.h"
#include "baton/combinators.h"
#include "cell.h"

#define CELL(f) ((struct baton__cell *)(void *)(f))
#define FUTURE(c) ((baton_future *)(void *)(c))

enum combine_order { INPUT_ORDER, COMPLETION_ORDER };

struct combine {
	struct baton__cell *out;
	struct baton_future_list *list;
	size_t n, k;
	enum combine_order order;
	bool handed_over;            /* the decisive callback only */
	atomic_size_t ok;            /* filled list positions / successes */
	atomic_size_t failed;        /* failed, broken or cancelled inputs */
	atomic_size_t slot;          /* next list position (completion order) */
	atomic_size_t refs;          /* callbacks that have not run yet */
	struct baton__cell *inputs[];
};

void
baton_future_list_free(void *list)
{
	struct baton_future_list *l = list;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		baton_future_unref(l->items[i]);
	free(l);
}

static void
combine_release(struct combine *c)
{
	/* acq_rel: the last callback sees every write of the others. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (!c->handed_over) {
		if (c->order == COMPLETION_ORDER) {
			/* relaxed: every writer has run (refs above). */
			size_t filled = atomic_load_explicit(
			    &c->slot, memory_order_relaxed);

			c->list->n = filled < c->k ? filled : c->k;
		}
		baton_future_list_free(c->list);
	}
	for (size_t i = 0; i < c->n; i++)
		baton__cell_unref(c->inputs[i]);
	baton__cell_unref(c->out);
	free(c);
}

/* Completes the combined cell with the list, unless a cancel won. */
static void
complete_with_list(struct combine *c)
{
	struct baton__cell *out = c->out;

	if (!baton__cell_claim_completion(out))
		return;
	if (c->order == INPUT_ORDER) {
		for (size_t i = 0; i < c->n; i++) {
			c->list->items[i] =
			    FUTURE(baton__cell_ref(c->inputs[i]));
		}
		c->list->n = c->n;
	} else {
		c->list->n = c->k;
	}
	c->handed_over = true;
	out->value = c->list;
	out->destroy = baton_future_list_free;
	baton__cell_publish(out);
}

/* Completes the combined cell as input failed, unless a cancel won. */
static void
complete_with_failure(struct combine *c, struct baton__cell *input)
{
	struct baton__cell *out = c->out;

	if (baton__cell_claim_completion(out))
		baton__cell_publish_failure_of(out, input);
}

static bool
input_failed(const struct baton__cell *input)
{
	return baton__cell_is_broken(input) || baton__cell_failed(input);
}

static void
input_done(struct baton__cell *input, void *arg)
{
	struct combine *c = arg;

	/*
	 * acquire: a combined cell already claimed (decided, or cancelled)
	 * needs nothing more from this input; its completer publishes.
	 */
	if (atomic_load_explicit(&c->out->state, memory_order_acquire) !=
	    BATON_TASK_RUNNING) {
		combine_release(c);
		return;
	}
	if (input_failed(input)) {
		/* acq_rel: the decisive failure sees every earlier outcome. */
		if (atomic_fetch_add_explicit(&c->failed, 1,
					      memory_order_acq_rel) ==
		    c->n - c->k)
			complete_with_failure(c, input);
	} else if (c->order == INPUT_ORDER) {
		/* acq_rel: the n-th success sees every input's completion. */
		if (atomic_fetch_add_explicit(&c->ok, 1,
					      memory_order_acq_rel) == c->k - 1)
			complete_with_list(c);
	} else {
		/* relaxed: only hands out distinct positions. */
		size_t at = atomic_fetch_add_explicit(&c->slot, 1,
						      memory_order_relaxed);

		if (at < c->k) {
			c->list->items[at] = FUTURE(baton__cell_ref(input));
			/* acq_rel: the k-th filler sees the others' writes. */
			if (atomic_fetch_add_explicit(&c->ok, 1,
						      memory_order_acq_rel) ==
			    c->k - 1)
				complete_with_list(c);
		}
	}
	combine_release(c);
}

static int
combine(baton_future **out, baton_future *const *inputs, size_t n, size_t k,
	enum combine_order order, const char *label)
{
	struct baton__callback **nodes = NULL;
	struct baton_future_list *list = NULL;
	struct baton__cell *cell = NULL;
	struct combine *c = NULL;
	size_t nlist = order == INPUT_ORDER ? n : k;

	if (n > (SIZE_MAX - sizeof(*c)) / sizeof(c->inputs[0]) ||
	    n > SIZE_MAX / sizeof(*nodes))
		return -ENOMEM;
	c = baton__malloc(sizeof(*c) + n * sizeof(c->inputs[0]));
	list = baton__malloc(sizeof(*list) + nlist * sizeof(list->items[0]));
	nodes = baton__malloc((n > 0 ? n : 1) * sizeof(*nodes));
	cell = baton__cell_alloc_pending();
	if (c == NULL || list == NULL || nodes == NULL || cell == NULL)
		goto nomem;
	/* The items live right after the header, in the same allocation. */
	list->items = (baton_future **)(void *)(list + 1);
	for (size_t i = 0; i < n; i++) {
		if ((nodes[i] = baton__malloc(sizeof(*nodes[i]))) == NULL) {
			while (i-- > 0)
				free(nodes[i]);
			goto nomem;
		}
	}
	list->n = 0;

	/* relaxed: read by introspection only. */
	baton__cell_set_body(cell, NULL, NULL, label, NULL);
	*out = FUTURE(cell);

	if (n == 0) { /* all of nothing: an empty list, at once */
		free(c);
		free(nodes);
		baton__cell_claim_completion(cell);
		cell->value = list;
		cell->destroy = baton_future_list_free;
		baton__cell_publish(cell);
		return 0;
	}

	c->out = baton__cell_ref(cell); /* the caller keeps the first */
	c->list = list;
	c->n = n;
	c->k = k;
	c->order = order;
	c->handed_over = false;
	/* relaxed: published to the callbacks by their registration. */
	atomic_init(&c->ok, 0);
	atomic_init(&c->failed, 0);
	atomic_init(&c->slot, 0);
	atomic_init(&c->refs, n);
	for (size_t i = 0; i < n; i++)
		c->inputs[i] = baton__cell_ref(CELL(inputs[i]));
	/*
	 * From the first registration on, callbacks may run (here or on
	 * completing threads) and the last of them frees c: touch only
	 * nodes[] and inputs[], never c, once the last one is registered.
	 */
	for (size_t i = 0; i < n; i++) {
		struct baton__cell *input = CELL(inputs[i]);

		*nodes[i] = (struct baton__callback){ input_done, c, NULL };
		if (!baton__cell_add_callback(input, nodes[i])) {
			free(nodes[i]);
			input_done(input, c);
		}
	}
	free(nodes);
	return 0;

nomem:
	free(c);
	free(list);
	free(nodes);
	if (cell != NULL)
		baton__cell_unref(cell);
	return -ENOMEM;
}

static int
check_inputs(baton_future **out, baton_future *const *inputs, size_t n)
{
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (inputs == NULL && n > 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (inputs[i] == NULL)
			return -EINVAL;
	return 0;
}

int
baton_future_all(baton_future **out, baton_future *const *inputs, size_t n)
{
	int r = check_inputs(out, inputs, n);

	if (r != 0)
		return r;
	return combine(out, inputs, n, n, INPUT_ORDER, "baton_future_all");
}

int
baton_future_any(baton_future **out, baton_future *const *inputs, size_t n)
{
	int r = check_inputs(out, inputs, n);

	if (r != 0)
		return r;
	if (n == 0)
		return -EINVAL;
	return combine(out, inputs, n, 1, COMPLETION_ORDER, "baton_future_any");
}

int
baton_future_first(baton_future **out, baton_future *const *inputs,
		   size_t n, size_t k)
{
	int r = check_inputs(out, inputs, n);

	if (r != 0)
		return r;
	if (k == 0 || k > n)
		return -EINVAL;
	return combine(out, inputs, n, k, COMPLETION_ORDER,
		       "baton_future_first");
}
