/*
 * channel.h - the isolated tasks' value channel: one memfd-backed page set
 * per worker, shared between the program and that worker, with a
 * process-shared futex word for the hand-off.
 *
 * Written to move onto the cross-process segment (issue 15) later: it
 * holds only bytes, fixed-size fields and one 32-bit futex word, never a
 * pointer the other side would follow (fn is this program's own function
 * address, valid in a fork of it, and is only called by the worker).
 */
#ifndef BATON_ISOLATED_CHANNEL_H
#define BATON_ISOLATED_CHANNEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "baton/isolated.h"

#define BATON__ISO_MAGIC 0x69736f32u /* "iso2": layout version 2 */

/*
 * The futex word.  Program: IDLE -> REQ (post), IDLE -> QUIT (retire),
 * DONE -> IDLE (collected), REQ/RUN -> DEAD (after the worker was reaped).
 * Worker: REQ -> RUN (took it), RUN -> DONE (published).  Each side only
 * makes its own moves, so plain stores suffice except REQ -> RUN.
 */
enum {
	BATON__CH_IDLE = 0,
	BATON__CH_REQ,
	BATON__CH_RUN,
	BATON__CH_DONE,
	BATON__CH_DEAD,
	BATON__CH_QUIT
};

struct baton__iso_channel {
	uint32_t magic;
	uint32_t cap;                  /* BATON_ISOLATED_MAX_BYTES */
	_Atomic uint32_t state;        /* the futex word, above */
	_Atomic uint32_t worker_sleeping; /* worker parked on state */
	_Atomic uint32_t owner_sleeping;  /* an awaiter parked on state */
	_Atomic uint32_t notify;       /* program wants a poke on DONE */
	_Atomic uint32_t stop;         /* cooperative stop asked */
	uint32_t reserved;
	uint64_t fn;                   /* baton_isolated_fn, as an integer */
	uint64_t arg_len;
	uint64_t val_len;
	int64_t ret;                   /* the body's return code */
	uint64_t cpu_seconds;          /* UINT64_MAX: no limit */
	uint64_t as_bytes;             /* UINT64_MAX: no limit */
	/*
	 * The body's baton_exit/baton_exitf, written by the worker before
	 * DONE (exit_set 0: none).  The program reads exit_len once and
	 * refuses a kind or length out of range (EPROTO), never reading
	 * past exit_text.
	 */
	uint32_t exit_set;
	int32_t exit_kind;
	int32_t exit_code;
	uint32_t exit_len;             /* < BATON_EXIT_TEXT_MAX */
	char exit_text[BATON_EXIT_TEXT_MAX];
	unsigned char arg[BATON_ISOLATED_MAX_BYTES];
	unsigned char val[BATON_ISOLATED_MAX_BYTES];
};

/*
 * Creates a sealed, prefaulted memfd of one channel and maps it.
 * Returns 0, or -errno (nothing left open).
 */
int baton__iso_channel_create(int *fd, struct baton__iso_channel **ch);

/* Maps an inherited channel fd (in the worker); NULL on failure. */
struct baton__iso_channel *baton__iso_channel_map(int fd);

/* Resets a channel for a new worker (program side, no worker alive). */
void baton__iso_channel_reset(struct baton__iso_channel *ch);

void baton__iso_channel_unmap(struct baton__iso_channel *ch);

/*
 * Process-shared futex ops (never FUTEX_PRIVATE: a private op does not
 * match across processes).  wait sleeps while *word == expected, until
 * the absolute CLOCK_MONOTONIC deadline (NULL: none); may wake early.
 */
void baton__shared_futex_wait(_Atomic uint32_t *word, uint32_t expected,
			      const struct timespec *deadline);
void baton__shared_futex_wake(_Atomic uint32_t *word);

/* Spins up to ns nanoseconds while *word == expected; true if it changed. */
bool baton__iso_spin_while(_Atomic uint32_t *word, uint32_t expected,
			   long ns);

/* The worker side: runs requests on ch forever (never returns). */
_Noreturn void baton__iso_worker_main(struct baton__iso_channel *ch,
				      int notify_fd);

/* The fork server's loop (never returns); see server.c. */
_Noreturn void baton__iso_server_main(int ctl_fd, int notify_fd);

/* Fork server protocol (SOCK_SEQPACKET, one message per record). */
enum { BATON__ISO_SPAWN = 1, BATON__ISO_SPAWNED, BATON__ISO_EXITED };
struct baton__iso_msg {
	int32_t op;
	int32_t slot;   /* SPAWN / SPAWNED: the program's slot index */
	int32_t pid;    /* SPAWNED / EXITED */
	int32_t value;  /* SPAWNED: 0 or -errno; EXITED: the wait status */
};

/* Sends msg with fd (-1: none); 0 or -errno. */
int baton__iso_send(int sock, const struct baton__iso_msg *msg, int fd);
/* Receives one msg and at most one fd (*fd = -1 if none); 1, 0 at EOF,
 * or -errno. */
int baton__iso_recv(int sock, struct baton__iso_msg *msg, int *fd);

/* True in a worker process. */
extern bool baton__iso_in_worker;

#endif /* BATON_ISOLATED_CHANNEL_H */
