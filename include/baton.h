/*
 * baton.h - the umbrella header: everything baton offers.
 *
 * baton is a C11 futures library: strict tasks with Elixir Task semantics,
 * shareable futures, a bounded blocking queue and the executor they run on.
 * Each concept has its own header under baton/; this one includes them all.
 */
#ifndef BATON_H
#define BATON_H

#include "baton/combinators.h"
#include "baton/common.h"
#include "baton/future.h"
#include "baton/isolated.h"
#include "baton/link.h"
#include "baton/pool.h"
#include "baton/queue.h"
#include "baton/shm.h"
#include "baton/stream.h"
#include "baton/supervisor.h"
#include "baton/task.h"

#endif /* BATON_H */
