#!/usr/bin/env python3
"""Writes the hand-made seed inputs of tests/fuzz/corpus/.

Each input is a sequence of operations: an opcode byte (an index into
ops[] in api_fuzz.c, listed below in the same order) followed by the
bytes that operation reads.  Run from anywhere:
    python3 tests/fuzz/make_corpus.py
"""
import os

OPS = [
    "queue_create", "queue_destroy", "queue_push", "queue_push_many",
    "queue_pop", "queue_pop_many", "queue_close", "queue_null",
    "promise_create", "promise_fulfil", "promise_fail", "promise_destroy",
    "future_ref", "future_wait", "future_access", "future_cancel",
    "future_on_done", "future_then", "task_completed", "task_await",
    "task_ignore", "task_info", "task_to_future", "task_stale",
    "task_many", "misc",
    # 26..29 repeat queue_push, queue_pop, promise_create, future_access
    None, None, None, None,
    "future_bulk",
]


def op(name, *args):
    return bytes([OPS.index(name)] + list(args))


# queue_create: qi, b (cap = 1 + (b & 7); 8: queue of futures; 16: no
# destructor).  push: qi, variant, item.  push_many: qi, variant, n, items.
# pop: qi, variant.  pop_many: qi, variant, n.  close: qi, v (1: discard,
# 2: to a callback).
SEEDS = {
    "queue_fifo": b"".join([
        op("queue_create", 0, 2),                   # capacity 3
        op("queue_push", 0, 0, 1), op("queue_push", 0, 1, 2),
        op("queue_push", 0, 4, 7),                  # a NULL item
        op("queue_push", 0, 0, 3),                  # full: -EAGAIN
        op("queue_pop", 0, 0), op("queue_pop_many", 0, 4, 8),
        op("queue_pop", 0, 1),                      # empty: -ETIMEDOUT
        op("queue_push_many", 0, 0, 5, 1, 2, 3, 4, 5),
        op("queue_close", 0, 0),
        op("queue_push", 0, 0, 1),                  # closed: -EPIPE
        op("queue_pop_many", 0, 4, 2), op("queue_pop", 0, 4),
        op("queue_pop", 0, 4),                      # drained: -EPIPE
        op("queue_destroy", 0),
    ]),
    "queue_discard": b"".join([
        op("queue_create", 1, 7),                   # capacity 8
        op("queue_push_many", 1, 1, 8, 1, 7, 2, 3, 4, 5, 6, 1),
        op("queue_pop", 1, 0),
        op("queue_close", 1, 3),                    # to the callback
        op("queue_create", 2, 16 + 3),              # no destructor
        op("queue_push_many", 2, 4, 3, 1, 2, 3),
        op("queue_close", 2, 1),                    # dropped
        op("queue_create", 0, 5),
        op("queue_push_many", 0, 0, 4, 1, 2, 3, 4),
        op("queue_null"),
    ]),
    "future_queue": b"".join([
        op("promise_create", 0, 0), op("promise_create", 1, 0),
        op("queue_create", 0, 8 + 2),               # futures, capacity 3
        op("future_ref", 0, 0), op("future_ref", 1, 0),
        op("queue_push_many", 0, 0, 3, 0, 1, 0),
        op("future_ref", 0, 1), op("future_ref", 1, 1),  # drop ours
        op("promise_fulfil", 0, 1),
        op("queue_pop", 0, 0),
        op("future_access", 0, 0, 1),               # take
        op("promise_destroy", 1),                   # broken
        op("queue_destroy", 0),                     # releases the rest
    ]),
    "future_states": b"".join([
        op("promise_create", 0, 0),
        op("future_on_done", 0), op("future_on_done", 0),
        op("future_access", 0, 0, 3),               # peek: -EAGAIN
        op("future_then", 0, 1),                    # pending continuation
        op("future_on_done", 1),
        op("future_then", 1, 2),
        op("future_cancel", 1, 0),                  # cancels the middle one
        op("promise_fail", 0, 1 + 8, 42),           # ERROR, "boom"
        op("future_access", 0, 1, 0),               # borrow: EXITED
        op("future_access", 2, 1, 3),
        op("promise_create", 3, 0),
        op("promise_fulfil", 3, 2),
        op("future_access", 3, 0, 2),               # copy
        op("future_access", 3, 0, 1),               # take
        op("future_access", 3, 0, 1),               # -EALREADY
        op("future_on_done", 3),
        op("promise_fulfil", 3, 3),                 # -EALREADY
        op("promise_create", 4, 0),
        op("future_cancel", 4, 0),
        op("promise_destroy", 4),
        op("future_wait", 4, 1),
    ]),
    "tasks": b"".join([
        op("task_completed", 0, 1), op("task_completed", 1, 8 + 2),
        op("task_completed", 2, 7), op("task_completed", 3, 3),
        op("task_info", 0),
        op("task_await", 0, 0, 0),
        op("task_stale", 0, 0),
        op("task_await", 1, 2, 2),                  # through a copy
        op("task_stale", 1, 2),
        op("task_to_future", 2, 5),
        op("future_access", 5, 0, 0),
        op("task_completed", 4, 4), op("task_completed", 5, 5),
        op("task_many", 0, 3, 3, 4, 4),             # duplicate: -EINVAL
        op("task_many", 0, 1, 31),                  # stale: -ESTALE
        op("task_many", 1, 2, 4, 5, 0),             # yield_many
        op("task_many", 2, 1, 3),                   # await_many(INF)
        op("task_completed", 6, 6),
        op("task_ignore", 6),
        op("misc", 0),
    ]),
    # misc with (v & 3) == 3: the tasks still owned are left to the
    # thread's exit (stopped, reported to the orphan hook, released).
    "tasks_left_at_exit": b"".join([
        op("task_completed", 0, 1), op("task_completed", 1, 8 + 2),
        op("task_completed", 2, 7),
        op("task_to_future", 2, 0),
        op("promise_create", 1, 0),
        op("misc", 3),
    ]),
    # future_bulk: v (1: fulfilled, 2: released in reverse, 4: futures
    # first), n - 1: more cells than a thread's cache holds.
    "cells_bulk": b"".join([
        op("future_bulk", 1, 159), op("promise_create", 0, 0),
        op("future_bulk", 6, 100), op("future_bulk", 7, 70),
    ]),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
