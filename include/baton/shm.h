/*
 * baton/shm.h - futures, promises and a bounded queue in shared memory:
 * the handoff across OS processes, with a peer's death as an answer.
 *
 * Overview
 * ========
 * A segment is a fixed-layout block of shared memory (memfd) that several
 * processes attach.  In it live result slots (cross-process futures), and
 * bounded queues of future handles.  A typical pre-fork pipeline:
 *
 *	baton_shm *seg;  baton_shm_queue q;  baton_shm_future f;
 *	baton_shm_create(&seg, NULL);  baton_shm_queue_create(seg, 64, &q);
 *	fork();  child: baton_shm_adopt(seg);  join(q, CONSUMER);
 *	producer: baton_shm_future_start(seg, body, arg, NULL, &f);
 *	          baton_shm_queue_push(seg, q, f, BATON_INFINITY);
 *	consumer: baton_shm_queue_pop(seg, q, &f, BATON_INFINITY);
 *	          baton_shm_future_take(seg, f, 1000, buf, sizeof buf, &n, &why);
 *	          baton_shm_future_unref(seg, f);
 *
 * Same verbs, same rules as baton/future.h and baton/queue.h
 * --------------------------------------------------------
 * wait/borrow/take/copy/cancel/ref/unref return what their in-process
 * namesakes return: 0, BATON_EXITED (reason filled), -EPIPE (broken
 * promise), -EALREADY (taken; a second completion), -ETIMEDOUT, -EINVAL.
 * A value is bytes: at most BATON_SHM_INLINE bytes live in the slot, larger
 * ones (up to the segment's block size, the stated maximum) in one block of
 * a fixed arena.  Callbacks, `then` and destructors stay process-local: no
 * pointer and no function ever lives in the segment.  The queue closes,
 * drains and discards as baton_queue does; a pushed future reference
 * belongs to the queue until popped or discarded.
 *
 * Death as an answer
 * ------------------
 * Every attached process has a row in the segment's process table (pid,
 * start time, so a reused pid is never mistaken for the old process).
 * Peers watch each other with pidfds (Linux 5.3), no heartbeat: SIGSTOP is
 * not death.  Whoever notices a death first (a waiter, a locker, attach,
 * baton_shm_reap) cleans up under the segment lock, exactly once:
 * - the dead process's pending futures complete as BATON_EXITED with kind
 *   BATON_EXIT_NOPROC, its pid, and (if the cleaner is its parent) its
 *   signal or exit status;
 * - its references are released, items it popped are released with them;
 * - it leaves every queue: when a queue's last producer goes, consumers
 *   drain it and then get -EPIPE; when its last consumer goes, blocked
 *   producers get -EPIPE.
 * A waiter re-checks the peer it depends on at least every
 * BATON_SHM_CHECK_MS (2 ms), so a kill -9 is answered within a few ms; a
 * future whose producer is already dead answers at once.
 *
 * No lock whose holder's death is unrecoverable
 * ---------------------------------------------
 * Mutations happen under one segment lock (a futex word naming the
 * owner: its process row and that row's incarnation, so a reused row
 * never passes for a dead owner; waiters re-check the owner's liveness
 * each slice and take the lock over from a dead owner).  Every store
 * inside the lock is logged first (offset, old value) in an undo log in
 * the segment; the section ends with one commit store (the log emptied).
 * A new owner that took the lock from a dead one rolls the log back, so a
 * process killed inside a push, a pop or a cleanup leaves nothing half
 * done.  Futex waits are shared (never _PRIVATE: those never match across
 * processes).
 *
 * Waiting
 * -------
 * A waiter (wait/take/copy/borrow, a pop on an empty queue, a push on a
 * full one) first spins on the word it waits for, then sleeps on a shared
 * futex.  A futex sleep and wake-up between processes costs 30-60 us on a
 * VM, a cache-line round trip about 0.1 us: a waiter whose peer is running
 * answers far sooner by watching than by sleeping (a pipe's reader always
 * sleeps).  The spin lasts at most spin_ns (BATON_SHM_SPIN_NS, 30 us, by
 * default), adapts per handle (halved after a spin that missed, doubled
 * after one that caught the change), never outlasts the call's timeout,
 * and no more threads of a process spin at once than there are CPUs.
 * spin_ns 0 (or negative) turns it off (every wait sleeps at once).  A wake system call
 * is made only when someone sleeps: a queue change clears the sleepers'
 * flag it acts on.  A taker of the segment lock spins too, always up to
 * spin_ns (its sections are short and bounded: a batch call lets the lock
 * go every 64 items), then sleeps.
 *
 * Batches
 * -------
 * baton_shm_future_completed_many, baton_shm_queue_push_many,
 * baton_shm_queue_pop_many and baton_shm_future_unref_many move up to n
 * items per take of the lock (64 per hold), each item still its own
 * committed section: a process killed inside one leaves a prefix done,
 * each item whole or absent.  A stream of small values should use them:
 * per value, the single calls pay four lock takes and their cache-line
 * transfers between the processes.
 *
 * What that buys on a 2-vCPU VM (tests/bench/bench_xproc, ratios to a
 * peer in the same run; runs vary widely): streaming 16-byte values
 * through a queue one call per step (promise, fulfil, push / pop, take,
 * unref) runs 1-2x a pipe writing one value per write; with the batch
 * calls, 64 at a time, 11-19x with one producer and one consumer process
 * and 10-15x with two and two.
 * A round trip of promises fulfilled by the sending thread runs from
 * parity to many times a pipe, depending on whether both processes keep a
 * CPU.  A round trip of futures started with baton_shm_future_start pays
 * two in-process pool hand-offs (a worker on each side): about half to
 * three quarters of a pipe's speed on a quiet 2-vCPU VM.  Prefer a
 * promise fulfilled where the value is made when latency matters, and
 * baton_shm_future_completed when the value is already in hand.
 *
 * Trust model
 * -----------
 * Peers run as the same user (baton_shm_attach_socket checks SO_PEERCRED).
 * A peer may cause denial of service (hold the lock forever while alive,
 * fill the segment, scribble values), never memory corruption in another
 * process: each process keeps its own copy of the layout, checked at
 * attach (magic, layout version, ABI, sizes against fstat), and checks
 * every index, offset, length and state it reads from the segment against
 * it; a failed check returns -EPROTO (-EBADMSG for a foreign image), never
 * an out-of-bounds access.  memfd seals (no shrink, no grow) stop a peer
 * from truncating the mapping under another.  borrow lends bytes that a
 * hostile peer could change while you read them: copy or take if that
 * matters.
 *
 * fork
 * ----
 * A forked child inherits the mapping but is not its parent: every call in
 * the child returns -ECHILD until it calls baton_shm_adopt(seg), which
 * gives it a row of its own (holding no references).  baton_shm_detach is
 * also allowed without adopting (it only unmaps).
 *
 * Choices
 * -------
 * Anonymous segments by default (memfd: no name to squat or leak; the
 * memory goes with the last fd and mapping).  Named ones are an option
 * (baton_shm_create_named): O_EXCL, 0600, checked on open, every user
 * holding a shared flock that the kernel drops at its death, so a stale
 * name is reclaimed by the one process that gets it exclusively.  At most BATON_SHM_MAX_PROCS processes
 * attached at once.  The whole segment is prefaulted at create, so memory
 * shortage is -ENOMEM there, never SIGBUS later.  Linux only: elsewhere
 * every call returns -ENOSYS.
 */
