/*
 * xproc_fuzz.c - libFuzzer over a corrupted segment image
 * (include/baton/shm.h): a hostile or broken peer may write anything into
 * the shared memory; no call of this process may then read or write out of
 * bounds (requirement 5: ASan and UBSan watch every access).
 *
 * Each input is a list of records.  A pristine image (a few futures in
 * every state, a queue with items, a second process row) is copied over
 * the segment, then:
 *   'w' off:u32 val:u32   stores val at word off of the metadata (the
 *                         header's shape, the undo log, rows, slots,
 *                         refs, queues, roles, ring, free lists)
 *   's' / 'q' / 'p' i:u8 k:u8 val:u32
 *                         stores val at word k of slot i, queue i or
 *                         process row i (the structured form of 'w')
 *   'o' op:u8 a:u8 b:u8   runs one call (all with timeout 0) on future a
 *                         (its id built from the image's generation), queue
 *                         b, or both
 *   'L' owner:u32 op:u8 a:u8 b:u8
 *                         leaves the lock held by a garbage owner word
 *                         (never a pid, never a live row's owner), then
 *                         runs one call as 'o' does: its lock takes the
 *                         lock over, rolls the (fuzzed) undo log back and
 *                         cleans after the row the word names
 * and 'a' attaches the image afresh (the header checks) and detaches.
 * Beyond ASan's watch (the mapping is not its memory), every value a call
 * hands out must lie inside the segment and within the stated maximum,
 * every popped id inside the slot table, every depth within capacity.
 * The lock word is cleared before each 'o' (a peer holding it while
 * alive is a denial of service the trust model allows, and would hang
 * the fuzzer); 'L' leaves it to a dead or garbage owner instead;
 * everything else is fair game, the undo log included.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true
 *   build-fuzz/tests/fuzz/xproc_fuzz -runs=20000
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <baton.h>

#include "xproc.h"

static baton_shm *seg;
static unsigned char *pristine;
static size_t meta_words;

static baton_shm_future
fut(uint8_t a)
{
	uint32_t i = a % seg->l.max_futures;
	baton_shm_future f = { xid(i, xld(&xslot_at(seg, i)->gen)) };

	return f;
}

static baton_shm_queue
que(uint8_t b)
{
	uint32_t i = b % seg->l.max_queues;
	baton_shm_queue q = { xid(i, xld(&xq_at(seg, i)->gen)) };

	return q;
}

static void
setup(void)
{
	struct baton_shm_opts o = {
		.max_procs = 4, .max_futures = 8, .max_queues = 2,
		.queue_capacity = 4, .arena_blocks = 2, .block_size = 128,
		.spin_ns = 2000, /* BATON_SHM_OPTS_INIT's */
	};
	baton_shm_promise p;
	baton_shm_future f;
	baton_shm_queue q;
	char big[100] = { 1 };

	if (baton_shm_create(&seg, &o) != 0)
		abort();
	baton_shm_queue_create(seg, 4, &q);
	baton_shm_queue_join(seg, q, BATON_SHM_PRODUCER | BATON_SHM_CONSUMER);
	for (int i = 0; i < 5; i++) {
		baton_shm_promise_create(seg, &p, &f);
		if (i == 1)
			baton_shm_promise_fulfil(seg, p, "abc", 3);
		if (i == 2)
			baton_shm_promise_fulfil(seg, p, big, sizeof(big));
		if (i == 3)
			baton_shm_promise_fail(seg, p, BATON_EXIT_ERROR, 5);
		if (i != 0)
			baton_shm_promise_destroy(seg, p);
		if (i < 3) {
			/* One reference travels, one stays readable here. */
			baton_shm_future_ref(seg, f);
			baton_shm_queue_push(seg, q, f, 0);
		}
	}
	/* A second row, as a peer that died long ago would leave it. */
	atomic_store(&xproc_at(seg, 1)->state, P_ALIVE);
	atomic_store(&xproc_at(seg, 1)->pid, 0x3fffffff);
	meta_words = seg->l.meta_end / 4;
	pristine = malloc(seg->size);
	if (pristine == NULL)
		abort();
	memcpy(pristine, seg->base, seg->size);
}

