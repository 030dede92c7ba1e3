/*
 * xproc.h - internal: the segment layout shared by the files of src/xproc/, the
 * process-private handle, the segment lock and its undo log.
 *
 * Every field in the segment is a 32-bit atomic word (value bytes aside):
 * the undo log records (offset, old value) pairs of one width, and a peer
 * never sees a torn field.  Nothing in the segment is trusted after attach:
 * callers go through the checked accessors below (slot_at, q_at, ...).
 */
#ifndef BATON_XPROC_H
#define BATON_XPROC_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <baton/shm.h>

typedef _Atomic uint32_t xu32;

#define X_MAGIC0 0x4f544142u /* "BATO" */
#define X_MAGIC1 0x4d48534eu /* "NSHM" */
/* Bumped when the layout or a protocol on it changes (4: the lock's owner
 * word carries the row's incarnation), so processes built against another
 * version refuse the segment (-EPROTO) instead of misreading it. */
#define X_VERSION 4u
#define X_LOG_MAX 40u
/* Items a batch call moves per take of the segment lock (a bounded hold). */
#define X_HOLD_MAX 64u
#define X_LOCK_WAITERS 0x80000000u
/* A lock owner word naming a pid, not a row (lock.c). */
#define X_PID_OWNER 0x40000000u

/* Process rows. */
enum { P_FREE = 0, P_ALIVE = 1, P_DYING = 2 };
/* Future slots. */
enum {
	S_FREE = 0,
	S_PENDING = 1,
	S_READY = 2,
	S_FAILED = 3,
	S_CANCELLED = 4,
	S_BROKEN = 5,
	S_DIED = 6,
};
/* Queues. */
enum { Q_FREE = 0, Q_OPEN = 1, Q_CLOSED = 2 };
/* Queue flags: end of stream (producers gone), consumers gone. */
#define QF_EOF 1u
#define QF_NOCONS 2u

struct xlog_entry {
	xu32 off, old;
};

struct xhdr {
	xu32 magic0, magic1, version, abi;
	xu32 max_procs, max_futures, max_queues, queue_capacity;
	xu32 arena_blocks, block_size, total_lo, total_hi;
	/* Mutable below this line. */
	xu32 lock;          /* 0 or the owner (lock.c), | X_LOCK_WAITERS */
	/* The log starts a line of its own: a taker spinning on `lock`
	 * would otherwise steal the line the owner writes at every store. */
	_Alignas(64) xu32 log_count;
	struct xlog_entry log[X_LOG_MAX];
	xu32 slot_free;     /* free slot list head: index + 1, or 0 */
	xu32 block_free;    /* free block list head: index + 1, or 0 */
	xu32 gen;           /* generation source for slots and queues */
	xu32 cleanups, takeovers;
};

struct xproc {
	xu32 state, pid, start_lo, start_hi, inc;
	xu32 exit_signo, exit_status, pad;
};

struct xslot {
	xu32 state;     /* futex word */
	xu32 gen;       /* 0 while free */
	xu32 producer;  /* process row of the promise's owner */
	xu32 refs;      /* total references, queue-held ones included */
	xu32 taken;
	xu32 len, block, next;
	xu32 kind, code, pid, signo, status;
	xu32 promise;   /* 1 while its promise exists */
	xu32 waiters;   /* sleepers on state (a hint, not logged; wait.c) */
	xu32 pad;
	unsigned char inline_[BATON_SHM_INLINE];
};

struct xqueue {
	xu32 state, gen, cap;
	xu32 head;      /* index of the oldest item, < cap */
	xu32 count;     /* items held, <= cap */
	xu32 nprod, ncons, flags;
	/* futex word: += 2 on every change; bit 0 flags sleepers
	 * (X_SEQ_SLEEPERS, wait.c).  On a line of its own: waiters spin
	 * reading it while pushes and pops write head and count. */
	_Alignas(64) xu32 seq;
};

/* The layout, computed by each process from the six shape parameters. */
struct xlayout {
	uint32_t max_procs, max_futures, max_queues, queue_capacity;
	uint32_t arena_blocks, block_size;
	size_t procs, slots, refs, queues, roles, ring, bnext, arena;
	size_t meta_end; /* logged words live in [mut_begin, meta_end) */
	size_t mut_begin;
	size_t total;
};

