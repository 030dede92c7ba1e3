/*
 * fuzz.h - what the parts of api_fuzz share: the checks, the input
 * reader, the token ledger, and the reference model of queues, futures
 * and tasks (model.c).  The operations live in ops_queue.c, ops_future.c
 * and ops_task.c; api_fuzz.c drives them.  See README.
 */
#ifndef BATON_TESTS_FUZZ_H
#define BATON_TESTS_FUZZ_H

#include <baton.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_QUEUES 3
#define MAX_QCAP 8
#define MAX_FUTURES 12
#define MAX_TASKS 8
#define MAX_CBS 16
#define MAX_TOKENS 65536
#define MAX_LOG 512
#define MAX_STALE 8
#define MAX_BATCH 8
#define TOKEN_MAGIC 0x70cc3417u

/* ---- checks ---------------------------------------------------------- */

extern unsigned int op_no;   /* the operation being checked */
extern const char *op_name;
extern bool trace;           /* API_FUZZ_TRACE=1: print each operation */

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr,                                      \
				"api_fuzz: model divergence at %s:%d in op "  \
				"#%u (%s): %s\n",                            \
				__FILE__, __LINE__, op_no, op_name, #c);     \
			abort();                                             \
		}                                                            \
	} while (0)

#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);          \
		if (a_ != b_) {                                              \
			fprintf(stderr,                                      \
				"api_fuzz: model divergence at %s:%d in op "  \
				"#%u (%s): %s == %lld, model expects %s == " \
				"%lld\n",                                    \
				__FILE__, __LINE__, op_no, op_name, #a, a_,  \
				#b, b_);                                     \
			abort();                                             \
		}                                                            \
	} while (0)

/* Ends an operation early: the post-op checks still run. */
#define DONE()                                                               \
	do {                                                                 \
		end_op();                                                    \
		return;                                                      \
	} while (0)

/* Starts an operation: clears what the model expects of one call. */
void begin_op(const char *name);
/*
 * Ends it: every expected callback, destroy and clone happened; tokens
 * the library dropped are freed; queues, futures and the live cell count
 * agree with the model.
 */
void end_op(void);
unsigned int live_cells(void);

/* CLOCK_MONOTONIC now, in ns; aborts if a wait returned before t0 + ms. */
uint64_t now_ns(void);
void check_waited(uint64_t t0, int ms);

/*
 * Whether this input may still make a call that really waits (1 ms): a
 * small budget per input keeps the fuzzer fast.
 */
#define WAITS_PER_INPUT 2
extern unsigned int waits_left;
bool may_wait(void);

/* ---- input ----------------------------------------------------------- */

extern const uint8_t *in_p;
extern size_t in_n, in_i;

/* The next input byte; 0 once the input is exhausted. */
uint8_t u8(void);

/* ---- tokens: distinct heap items and values -------------------------- */

struct token {
	uint32_t magic;
	uint32_t id;
};

enum owner { OWN_NONE, OWN_FUZZ, OWN_LIB };

struct tokslot {
	struct token *p;
	uint8_t owner;
	bool expect_destroy;
};

extern struct tokslot toks[MAX_TOKENS];
extern unsigned int ntoks;

/* For token_clone (ops_future.c): whether it fails, how often it ran. */
extern bool clone_fails;
extern unsigned int clones_expected, clones_seen;

struct token *tok_new(void);          /* NULL once exhausted */
struct token *item_new(uint8_t sel);  /* a fresh token or NULL */
void tok_check_live(const struct token *t);
void tok_free(struct token *t);       /* the fuzzer frees its own */
void tok_give(struct token *t);       /* fuzzer -> library */
void tok_back(struct token *t);       /* library -> fuzzer */
void tok_expect_destroy(struct token *t); /* this op destroys it */
void tok_expect_orphan(struct token *t);  /* this op drops it */
void token_destroy(void *item);       /* the destructor given to baton */

