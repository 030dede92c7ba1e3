/*
 * gate.h - internal: the line in which the blocked threads of one side of
 * a queue wait, so that only one of them (the leader) sleeps on the side's
 * event count and each signal wakes one thread, not all of them.
 */
#ifndef BATON_RUNTIME_GATE_H
#define BATON_RUNTIME_GATE_H

#include <stdatomic.h>

#include "wait.h"

struct baton__gate {
	atomic_uint word; /* GATE_HELD | GATE_SLEEPERS | GATE_OPEN, gate.c */
};

/*
 * Waits for the gate and takes it.  Returns 0 (the caller is the leader
 * and must call baton__gate_leave), -ETIMEDOUT (deadline passed), or
 * -EPIPE (the gate was opened for good: stop waiting).
 */
int baton__gate_enter(struct baton__gate *g, const struct baton__deadline *d);

/* Gives the gate up, waking the next thread in line if there is one. */
void baton__gate_leave(struct baton__gate *g);

/* Opens the gate for good: every waiter, present and future, gets -EPIPE. */
void baton__gate_open(struct baton__gate *g);

#endif /* BATON_RUNTIME_GATE_H */