struct baton_shm {
	unsigned char *base;
	size_t size;
	int fd;
	uint32_t me;          /* own process row; UINT32_MAX before adopt */
	uint32_t lock_id;     /* the lock's owner word for our row (lock.c);
				 0 without one: the lock then names our pid */
	unsigned fork_gen;    /* the fork generation attach/adopt ran in */
	long spin_ns;         /* most a waiter spins before sleeping */
	atomic_long slot_spin;  /* adaptive spin budgets (wait.c) */
	atomic_long queue_spin;
	struct xlayout l;
	pthread_mutex_t mu;   /* guards the pidfd cache */
	int *pidfd;           /* per row, -1 when not open */
	uint32_t *pidfd_inc;  /* the row's incarnation the pidfd belongs to */
	atomic_int bodies;    /* bodies started here still running */
	struct baton_pool *pool; /* bodies' pool, made in this process */
	char *name;           /* a named segment's name, else NULL */
	uint32_t log_n;       /* entries in the open transaction */
	atomic_uint lock_lost; /* unlocks that found another's owner word:
				  two owners at once, a bug (lock.c); the
				  tests check it stays 0 */
};

/* Offsets and sizes for the shape; false if out of range. */
bool baton__xlayout(struct xlayout *l, uint32_t max_procs,
		    uint32_t max_futures, uint32_t max_queues,
		    uint32_t queue_capacity, uint32_t arena_blocks,
		    uint32_t block_size);
uint32_t baton__xabi(void);

/*
 * A segment on fd (consumed): sized, prefaulted, sealed if `seal`,
 * initialised, with a row for this process.
 */
int baton__xinit(baton_shm **out, int fd, const struct baton_shm_opts *opts,
		 bool seal);
/* Attaches fd (borrowed); `sealed`: the seals are required. */
int baton__xattach(baton_shm **out, int fd, bool sealed);
/* At adopt of a named segment: a descriptor (and lock) of our own. */
int baton__xnamed_adopt(baton_shm *seg);
/* At detach of a named segment: the last user unlinks the name. */
void baton__xnamed_release(baton_shm *seg);

/* Each public call's first line: handle valid in this process. */
int baton__xcheck(const baton_shm *seg);

/* Lock, logged stores, commit, unlock. */
int baton__xlock(baton_shm *seg);
void baton__xunlock(baton_shm *seg);
void baton__xset(baton_shm *seg, xu32 *word, uint32_t v);
/* Logs (word, old) only: the caller stores the word itself, after. */
void baton__xlog(baton_shm *seg, xu32 *word, uint32_t old);
void baton__xcommit(baton_shm *seg);

/*
 * In a batch call that holds the lock, before its item k: every
 * X_HOLD_MAX items, lets the lock go and takes it again (a bounded hold).
 */
static inline void
baton__xhold_turn(baton_shm *seg, size_t k)
{
	if (k > 0 && k % X_HOLD_MAX == 0) {
		baton__xunlock(seg);
		baton__xlock(seg);
	}
}

#ifdef BATON_FAULT_INJECTION
/*
 * Test-only (fault-injection builds): if set, baton_shm_detach calls it
 * holding the lock, after its row is retired and before it unlocks, so a
 * test can hold that window open (tests/xproc/xproc_faults.c).
 */
extern void (*baton__xtest_detach_held)(baton_shm *seg);
#endif
/* The segment lock's owner word for incarnation inc of row (lock.c). */
uint32_t baton__xlock_id(uint32_t row, uint32_t inc);
/* Whether the process an owner word (waiters' bit clear) names lives:
 * false for garbage or a retired incarnation (lock.c). */
bool baton__xowner_alive(baton_shm *seg, uint32_t owner);
/* Start time of pid (clock ticks since boot, /proc), 0 if unknown. */
uint64_t baton__xstart_time(pid_t pid);
/*
 * Under the lock: the process in row is gone (died, or detaches: died
 * false); its futures, references and queue roles are settled.
 */
void baton__xretire(baton_shm *seg, uint32_t row, bool died);

/* Liveness of a process row (false for free rows).  Any thread. */
bool baton__xalive(baton_shm *seg, uint32_t row);
/* Under the lock: cleans after a dead row (no-op if alive or free). */
void baton__xclean(baton_shm *seg, uint32_t row);

/* Shared futex (never _PRIVATE: it must match across processes). */
int baton__xfutex_wait(xu32 *word, uint32_t expected, long ns);
int baton__xfutex_wake(xu32 *word, int n);

struct baton__deadline;
/*
 * Spins until *word & mask differs from seen & mask (true) or about
 * *budget ns pass (false), never past d; adapts *budget (wait.c).
 * budget NULL: spins up to the handle's spin_ns, adapting nothing.  Any
 * thread.
 */
bool baton__xspin(baton_shm *seg, atomic_long *budget, xu32 *word,
		  uint32_t seen, uint32_t mask,
		  const struct baton__deadline *d);

