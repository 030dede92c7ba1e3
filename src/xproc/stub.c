/*
 * stub.c - include/baton/shm.h where there is no shared futex, memfd or
 * pidfd (not Linux): every call builds and returns -ENOSYS.
 *
 * Design notes: no state; nothing is allocated or freed.
 */
#include <errno.h>

#include <baton/shm.h>

int baton_shm_create(baton_shm **o, const struct baton_shm_opts *p)
{ if (o) *o = NULL; (void)p; return -ENOSYS; }
int baton_shm_attach(baton_shm **o, int fd)
{ if (o) *o = NULL; (void)fd; return -ENOSYS; }
int baton_shm_create_named(baton_shm **o, const char *n,
			   const struct baton_shm_opts *p)
{ if (o) *o = NULL; (void)n; (void)p; return -ENOSYS; }
int baton_shm_open_named(baton_shm **o, const char *n)
{ if (o) *o = NULL; (void)n; return -ENOSYS; }
int baton_shm_adopt(baton_shm *s) { (void)s; return -ENOSYS; }
int baton_shm_detach(baton_shm *s) { (void)s; return -ENOSYS; }
int baton_shm_fd(const baton_shm *s) { (void)s; return -ENOSYS; }
int baton_shm_send_fd(const baton_shm *s, int k)
{ (void)s; (void)k; return -ENOSYS; }
int baton_shm_attach_socket(baton_shm **o, int k)
{ if (o) *o = NULL; (void)k; return -ENOSYS; }
int baton_shm_reap(baton_shm *s) { (void)s; return -ENOSYS; }
int baton_shm_stats(baton_shm *s, struct baton_shm_stats *t)
{ (void)s; (void)t; return -ENOSYS; }
int baton_shm_future_start(baton_shm *s, baton_shm_fn fn, void *a,
			   const struct baton_task_opts *o, baton_shm_future *f)
{ (void)s; (void)fn; (void)a; (void)o; if (f) f->id = 0; return -ENOSYS; }
int baton_shm_promise_create(baton_shm *s, baton_shm_promise *p,
			     baton_shm_future *f)
{ (void)s; if (p) p->id = 0; if (f) f->id = 0; return -ENOSYS; }
int baton_shm_future_completed(baton_shm *s, const void *v, size_t n,
			       baton_shm_future *f)
{ (void)s; (void)v; (void)n; if (f) f->id = 0; return -ENOSYS; }
ptrdiff_t baton_shm_future_completed_many(baton_shm *s, const void *v,
					  size_t z, size_t n,
					  baton_shm_future *f)
{ (void)s; (void)v; (void)z; for (size_t i = 0; f && i < n; i++) f[i].id = 0;
  return -ENOSYS; }
int baton_shm_promise_fulfil(baton_shm *s, baton_shm_promise p,
			     const void *v, size_t n)
{ (void)s; (void)p; (void)v; (void)n; return -ENOSYS; }
int baton_shm_promise_fail(baton_shm *s, baton_shm_promise p, int k, int c)
{ (void)s; (void)p; (void)k; (void)c; return -ENOSYS; }
int baton_shm_promise_failf(baton_shm *s, baton_shm_promise p, int k,
			    int c, const char *f, ...)
{ (void)s; (void)p; (void)k; (void)c; (void)f; return -ENOSYS; }
int baton_shm_promise_destroy(baton_shm *s, baton_shm_promise p)
{ (void)s; (void)p; return -ENOSYS; }
int baton_shm_future_ref(baton_shm *s, baton_shm_future f)
{ (void)s; (void)f; return -ENOSYS; }
int baton_shm_future_unref(baton_shm *s, baton_shm_future f)
{ (void)s; (void)f; return -ENOSYS; }
int baton_shm_future_unref_many(baton_shm *s, const baton_shm_future *f,
				size_t n)
{ (void)s; (void)f; (void)n; return -ENOSYS; }
int baton_shm_future_wait(baton_shm *s, baton_shm_future f, int t)
{ (void)s; (void)f; (void)t; return -ENOSYS; }
int baton_shm_future_copy(baton_shm *s, baton_shm_future f, int t, void *b,
			  size_t c, size_t *n, struct baton_shm_reason *r)
{ (void)s; (void)f; (void)t; (void)b; (void)c; (void)n; (void)r;
  return -ENOSYS; }
int baton_shm_future_take(baton_shm *s, baton_shm_future f, int t, void *b,
			  size_t c, size_t *n, struct baton_shm_reason *r)
{ (void)s; (void)f; (void)t; (void)b; (void)c; (void)n; (void)r;
  return -ENOSYS; }
int baton_shm_future_borrow(baton_shm *s, baton_shm_future f, int t,
			    const void **v, size_t *n,
			    struct baton_shm_reason *r)
{ (void)s; (void)f; (void)t; (void)v; (void)n; (void)r; return -ENOSYS; }
int baton_shm_future_cancel(baton_shm *s, baton_shm_future f)
{ (void)s; (void)f; return -ENOSYS; }
bool baton_shm_future_is_done(baton_shm *s, baton_shm_future f)
{ (void)s; (void)f; return false; }
int baton_shm_queue_create(baton_shm *s, size_t c, baton_shm_queue *q)
{ (void)s; (void)c; if (q) q->id = 0; return -ENOSYS; }
int baton_shm_queue_join(baton_shm *s, baton_shm_queue q, unsigned r)
{ (void)s; (void)q; (void)r; return -ENOSYS; }
int baton_shm_queue_leave(baton_shm *s, baton_shm_queue q, unsigned r)
{ (void)s; (void)q; (void)r; return -ENOSYS; }
int baton_shm_queue_push(baton_shm *s, baton_shm_queue q, baton_shm_future f,
			 int t)
{ (void)s; (void)q; (void)f; (void)t; return -ENOSYS; }
int baton_shm_queue_pop(baton_shm *s, baton_shm_queue q, baton_shm_future *f,
			int t)
{ (void)s; (void)q; (void)t; if (f) f->id = 0; return -ENOSYS; }
ptrdiff_t baton_shm_queue_push_many(baton_shm *s, baton_shm_queue q,
				    const baton_shm_future *f, size_t n, int t)
{ (void)s; (void)q; (void)f; (void)n; (void)t; return -ENOSYS; }
ptrdiff_t baton_shm_queue_pop_many(baton_shm *s, baton_shm_queue q,
				   baton_shm_future *f, size_t n, int t)
{ (void)s; (void)q; (void)t; for (size_t i = 0; f && i < n; i++) f[i].id = 0;
  return -ENOSYS; }
int baton_shm_queue_close(baton_shm *s, baton_shm_queue q)
{ (void)s; (void)q; return -ENOSYS; }
int baton_shm_queue_close_discard(baton_shm *s, baton_shm_queue q)
{ (void)s; (void)q; return -ENOSYS; }
int baton_shm_queue_destroy(baton_shm *s, baton_shm_queue q)
{ (void)s; (void)q; return -ENOSYS; }
int baton_shm_queue_depth(baton_shm *s, baton_shm_queue q)
{ (void)s; (void)q; return -ENOSYS; }
