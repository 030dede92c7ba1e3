/*
 * internal.h - the program side of isolated tasks, shared by runtime.c
 * (init, fini, worker slots, the monitor thread) and verbs.c (the task
 * verbs).  Everything here is guarded by rt.mu unless it says otherwise.
 */
#ifndef BATON_ISOLATED_INTERNAL_H
#define BATON_ISOLATED_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "baton/isolated.h"
#include "channel.h"
#include "reason.h"
#include "wait.h"

/* A worker slot: one channel, one worker process at a time. */
enum slot_state {
	S_NONE = 0,  /* no worker, none asked for (runtime stopped/broken) */
	S_SPAWNING,  /* SPAWN sent, SPAWNED not yet received */
	S_IDLE,      /* on the idle list */
	S_BUSY,      /* running (or holding the outcome of) slot->task */
	S_KILLED,    /* SIGKILL sent; respawned once reaped */
	S_QUITTING   /* QUIT posted (recycling); respawned once reaped */
};

struct slot {
	struct baton__iso_channel *ch; /* mapped for the program's life */
	int memfd;
	int index;
	pid_t pid;
	int pidfd;
	enum slot_state st;
	bool dead;             /* S_BUSY: the worker was reaped */
	int wstatus;           /* its wait status */
	const char *dead_msg;  /* non-NULL: the reason's message instead */
	unsigned runs;         /* tasks posted to this worker */
	struct baton__itask *task;
	struct slot *next_idle;
};

enum tstate { T_FREE = 0, T_QUEUED, T_RUNNING, T_EXITED };

struct owner_list;

/* A task record: type-stable (never returned to the system). */
struct baton__itask {
	uint64_t gen;          /* odd while a handle names it */
	enum tstate st;
	bool detached;         /* ignored: freed when its worker is done */
	pthread_t owner;
	struct owner_list *ol;
	struct baton__itask *onext, *oprev; /* the owner's list */
	struct baton__itask *qnext;         /* pending queue / free list */
	struct slot *slot;                  /* T_RUNNING */
	_Atomic uint32_t word; /* bumped on dispatch and resolution */
	baton_isolated_fn fn;
	void *arg;             /* T_QUEUED: a copy of the argument */
	size_t len;
	uint64_t cpu, as;      /* limits; UINT64_MAX: none */
	struct baton__reason reason; /* T_EXITED: static text only */
};

enum rt_state { RT_UNINIT = 0, RT_RUNNING, RT_STOPPED };

struct baton__iso_runtime {
	pthread_mutex_t mu;
	enum rt_state state;
	bool stopping;
	int ctl;               /* SEQPACKET socket to the fork server */
	pid_t server;
	int notify;            /* eventfd: workers poke it for ignored tasks */
	pthread_t monitor;
	bool monitor_started;
	struct slot *slots;
	unsigned nslots;
	size_t recycle_after;
	struct slot *idle;
	struct baton__itask *qhead, *qtail;
	struct baton__itask *free;
	pthread_key_t key;
	struct baton_isolated_stats stats;
};

extern struct baton__iso_runtime baton__iso_rt;

/* runtime.c: slot verbs, all under rt.mu. */
void baton__iso_post(struct slot *s, struct baton__itask *t);
void baton__iso_release_slot(struct slot *s);
void baton__iso_kill_slot(struct slot *s);
void baton__iso_reason_from(struct slot *s, struct baton_exit_reason *r);
struct baton__itask *baton__iso_task_alloc(void);
void baton__iso_task_unlink(struct baton__itask *t);
void baton__iso_task_free(struct baton__itask *t);
void baton__iso_task_exit(struct baton__itask *t, enum baton_exit_kind kind,
			  int code, const char *message);
int baton__iso_owner_add(struct baton__itask *t);

/* Wakes waiters on a task's own word (dispatch or resolution). */
void baton__iso_task_bump(struct baton__itask *t);

#endif /* BATON_ISOLATED_INTERNAL_H */