/* A queue's seq: bit 0 flags sleepers, the count moves in steps of 2. */
#define X_SEQ_SLEEPERS 1u
/*
 * Under the lock: the logged change of a queue's seq (wait.c); returns
 * the word replaced: wake after the unlock if it had X_SEQ_SLEEPERS.
 */
uint32_t baton__xseq_bump(baton_shm *seg, xu32 *seq);
/* Flags seq and sleeps while it holds seen (at most ns); 0 if it moved. */
int baton__xseq_sleep(xu32 *seq, uint32_t seen, long ns);
/* A slot's waits: a count of sleepers beside the state word (wait.c). */
void baton__xcount_sleep(xu32 *sleepers, xu32 *word, uint32_t seen, long ns);
void baton__xcount_wake(xu32 *sleepers, xu32 *word);

/* Under the lock: releases n references of row on slot i (frees at 0). */
void baton__xslot_release(baton_shm *seg, uint32_t i, uint32_t row,
			  uint32_t n);

/*
 * Resolves a future id to its slot index: -ESTALE if the slot no longer
 * carries that generation, -EPERM (with need_ref) if this process holds no
 * reference.
 */
int baton__xslot_get(baton_shm *seg, uint64_t id, uint32_t *idx,
		     bool need_ref);

static inline struct xhdr *
xhdr(const baton_shm *seg)
{
	return (struct xhdr *)(void *)seg->base;
}

static inline struct xproc *
xproc_at(const baton_shm *seg, uint32_t row)
{
	return (struct xproc *)(void *)(seg->base + seg->l.procs) + row;
}

static inline struct xslot *
xslot_at(const baton_shm *seg, uint32_t i)
{
	return (struct xslot *)(void *)(seg->base + seg->l.slots) + i;
}

static inline xu32 *
xref_at(const baton_shm *seg, uint32_t i, uint32_t row)
{
	return (xu32 *)(void *)(seg->base + seg->l.refs) +
	    (size_t)i * seg->l.max_procs + row;
}

/*
 * Asks for the line at p, to be written soon (a hint: it never faults).
 * A plain prefetch brings a line shared, and the store still waits for
 * ownership; prefetchw asks for ownership.  CPUs without it decode it as
 * a no-op.  Batch calls use it so that the misses of their items, whose
 * lines the other process wrote last, overlap instead of queueing up
 * behind each store: 5.5 to 7.7 M values/s streamed between two
 * processes in batches of 64 (tests/bench/bench_xproc).
 */
static inline void
xprefetchw(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

/*
 * Asks for slot i's lines (its fields, its inline value) and this
 * process's reference count of it.  i may be garbage read from the
 * segment: it is checked only to keep the hint inside the mapping.
 */
static inline void
xslot_prefetch(const baton_shm *seg, uint32_t i)
{
	if (i >= seg->l.max_futures)
		return;
	xprefetchw(xslot_at(seg, i));
	xprefetchw(xslot_at(seg, i)->inline_);
	xprefetchw(xref_at(seg, i, seg->me));
}

static inline struct xqueue *
xq_at(const baton_shm *seg, uint32_t i)
{
	return (struct xqueue *)(void *)(seg->base + seg->l.queues) + i;
}

static inline xu32 *
xrole_at(const baton_shm *seg, uint32_t q, uint32_t row)
{
	return (xu32 *)(void *)(seg->base + seg->l.roles) +
	    (size_t)q * seg->l.max_procs + row;
}

/* Ring entry k of queue q: two words (slot index, generation). */
static inline xu32 *
xring_at(const baton_shm *seg, uint32_t q, uint32_t k)
{
	return (xu32 *)(void *)(seg->base + seg->l.ring) +
	    ((size_t)q * seg->l.queue_capacity + k) * 2;
}

static inline xu32 *
xbnext_at(const baton_shm *seg, uint32_t b)
{
	return (xu32 *)(void *)(seg->base + seg->l.bnext) + b;
}

static inline unsigned char *
xblock_at(const baton_shm *seg, uint32_t b)
{
	return seg->base + seg->l.arena + (size_t)b * seg->l.block_size;
}

/* relaxed: a field read inside the lock or re-validated by its reader. */
static inline uint32_t
xld(xu32 *w)
{
	return atomic_load_explicit(w, memory_order_relaxed);
}

/* acquire: pairs with the release store that published a completion. */
static inline uint32_t
xld_acq(xu32 *w)
{
	return atomic_load_explicit(w, memory_order_acquire);
}

static inline uint64_t
xid(uint32_t index, uint32_t gen)
{
	return ((uint64_t)gen << 32) | index;
}

#endif /* BATON_XPROC_H */