#ifndef BATON_SHM_H
#define BATON_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A segment attached in this process (private; never shared). */
typedef struct baton_shm baton_shm;

/* A future in a segment: an index and a generation, never a pointer. */
typedef struct baton_shm_future {
	uint64_t id;
} baton_shm_future;

/* The completing side of a future, usable by the creating process only. */
typedef struct baton_shm_promise {
	uint64_t id;
} baton_shm_promise;

/* A queue in a segment. */
typedef struct baton_shm_queue {
	uint64_t id;
} baton_shm_queue;

/* Value bytes stored inside the slot; larger values use an arena block. */
#define BATON_SHM_INLINE 64
/* Most processes attached to one segment at once. */
#define BATON_SHM_MAX_PROCS 64
/* How long a waiter spins by default before it sleeps (see spin_ns). */
#define BATON_SHM_SPIN_NS 30000
/* How often a waiter re-checks the liveness of the peer it waits on. */
#define BATON_SHM_CHECK_MS 2

/*
 * A future whose producer process died before completing it fails with
 * BATON_EXIT_NOPROC (enum baton_exit_kind, baton/task.h): code ESRCH.
 */

/*
 * The longest text a cross-process failure carries, its NUL included:
 * it lives in the future's slot, so a longer one is cut with "..." by
 * baton_shm_promise_failf.
 */