static void
op(uint8_t code, uint8_t a, uint8_t b)
{
	struct baton_shm_reason why;
	struct baton_shm_stats st;
	baton_shm_promise p;
	baton_shm_future f, fs[8];
	const void *v;
	char buf[256];
	ptrdiff_t k;
	size_t n;

	size_t max = seg->l.arena_blocks ? seg->l.block_size : BATON_SHM_INLINE;
	int r;

	switch (code % 16) {
	case 0: baton_shm_stats(seg, &st); break;
	case 1: baton_shm_reap(seg); break;
	case 2:
		/* A batch pop: never more than asked, every id in range. */
		k = baton_shm_queue_pop_many(seg, que(b), fs, 1 + a % 8, 0);
		if (k > 1 + a % 8)
			abort();
		for (ptrdiff_t i = 0; i < k; i++)
			if ((uint32_t)fs[i].id >= seg->l.max_futures)
				abort();
		if (k > 0)
			baton_shm_future_unref_many(seg, fs, (size_t)k);
		break;
	case 3:
		r = baton_shm_future_copy(seg, fut(a), 0, buf, sizeof(buf), &n,
					  &why);
		if ((r == 0 || r == -EMSGSIZE) && n > max)
			abort();
		break;
	case 4:
		r = baton_shm_future_take(seg, fut(a), 0, buf, b, &n, &why);
		if ((r == 0 || r == -EMSGSIZE) && n > max)
			abort();
		break;
	case 5:
		if (baton_shm_future_borrow(seg, fut(a), 0, &v, &n, &why) == 0) {
			const unsigned char *c = v;

			if (n > max || c < seg->base ||
			    c + n > seg->base + seg->size)
				abort();
			memcpy(buf, v, n < sizeof(buf) ? n : sizeof(buf));
		}
		break;
	case 6: baton_shm_future_unref(seg, fut(a)); break;
	case 7: baton_shm_future_ref(seg, fut(a)); break;
	case 8: baton_shm_queue_push(seg, que(b), fut(a), 0); break;
	case 9: baton_shm_queue_close_discard(seg, que(b)); break;
	case 10:
		/* A value made ready: in one call, or through a promise. */
		memset(buf, a, sizeof(buf));
		if (a & 2) { /* a batch of up to 4, pushed as one */
			k = baton_shm_future_completed_many(seg, buf, b % 64,
							    1 + a % 4, fs);
			r = k > 0 ? (int)baton_shm_queue_push_many(
					    seg, que(a), fs, (size_t)k, 0)
				  : -1;
			if (k > 0 && r > k)
				abort(); /* pushed more than it was given */
			break;
		} else if (a & 1) {
			r = baton_shm_future_completed(seg, buf, b, &f);
		} else if ((r = baton_shm_promise_create(seg, &p, &f)) == 0) {
			baton_shm_promise_fulfil(seg, p, buf, b);
			baton_shm_promise_destroy(seg, p);
		}
		if (r == 0)
			baton_shm_queue_push(seg, que(a), f, 0);
		break;
	case 11: baton_shm_future_cancel(seg, fut(a)); break;
	case 12:
		if (baton_shm_queue_depth(seg, que(b)) >
		    (int)seg->l.queue_capacity)
			abort();
		break;
	case 13: {
		baton_shm_promise q = { fut(a).id };

		baton_shm_promise_fulfil(seg, q, buf, b);
		baton_shm_promise_destroy(seg, q);
		break;
	}
	case 14: baton_shm_queue_join(seg, que(b), 1 + a % 3); break;
	default: baton_shm_queue_leave(seg, que(b), 1 + a % 3); break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	if (seg == NULL)
		setup();
	memcpy(seg->base, pristine, seg->size);
	while (i < size) {
		uint8_t kind = data[i++];

		if (kind == 'w' && i + 8 <= size) {
			uint32_t off, val;

			memcpy(&off, data + i, 4);
			memcpy(&val, data + i + 4, 4);
			i += 8;
			atomic_store_explicit(
			    (xu32 *)(void *)seg->base + off % meta_words, val,
			    memory_order_relaxed);
		} else if ((kind == 's' || kind == 'q' || kind == 'p') &&
			   i + 6 <= size) {
			xu32 *base;
			size_t words;
			uint32_t val;

			if (kind == 's') {
				base = &xslot_at(seg, data[i] %
						 seg->l.max_futures)->state;
				words = sizeof(struct xslot) / 4;
			} else if (kind == 'q') {
				base = &xq_at(seg, data[i] %
					      seg->l.max_queues)->state;
				words = sizeof(struct xqueue) / 4;
			} else {
				base = &xproc_at(seg, data[i] %
						 seg->l.max_procs)->state;
				words = sizeof(struct xproc) / 4;
			}
			memcpy(&val, data + i + 2, 4);
			atomic_store_explicit(base + data[i + 1] % words, val,
					      memory_order_relaxed);
			i += 6;
		} else if (kind == 'o' && i + 3 <= size) {
			atomic_store(&xhdr(seg)->lock, 0);
			op(data[i], data[i + 1], data[i + 2]);
			i += 3;
		} else if (kind == 'L' && i + 7 <= size) {
			uint32_t owner;

			memcpy(&owner, data + i, 4);
			owner &= ~(X_PID_OWNER | X_LOCK_WAITERS);
			/* Our own word or a live owner's holds it for good
			 * (baton__xlock never takes those over): the denial
			 * of service, not a takeover. */
			if (owner == seg->lock_id ||
			    baton__xowner_alive(seg, owner))
				owner = 0;
			atomic_store(&xhdr(seg)->lock, owner);
			op(data[i + 4], data[i + 5], data[i + 6]);
			i += 7;
		} else if (kind == 'a') {
			baton_shm *other;

			atomic_store(&xhdr(seg)->lock, 0);
			if (baton_shm_attach(&other, baton_shm_fd(seg)) == 0)
				baton_shm_detach(other);
		}
	}
	return 0;
}