/* ---- the queue model ------------------------------------------------- */

struct mqueue {
	baton_queue *q;
	bool live;
	bool futq;      /* items are future references */
	bool nodestroy; /* created with a NULL item destructor */
	bool closed;
	size_t cap;
	size_t n;
	void *items[MAX_QCAP]; /* items[0] is the oldest */
};

extern struct mqueue queues[MAX_QUEUES];

/* What destroying the queue does to the items left inside. */
void q_destroy_model(struct mqueue *mq);

/* ---- the future model ------------------------------------------------ */

enum fstate { F_PENDING, F_FULFILLED, F_FAILED, F_BROKEN };

/* A registered completion callback, in registration order. */
struct cbent {
	bool derived;
	int target;      /* derived: the continuation's record */
	uint32_t ctx;    /* user callback: its ctx */
};

struct mfuture {
	bool live;
	baton_future *f;
	baton_promise *p;
	bool promise_live;
	enum fstate state;
	struct baton_exit_reason reason; /* F_FAILED; F_BROKEN: its reason */
	struct token *value;
	bool has_destroy;
	bool taken;
	bool stop; /* baton_promise_is_cancelled */
	int held, qrefs, trefs, noderef, ucb;
	int parent; /* a pending continuation's input; -1 */
	struct cbent cbs[MAX_CBS];
	int ncbs;
};

extern struct mfuture futs[MAX_FUTURES];
extern const struct baton_exit_reason cancelled_reason, broken_reason;

/* What a completion callback must see: its future, ctx, and a peek. */
struct cbexpect {
	baton_future *f;
	uint32_t ctx;
	int peek;
	void *value;
	struct baton_exit_reason reason;
};

extern struct cbexpect cblog[MAX_LOG];
extern unsigned int cblog_n, cblog_pos;
extern uint32_t next_ctx;

int refs(const struct mfuture *m);
int find_future(const baton_future *f);
void maybe_free(int i);
int expected_access(const struct mfuture *m, void **value,
		    struct baton_exit_reason *reason);
void expect_callback(const struct mfuture *m, uint32_t ctx);
void complete(int i, enum fstate st, const struct baton_exit_reason *reason);
bool has_pending_continuation(const struct mfuture *m);
int free_future_slot(uint8_t sel);
void future_init(int i, baton_future *f);
int pick_held(uint8_t sel);
int pick_promise(uint8_t sel);

/* ---- the task model -------------------------------------------------- */

struct mtask {
	bool live;
	baton_task h;
	struct token *value;
	bool has_destroy;
};

extern struct mtask tasks[MAX_TASKS];
extern baton_task stale[MAX_STALE];
extern unsigned int nstale;

/* Tasks left owned when the input's thread exits (Elixir's links). */
extern bool leave_tasks;
extern unsigned int orphans_expected, orphans_seen;

bool zero_handle_check(const baton_task *h);
void remember_stale(baton_task h);
void task_drop_value(struct mtask *mt);
void orphan_hook(const struct baton_task_info *info, void *ctx);

/* ---- the operations ---------------------------------------------------- */

void op_queue_create(void);
void op_queue_destroy(void);
void op_queue_push(void);
void op_queue_push_many(void);
void op_queue_pop(void);
void op_queue_pop_many(void);
void op_queue_close(void);
void op_queue_null(void);

void op_promise_create(void);
void op_promise_fulfil(void);
void op_promise_fail(void);
void op_promise_destroy(void);
void op_future_ref(void);
void op_future_wait(void);
void op_future_access(void);
void op_future_cancel(void);
void op_future_on_done(void);
void op_future_then(void);
void op_future_bulk(void);

void op_task_completed(void);
void op_task_await(void);
void op_task_ignore(void);
void op_task_info(void);
void op_task_to_future(void);
void op_task_stale(void);
void op_task_many(void);
void op_misc(void);

#endif /* BATON_TESTS_FUZZ_H */