#define BATON_SHM_TEXT_MAX BATON_SHM_INLINE

/*
 * Why a cross-process future failed: baton_exit_reason plus the process.
 * A plain value, as baton_exit_reason is (nothing to free).  text is
 * always NUL-terminated: the producer's formatted message
 * (baton_shm_promise_failf, or baton_exit/baton_exitf in a
 * baton_shm_future_start body), else baton's own words for the kind
 * ("cancelled", "producer process died"), else "".  A slot whose text
 * length is out of range (a corrupt or hostile process) makes the
 * reading call return -EPROTO; nothing past the slot is read.
 */
struct baton_shm_reason {
	int kind;     /* an enum baton_exit_kind, or BATON_EXIT_NOPROC */
	int code;     /* as in baton_exit_reason; NOPROC: ESRCH */
	int pid;      /* NOPROC: the producer's pid */
	int signo;    /* NOPROC: the killing signal, 0 if none or unknown */
	int status;   /* NOPROC: exit status if it exited, else -1 */
	char text[BATON_SHM_TEXT_MAX];
};

/*
 * Segment shape.  Start from BATON_SHM_OPTS_INIT (the defaults, in
 * brackets) and change what you need; a NULL opts pointer means
 * BATON_SHM_OPTS_INIT.  As in every baton opts struct, a field set to 0
 * means 0: max_procs, max_futures, queue_capacity and block_size 0 are
 * -EINVAL, max_queues and arena_blocks 0 give none, spin_ns 0 never
 * spins.
 * max_procs [16] (1..64), max_futures [1024] (1..2^20), max_queues [8]
 * (<= 1024), queue_capacity [256] (the largest capacity a queue may
 * have, 1..65536), arena_blocks [64] (<= 2^20), block_size [4096] (the
 * largest value; a multiple of 64, 64..2^20), spin_ns
 * [BATON_SHM_SPIN_NS] (the longest a waiter spins before it sleeps,
 * adapted downwards when spins miss; 0 or negative: no spinning; set at
 * create, for that handle and the children that adopt it; a process that
 * attaches uses the default).
 */
struct baton_shm_opts {
	unsigned max_procs, max_futures, max_queues, queue_capacity;
	unsigned arena_blocks, block_size;
	long spin_ns;
};

#define BATON_SHM_OPTS_INIT { 16, 1024, 8, 256, 64, 4096, BATON_SHM_SPIN_NS }

/* Queue roles for baton_shm_queue_join. */
#define BATON_SHM_PRODUCER 1u
#define BATON_SHM_CONSUMER 2u

/*
 * Creates an anonymous segment (memfd, close-on-exec, sealed against
 * shrinking and growing, prefaulted) and attaches this process to it.
 * Pointers: sets *out to NULL first, then to a new handle (detach it).
 * Errors: -EINVAL (opts out of range), -ENOMEM, -ENOSYS, errors of
 * memfd_create/mmap.  Thread safety: any thread.  Ordering: none.
 */
BATON_API int baton_shm_create(baton_shm **out,
			       const struct baton_shm_opts *opts);

/*
 * Attaches the segment behind fd (inherited across exec, or received with
 * baton_shm_recv_fd); fd is borrowed (duplicated inside).
 * Errors: -EBADMSG (not a baton segment), -EPROTO (layout version, ABI or
 * sizes disagree; seals missing), -EUSERS (process table full), -ENOMEM,
 * -EBADF.  Thread safety: any thread.  Ordering: the attach happens-after
 * every commit it can see.
 */
BATON_API int baton_shm_attach(baton_shm **out, int fd);

/*
 * Named segments (an option; anonymous ones are the default): creates the
 * POSIX shared-memory object `name` ("/something", no other '/') with
 * O_EXCL and mode 0600, reclaiming a stale one first (its every user
 * died: exactly one cleaner wins), and attaches it.  The last process to
 * detach unlinks the name.  Named segments cannot be sealed: a same-uid
 * peer could truncate one and make others fault (a denial of service).
 * Errors: -EINVAL (name), -EEXIST (in use), -EPERM, as baton_shm_create.
 * Thread safety: any thread.
 */
BATON_API int baton_shm_create_named(baton_shm **out, const char *name,
				     const struct baton_shm_opts *opts);

/*
 * Opens and attaches a named segment after checking it is a regular file
 * owned by this uid with mode 0600 (-EPERM) and a baton segment of the
 * size its header says (as baton_shm_attach).  -EAGAIN while its creator
 * is still initialising it; -ENOENT.  Thread safety: any thread.
 */
BATON_API int baton_shm_open_named(baton_shm **out, const char *name);

/*
 * In a forked child: gives this process its own row in the segment it
 * inherited.  Until then every call but detach returns -ECHILD.  Borrows
 * seg.  Errors: -EALREADY (not a child: nothing to adopt), -EUSERS.
 * Thread safety: the child's first thread, before others use seg.
 */
BATON_API int baton_shm_adopt(baton_shm *seg);

/*
 * Detaches: releases this process's references, breaks its uncompleted
 * promises (their waiters get -EPIPE), leaves its queues, unmaps.
 * -EBUSY (and nothing changes) while a body started here is running.
 * Pointers: consumes seg on 0.  NULL: 0.  No other thread may use seg.
 */
BATON_API int baton_shm_detach(baton_shm *seg);

/* The segment's fd (owned by seg: dup it to keep it).  -ECHILD, -EINVAL. */
BATON_API int baton_shm_fd(const baton_shm *seg);

/*
 * Sends the segment's fd over a connected unix socket (SCM_RIGHTS).
 * Errors: -EINVAL, -ECHILD, or the negated errno of sendmsg.
 * Blocking: as sendmsg.  Thread safety: any thread.
 */
BATON_API int baton_shm_send_fd(const baton_shm *seg, int sock);

/*
 * Receives a segment fd sent by baton_shm_send_fd and attaches it.
 * The peer must run as the same uid (SO_PEERCRED): else -EPERM.
 * Errors: as baton_shm_attach, -EPROTO (no fd in the message), or the
 * negated errno of recvmsg.  Blocking: as recvmsg.  Any thread.
 */
BATON_API int baton_shm_attach_socket(baton_shm **out, int sock);

/*
 * Checks every attached peer and cleans up after each dead one (exactly
 * once segment-wide).  Returns how many this call cleaned, or -errno.
 * Blocking: takes the segment lock.  Thread safety: any thread.
 */
BATON_API int baton_shm_reap(baton_shm *seg);

/* Segment introspection, a snapshot taken under the lock. */
struct baton_shm_stats {
	unsigned procs_alive, procs_dead;   /* dead: not yet cleaned */
	unsigned futures_pending, futures_ready, futures_failed;
	unsigned futures_broken, futures_died, futures_free;
	unsigned queues, queued_items;
	size_t bytes_in_use;                /* slots + arena blocks in use */
	size_t bytes_total;
	unsigned long cleanups;             /* dead processes cleaned */
	unsigned long lock_takeovers;       /* locks taken from the dead */
};

/*
 * Fills *st.  Does not clean up (call baton_shm_reap first for that).
 * Errors: -EINVAL, -ECHILD, -EPROTO.  Thread safety: any thread.
 */
BATON_API int baton_shm_stats(baton_shm *seg, struct baton_shm_stats *st);

/* ---- futures --------------------------------------------------------- */

/*
 * A body for baton_shm_future_start: writes the value into buf (cap
 * bytes: the segment's largest value) and returns its length, or a
 * negative errno to fail the future (kind BATON_EXIT_ERROR, code -ret).
 * A body that called baton_exit or baton_exitf fails the future with
 * that kind, code and text (cut to BATON_SHM_TEXT_MAX), whatever it
 * returns.
 */
typedef long (*baton_shm_fn)(void *arg, void *buf, size_t cap);

/*
 * Starts fn(arg, ...) on a pool of this process (opts as for
 * baton_future_start) and sets *out to a future in the segment that
 * completes with the bytes it wrote.  Without opts->pool the body runs on
 * the handle's own pool (one worker per CPU, made on first use in this
 * process, joined at detach), not on baton's default pool: a default pool
 * made before fork has no workers in the child.  If this process exits
 * before the body completes, waiters get BATON_EXIT_NOPROC: detach (which
 * says -EBUSY while bodies run) before exiting.
 * Pointers: borrows seg and opts; arg is passed to fn; *out holds a new
 * reference of this process.  Errors: -EINVAL, -ECHILD, -ENOSPC (no free
 * slot), -ENOMEM, -EPIPE (pool shut down); on failure fn never runs.
 * Thread safety: any thread.  Ordering: the call happens-before fn; fn's
 * return happens-before every wait that observes the completion.
 */
BATON_API int baton_shm_future_start(baton_shm *seg, baton_shm_fn fn,
				     void *arg,
				     const struct baton_task_opts *opts,
				     baton_shm_future *out);

/*
 * Creates a promise and its future in the segment.  The promise may be
 * completed or destroyed by any thread of this process only (-EPERM
 * elsewhere).  Both hold a reference of this process.
 * Errors: -EINVAL, -ECHILD, -ENOSPC.  Any thread.
 */
BATON_API int baton_shm_promise_create(baton_shm *seg,
				       baton_shm_promise *promise,
				       baton_shm_future *future);

/*
 * An already-completed future holding len bytes copied from value (as
 * fulfilling a new promise, in one section under the segment lock
 * instead of three): for a producer that has the value in hand, such as
 * one streaming values through a queue.  *out holds a reference of this
 * process; the producer is this process, so a consumer never waits on it.
 * Pointers: borrows seg and value.  Errors: -EINVAL (out NULL, or value
 * NULL with len > 0), -EMSGSIZE (len above the block size), -ENOSPC (no
 * free slot, or the arena is full), -ECHILD, -EPROTO.  Blocking: on the
 * segment lock only.  Thread safety: any thread.  Ordering: the call
 * happens-before every wait that observes the future.
 */
BATON_API int baton_shm_future_completed(baton_shm *seg, const void *value,
					 size_t len, baton_shm_future *out);

/*
 * As baton_shm_future_completed, n times: future k holds the size bytes
 * at values + k * size.  Takes the segment lock once per 64 futures
 * (each future is still its own committed section, so a process killed
 * inside the call leaves a prefix made, each held in its row).  Returns how many
 * were made, k <= n: fewer when slots or arena blocks run out (out[k..n)
 * are zero), or an error if none was: -ENOSPC, -EMSGSIZE, -EINVAL (out
 * NULL, or values NULL with size > 0, and n > 0), -ECHILD, -EPROTO.
 * Pointers: borrows seg and values; out[0..k) each hold a reference of
 * this process.  Blocking: on the segment lock only.  Thread safety: any
 * thread.  Ordering: as baton_shm_future_completed, for each future.
 */
BATON_API ptrdiff_t baton_shm_future_completed_many(baton_shm *seg,
						    const void *values,
						    size_t size, size_t n,
						    baton_shm_future *out);

/*
 * Completes with len bytes copied from value.  -EALREADY if already
 * complete (fulfilled, failed, cancelled), -EMSGSIZE (len above the block
 * size), -ENOSPC (arena full: the future stays pending), -EPERM, -EINVAL,
 * -ESTALE (destroyed promise).  Borrows value.  Any thread of the creating
 * process.  Ordering: happens-before every wait that observes it.
 */
BATON_API int baton_shm_promise_fulfil(baton_shm *seg, baton_shm_promise p,
				       const void *value, size_t len);

/* Completes as failed (kind != NORMAL).  As fulfil otherwise. */
BATON_API int baton_shm_promise_fail(baton_shm *seg, baton_shm_promise p,
				     int kind, int code);

/*
 * As baton_shm_promise_fail, with a message formatted as by printf and
 * stored in the slot (at most BATON_SHM_TEXT_MAX - 1 bytes: a longer one
 * is cut, ending with "..."); every process's reader gets it in its
 * reason's text.  Errors: as fail; -EINVAL for fmt NULL.
 * Pointers: borrows fmt and the arguments.  Blocking: on the segment
 * lock only.  Thread safety: any thread of the creating process.
 * Ordering: as fulfil.
 */
BATON_API int baton_shm_promise_failf(baton_shm *seg, baton_shm_promise p,
				      int kind, int code, const char *fmt,
				      ...) BATON_PRINTF(5, 6);

/*
 * Releases the promise; if its future never completed it is broken (its
 * waiters get -EPIPE).  Consumes p.  Errors: -ESTALE, -EPERM, -ECHILD.
 */
BATON_API int baton_shm_promise_destroy(baton_shm *seg, baton_shm_promise p);

/*
 * Adds a reference of this process to f (which it must already hold).
 * Errors: -ESTALE (f no longer exists), -EPERM (this process holds no
 * reference), -ECHILD, -EPROTO.  Any thread.  Ordering: relaxed.
 */
BATON_API int baton_shm_future_ref(baton_shm *seg, baton_shm_future f);

/*
 * Drops a reference of this process; the last reference segment-wide
 * frees the slot and its value.  Never blocks on the future (it takes the
 * segment lock).  Consumes the reference.  Errors as ref.  Any thread.
 */
BATON_API int baton_shm_future_unref(baton_shm *seg, baton_shm_future f);

/*
 * As baton_shm_future_unref for each of fs[0..n), taking the segment lock
 * once per 64.  Drops every reference it can; returns 0, or the first
 * error met (the futures that had one are left as they were).
 * Pointers: borrows seg and the array; consumes the references it
 * dropped.  Errors as unref; -EINVAL for fs NULL with n > 0.  Blocking:
 * on the segment lock only.  Thread safety: any thread.  Ordering:
 * relaxed.
 */
BATON_API int baton_shm_future_unref_many(baton_shm *seg,
					  const baton_shm_future *fs,
					  size_t n);

/*
 * Waits up to timeout_ms for f to complete.  0, -ETIMEDOUT, -ESTALE,
 * -EPERM (no reference held), -ECHILD, -EPROTO.  A producer's death
 * completes f (see the overview).  Borrows f.  Any thread of a process
 * holding a reference.  Ordering: completion happens-before a 0 return.
 */
BATON_API int baton_shm_future_wait(baton_shm *seg, baton_shm_future f,
				    int timeout_ms);

/*
 * Waits, then copies the value into buf (cap bytes) and sets *len.
 * Returns 0, BATON_EXITED (*reason filled; reason may be NULL; written
 * on BATON_EXITED only, never on -ETIMEDOUT or another error),
 * -EPIPE (broken promise), -EALREADY (taken), -EMSGSIZE (cap too small:
 * *len says how much is needed; nothing taken), -ETIMEDOUT, and wait's
 * errors.  Borrows f.  Any thread holding a reference.
 */
BATON_API int baton_shm_future_copy(baton_shm *seg, baton_shm_future f,
				    int timeout_ms, void *buf, size_t cap,
				    size_t *len,
				    struct baton_shm_reason *reason);

/*
 * As copy, then moves the value out: exactly one caller segment-wide gets
 * 0; every other gets -EALREADY.  Borrows f.
 */
BATON_API int baton_shm_future_take(baton_shm *seg, baton_shm_future f,
				    int timeout_ms, void *buf, size_t cap,
				    size_t *len,
				    struct baton_shm_reason *reason);

/*
 * As copy, but lends a pointer into the mapping: valid while this
 * process holds its reference and nobody takes the value.  Borrows f.
 */
BATON_API int baton_shm_future_borrow(baton_shm *seg, baton_shm_future f,
				      int timeout_ms, const void **value,
				      size_t *len,
				      struct baton_shm_reason *reason);

/*
 * Completes f as cancelled (BATON_EXITED, SHUTDOWN, ECANCELED) if it was
 * pending: 0; else -EALREADY.  A body already running keeps running; its
 * value is dropped.  Borrows f.  Any thread holding a reference.
 */
BATON_API int baton_shm_future_cancel(baton_shm *seg, baton_shm_future f);

/* Whether f has completed (false on any error).  Any thread; acquire. */
BATON_API bool baton_shm_future_is_done(baton_shm *seg, baton_shm_future f);

/* ---- queues ---------------------------------------------------------- */

/*
 * Creates an open queue of capacity (1..opts.queue_capacity) futures.
 * Errors: -EINVAL, -ENOSPC (no free queue), -ECHILD.  Any thread.
 */
BATON_API int baton_shm_queue_create(baton_shm *seg, size_t capacity,
				     baton_shm_queue *out);

/*
 * Registers this process as a producer and/or consumer of q (roles:
 * BATON_SHM_PRODUCER | BATON_SHM_CONSUMER).  Roles end at leave, detach
 * or death; when the last producer leaves, consumers drain then get
 * -EPIPE; when the last consumer leaves, pushes get -EPIPE.  Idempotent.
 * Errors: -EINVAL, -ESTALE, -ECHILD.  Any thread.
 */
BATON_API int baton_shm_queue_join(baton_shm *seg, baton_shm_queue q,
				   unsigned roles);
BATON_API int baton_shm_queue_leave(baton_shm *seg, baton_shm_queue q,
				    unsigned roles);

/*
 * Appends f, waiting up to timeout_ms (0: try) while the queue is full.
 * On 0 the queue owns the reference (consumed); on error it stays the
 * caller's.  Errors: -EPIPE (closed, or its consumers are gone),
 * -EAGAIN (full, timeout 0), -ETIMEDOUT, -EPERM (no reference held),
 * -ESTALE, -ECHILD, -EPROTO.  Any thread.
 * Ordering: a push happens-before the pop that returns its future.
 */
BATON_API int baton_shm_queue_push(baton_shm *seg, baton_shm_queue q,
				   baton_shm_future f, int timeout_ms);

/*
 * Removes the oldest future, waiting up to timeout_ms while empty; the
 * reference becomes this process's.  Errors: -EPIPE (closed or its
 * producers gone, and empty), -EAGAIN, -ETIMEDOUT, -ESTALE, -ECHILD,
 * -EPROTO (a corrupt item: it is dropped).  Any thread.
 */
BATON_API int baton_shm_queue_pop(baton_shm *seg, baton_shm_queue q,
				  baton_shm_future *out, int timeout_ms);

/*
 * Appends up to n futures, taking the segment lock once per 64: waits up
 * to timeout_ms (0: try) until at least one fits, then appends fs[0..k)
 * for the largest k <= n that fits without waiting again, in order
 * (another producer's items may land between two takes of the lock).
 * Returns k.  A future this process cannot push (stale, or no reference
 * held) ends the run: if it is fs[0] its error is returned, else it is
 * left for the next call.  Each item is its own committed section, so a producer
 * killed inside the call has pushed a prefix.
 * Pointers: borrows seg and fs; the queue takes the references of
 * fs[0..k), the rest stay the caller's.  Errors: as baton_shm_queue_push;
 * -EINVAL for fs NULL with n > 0; 0 if n is 0.  Blocking: while full.
 * Thread safety: any thread.  Ordering: as baton_shm_queue_push, for each.
 */
BATON_API ptrdiff_t baton_shm_queue_push_many(baton_shm *seg,
					      baton_shm_queue q,
					      const baton_shm_future *fs,
					      size_t n, int timeout_ms);

/*
 * Removes up to n of the oldest futures, taking the segment lock once per
 * 64: waits up to timeout_ms (0: try) until at least one is present, then
 * takes the k <= n present into out[0..k) (the rest are zeroed).  Returns
 * k.  A corrupt item ends the run: first, it is dropped with -EPROTO;
 * later, it is left for the next call.  A consumer killed inside the call
 * holds what it took in its own row, released by its cleanup.
 * Pointers: borrows seg; out[0..k) each hold a reference of this process.
 * Errors: as baton_shm_queue_pop; -EINVAL for out NULL with n > 0; 0 if n
 * is 0.  Blocking: while empty and open.  Thread safety: any thread.
 * Ordering: as baton_shm_queue_pop, for each.
 */
BATON_API ptrdiff_t baton_shm_queue_pop_many(baton_shm *seg,
					     baton_shm_queue q,
					     baton_shm_future *out, size_t n,
					     int timeout_ms);

/*
 * Closes q (idempotent): pushes fail with -EPIPE, pops drain then -EPIPE,
 * every blocked waiter wakes.  Errors: -ESTALE, -ECHILD.  Any thread.
 */
BATON_API int baton_shm_queue_close(baton_shm *seg, baton_shm_queue q);

/*
 * Closes q and releases every future still inside it; returns how many.
 * Errors as close.  Any thread.
 */
BATON_API int baton_shm_queue_close_discard(baton_shm *seg,
					    baton_shm_queue q);

/*
 * close_discard, then frees the queue (its handle becomes -ESTALE).
 * Errors as close.  Any thread (others must be done with q).
 */
BATON_API int baton_shm_queue_destroy(baton_shm *seg, baton_shm_queue q);

/* Items in q now (>= 0), or -errno. */
BATON_API int baton_shm_queue_depth(baton_shm *seg, baton_shm_queue q);

#ifdef __cplusplus
}
#endif

#endif /* BATON_SHM_H */
