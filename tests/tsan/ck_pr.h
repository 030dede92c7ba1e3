/*
 * tests/tsan/ck_pr.h - a ThreadSanitizer shadow of Concurrency Kit's ck_pr.h.
 *
 * Overview
 * ========
 * TEST-ONLY.  A build configured with -Db_sanitize=thread puts tests/tsan
 * first on the include path, so every `#include <ck_pr.h>` (ck_ring.h,
 * ck_ec.h, baton's own sources) lands here instead of in
 * /usr/include/ck_pr.h.  The include guard is the real one's (CK_PR_H), so
 * the real header is never pulled in afterwards.
 *
 * Why: on x86-64, Concurrency Kit implements every ck_pr_* operation in
 * inline assembly, which ThreadSanitizer cannot see; and ck's own
 * CK_USE_CC_BUILTINS mode makes loads and stores plain volatile accesses,
 * which TSan sees as data races.  Here every operation is an __atomic
 * builtin, which TSan instruments and models.
 *
 * Mapping (deliberately stronger than ck; fine for a test build):
 *   ck_pr_load_*                         __atomic_load,  __ATOMIC_ACQUIRE
 *   ck_pr_store_*                        __atomic_store, __ATOMIC_RELEASE
 *   cas, fas, faa, add, sub, and, or,
 *   xor, inc, dec, neg, not, bts, btr,
 *   btc (and their _zero / _is_zero /
 *   _value forms)                        __ATOMIC_SEQ_CST read-modify-writes
 *   ck_pr_fence_* and ck_pr_fence_strict_*  __atomic_thread_fence(SEQ_CST)
 *   ck_pr_barrier                        __atomic_signal_fence (compiler only)
 *   ck_pr_stall                          pause
 * TSan does not model standalone fences, so ordering is carried by the
 * acquire loads and release stores themselves; the fences stay real so the
 * instrumented program still runs correctly on the hardware (store-load
 * ordering needs them).
 *
 * Types: ptr, char, int, uint, double (unless CK_PR_DISABLE_DOUBLE), 64,
 * 32, 16, 8 -- the scalar families of the x86-64 port, with the same
 * signatures and the same CK_F_PR_* feature macros.
 *
 * Not provided: the multi-word operations (ck_pr_cas_ptr_2, _64_2,
 * ck_pr_load_ptr_2, ...; CK_F_PR_CAS_PTR_2 stays undefined, so ck_stack and
 * ck_fifo fall back or leave those functions out) and RTM (ck_md.h disables
 * it).  Neither ck_ring nor ck_ec uses them.
 *
 * Not covered by this header: ck_ec32_inc and the single-producer
 * ck_ec32_add_sp / ck_ec64_add_sp, which are raw inline assembly inside
 * ck_ec.h; baton uses only multi-producer ck_ec32_add, which goes through
 * ck_pr_faa_32.  Code inside libck.so itself (ck_ec's slow wait paths) is
 * not instrumented at all.
 */
#ifndef CK_PR_H
#define CK_PR_H

#include <ck_cc.h>
#include <ck_limits.h>
#include <ck_md.h>
#include <ck_stdbool.h>
#include <ck_stdint.h>

#define CK_F_PR

/* Lets a test check that this header, not the real one, is in use. */
#define CK_PR_TSAN_SHADOW 1

/* The memory orders every shadowed operation uses. */
#define CK_PR_TSAN_LOAD __ATOMIC_ACQUIRE
#define CK_PR_TSAN_STORE __ATOMIC_RELEASE
#define CK_PR_TSAN_RMW __ATOMIC_SEQ_CST

/*
 * GCC warns (-Wtsan) that TSan does not model atomic_thread_fence.  We know:
 * the fences are here for the hardware, not for TSan (see above).
 */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#define CK_PR_TSAN_POP_WTSAN
#endif

/* A compiler-only barrier, as in ck. */
CK_CC_INLINE static void
ck_pr_barrier(void)
{

	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* A spin-wait hint. */
CK_CC_INLINE static void
ck_pr_stall(void)
{

#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* Read-for-ownership is only a prefetch hint: nothing to model. */
#define CK_F_PR_RFO
CK_CC_INLINE static void
ck_pr_rfo(const void *m)
{

	(void)m;
}

/*
 * Every fence, strict or not, is a full fence: stronger than any ck
 * variant, and independent of the memory model ck_md.h declares.
 */
#define CK_PR_TSAN_FENCE(T)						\
	CK_CC_INLINE static void					\
	ck_pr_fence_strict_##T(void)					\
	{								\
		__atomic_thread_fence(__ATOMIC_SEQ_CST);		\
	}								\
	CK_CC_INLINE static void					\
	ck_pr_fence_##T(void)						\
	{								\
		__atomic_thread_fence(__ATOMIC_SEQ_CST);		\
	}

CK_PR_TSAN_FENCE(atomic)
CK_PR_TSAN_FENCE(atomic_load)
CK_PR_TSAN_FENCE(atomic_store)
CK_PR_TSAN_FENCE(store_atomic)
CK_PR_TSAN_FENCE(load_atomic)
CK_PR_TSAN_FENCE(load_store)
CK_PR_TSAN_FENCE(store_load)
CK_PR_TSAN_FENCE(load)
CK_PR_TSAN_FENCE(store)
CK_PR_TSAN_FENCE(memory)
CK_PR_TSAN_FENCE(acquire)
CK_PR_TSAN_FENCE(release)
CK_PR_TSAN_FENCE(acqrel)
CK_PR_TSAN_FENCE(lock)
CK_PR_TSAN_FENCE(unlock)
CK_PR_TSAN_FENCE(load_depends)

#undef CK_PR_TSAN_FENCE

#define CK_F_PR_FENCE_LOAD
#define CK_F_PR_FENCE_LOAD_DEPENDS
#define CK_F_PR_FENCE_MEMORY
#define CK_F_PR_FENCE_STORE
#define CK_F_PR_FENCE_STRICT_LOAD
#define CK_F_PR_FENCE_STRICT_LOAD_DEPENDS
#define CK_F_PR_FENCE_STRICT_MEMORY
#define CK_F_PR_FENCE_STRICT_STORE

/*
 * Load, store, compare-and-swap and fetch-and-store for one scalar type S
 * (C type T).  The generic __atomic forms work for double too.
 */
#define CK_PR_TSAN_BASIC(S, T)						\
	CK_CC_INLINE static T						\
	ck_pr_md_load_##S(const T *target)				\
	{								\
		T r;							\
									\
		__atomic_load(target, &r, CK_PR_TSAN_LOAD);		\
		return r;						\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_md_store_##S(T *target, T v)				\
	{								\
									\
		__atomic_store(target, &v, CK_PR_TSAN_STORE);		\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_cas_##S(T *target, T compare, T set)			\
	{								\
									\
		return __atomic_compare_exchange(target, &compare,	\
		    &set, false, CK_PR_TSAN_RMW, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_cas_##S##_value(T *target, T compare, T set, T *v)	\
	{								\
		bool r;							\
									\
		r = __atomic_compare_exchange(target, &compare, &set,	\
		    false, CK_PR_TSAN_RMW, CK_PR_TSAN_RMW);		\
		*v = compare;						\
		return r;						\
	}								\
									\
	CK_CC_INLINE static T						\
	ck_pr_fas_##S(T *target, T v)					\
	{								\
		T r;							\
									\
		__atomic_exchange(target, &v, &r, CK_PR_TSAN_RMW);	\
		return r;						\
	}

/*
 * The arithmetic and bitwise read-modify-writes for an integer type.  Bit
 * masks and negation go through uint64_t so no signed overflow can occur.
 */
#define CK_PR_TSAN_INTEGER(S, T)					\
	CK_CC_INLINE static T						\
	ck_pr_faa_##S(T *target, T d)					\
	{								\
									\
		return __atomic_fetch_add(target, d, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_add_##S(T *target, T d)					\
	{								\
									\
		(void)__atomic_fetch_add(target, d, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_sub_##S(T *target, T d)					\
	{								\
									\
		(void)__atomic_fetch_sub(target, d, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_and_##S(T *target, T d)					\
	{								\
									\
		(void)__atomic_fetch_and(target, d, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_or_##S(T *target, T d)					\
	{								\
									\
		(void)__atomic_fetch_or(target, d, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_xor_##S(T *target, T d)					\
	{								\
									\
		(void)__atomic_fetch_xor(target, d, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_inc_##S(T *target)					\
	{								\
									\
		(void)__atomic_fetch_add(target, 1, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_inc_##S##_is_zero(T *target)				\
	{								\
									\
		return (T)__atomic_add_fetch(target, 1,			\
		    CK_PR_TSAN_RMW) == 0;				\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_inc_##S##_zero(T *target, bool *zero)			\
	{								\
									\
		*zero = ck_pr_inc_##S##_is_zero(target);		\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_dec_##S(T *target)					\
	{								\
									\
		(void)__atomic_fetch_sub(target, 1, CK_PR_TSAN_RMW);	\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_dec_##S##_is_zero(T *target)				\
	{								\
									\
		return (T)__atomic_sub_fetch(target, 1,			\
		    CK_PR_TSAN_RMW) == 0;				\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_dec_##S##_zero(T *target, bool *zero)			\
	{								\
									\
		*zero = ck_pr_dec_##S##_is_zero(target);		\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_not_##S(T *target)					\
	{								\
									\
		(void)__atomic_fetch_xor(target, (T)~(uint64_t)0,	\
		    CK_PR_TSAN_RMW);					\
	}								\
									\
	/* No fetch-and-negate builtin: a CAS loop. */			\
	CK_CC_INLINE static T						\
	ck_pr_tsan_neg_##S(T *target)					\
	{								\
		T prev;							\
									\
		prev = __atomic_load_n(target, CK_PR_TSAN_LOAD);	\
		while (!__atomic_compare_exchange_n(target, &prev,	\
		    (T)(0 - (uint64_t)prev), false, CK_PR_TSAN_RMW,	\
		    CK_PR_TSAN_LOAD))					\
			ck_pr_stall();					\
		return prev;						\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_neg_##S(T *target)					\
	{								\
									\
		(void)ck_pr_tsan_neg_##S(target);			\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_neg_##S##_is_zero(T *target)				\
	{								\
									\
		return ck_pr_tsan_neg_##S(target) == 0;		\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_neg_##S##_zero(T *target, bool *zero)			\
	{								\
									\
		*zero = ck_pr_neg_##S##_is_zero(target);		\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_bts_##S(T *target, unsigned int b)			\
	{								\
		const T m = (T)((uint64_t)1 << b);			\
									\
		return (__atomic_fetch_or(target, m,			\
		    CK_PR_TSAN_RMW) & m) != 0;				\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_btr_##S(T *target, unsigned int b)			\
	{								\
		const T m = (T)((uint64_t)1 << b);			\
									\
		return (__atomic_fetch_and(target, (T)~m,		\
		    CK_PR_TSAN_RMW) & m) != 0;				\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_btc_##S(T *target, unsigned int b)			\
	{								\
		const T m = (T)((uint64_t)1 << b);			\
									\
		return (__atomic_fetch_xor(target, m,			\
		    CK_PR_TSAN_RMW) & m) != 0;				\
	}

CK_PR_TSAN_BASIC(char, char)
CK_PR_TSAN_BASIC(int, int)
CK_PR_TSAN_BASIC(uint, unsigned int)
CK_PR_TSAN_BASIC(64, uint64_t)
CK_PR_TSAN_BASIC(32, uint32_t)
CK_PR_TSAN_BASIC(16, uint16_t)
CK_PR_TSAN_BASIC(8, uint8_t)

CK_PR_TSAN_INTEGER(char, char)
CK_PR_TSAN_INTEGER(int, int)
CK_PR_TSAN_INTEGER(uint, unsigned int)
CK_PR_TSAN_INTEGER(64, uint64_t)
CK_PR_TSAN_INTEGER(32, uint32_t)
CK_PR_TSAN_INTEGER(16, uint16_t)
CK_PR_TSAN_INTEGER(8, uint8_t)

#undef CK_PR_TSAN_INTEGER

#ifndef CK_PR_DISABLE_DOUBLE
CK_PR_TSAN_BASIC(double, double)

/* Floating-point arithmetic has no fetch-and-op builtin: CAS loops. */
#define CK_PR_TSAN_DOUBLE_OP(K, EXPR)					\
	CK_CC_INLINE static double					\
	ck_pr_tsan_##K##_double(double *target, double d)		\
	{								\
		double prev, next;					\
									\
		__atomic_load(target, &prev, CK_PR_TSAN_LOAD);		\
		do {							\
			next = (EXPR);					\
		} while (!__atomic_compare_exchange(target, &prev,	\
		    &next, false, CK_PR_TSAN_RMW, CK_PR_TSAN_LOAD));	\
		return prev;						\
	}

CK_PR_TSAN_DOUBLE_OP(add, prev + d)
CK_PR_TSAN_DOUBLE_OP(neg, ((void)d, -prev))

#undef CK_PR_TSAN_DOUBLE_OP

CK_CC_INLINE static double
ck_pr_faa_double(double *target, double d)
{

	return ck_pr_tsan_add_double(target, d);
}

CK_CC_INLINE static void
ck_pr_add_double(double *target, double d)
{

	(void)ck_pr_tsan_add_double(target, d);
}

CK_CC_INLINE static void
ck_pr_sub_double(double *target, double d)
{

	(void)ck_pr_tsan_add_double(target, -d);
}

CK_CC_INLINE static void
ck_pr_inc_double(double *target)
{

	(void)ck_pr_tsan_add_double(target, 1.0);
}

CK_CC_INLINE static void
ck_pr_dec_double(double *target)
{

	(void)ck_pr_tsan_add_double(target, -1.0);
}

CK_CC_INLINE static void
ck_pr_neg_double(double *target)
{

	(void)ck_pr_tsan_neg_double(target, 0.0);
}
#endif /* !CK_PR_DISABLE_DOUBLE */

#undef CK_PR_TSAN_BASIC

/*
 * Pointers: ck passes the address of a pointer as `void *` and does
 * arithmetic on the pointer's bits.  Everything goes through the object's
 * real type (void *), with CAS loops for the arithmetic, so no access
 * aliases it as an integer.
 */
CK_CC_INLINE static void *
ck_pr_md_load_ptr(const void *target)
{

	return __atomic_load_n((void *const *)target, CK_PR_TSAN_LOAD);
}

CK_CC_INLINE static void
ck_pr_md_store_ptr(void *target, const void *v)
{

	__atomic_store_n((void **)target, (void *)(uintptr_t)v,
	    CK_PR_TSAN_STORE);
}

CK_CC_INLINE static bool
ck_pr_cas_ptr(void *target, void *compare, void *set)
{

	return __atomic_compare_exchange_n((void **)target, &compare, set,
	    false, CK_PR_TSAN_RMW, CK_PR_TSAN_RMW);
}

CK_CC_INLINE static bool
ck_pr_cas_ptr_value(void *target, void *compare, void *set, void *v)
{
	bool r;

	r = __atomic_compare_exchange_n((void **)target, &compare, set,
	    false, CK_PR_TSAN_RMW, CK_PR_TSAN_RMW);
	*(void **)v = compare;
	return r;
}

CK_CC_INLINE static void *
ck_pr_fas_ptr(void *target, void *v)
{

	return __atomic_exchange_n((void **)target, v, CK_PR_TSAN_RMW);
}

enum ck_pr_tsan_ptr_op {
	CK_PR_TSAN_PTR_ADD,
	CK_PR_TSAN_PTR_SUB,
	CK_PR_TSAN_PTR_AND,
	CK_PR_TSAN_PTR_OR,
	CK_PR_TSAN_PTR_XOR,
	CK_PR_TSAN_PTR_NEG,
	CK_PR_TSAN_PTR_NOT
};

/* Applies op to the pointer's bits atomically; returns the old bits. */
CK_CC_INLINE static uintptr_t
ck_pr_tsan_ptr_rmw(void *target, enum ck_pr_tsan_ptr_op op, uintptr_t d)
{
	void **p = (void **)target;
	void *prev, *next;
	uintptr_t v;

	prev = __atomic_load_n(p, CK_PR_TSAN_LOAD);
	do {
		v = (uintptr_t)prev;
		switch (op) {
		case CK_PR_TSAN_PTR_ADD:
			v += d;
			break;
		case CK_PR_TSAN_PTR_SUB:
			v -= d;
			break;
		case CK_PR_TSAN_PTR_AND:
			v &= d;
			break;
		case CK_PR_TSAN_PTR_OR:
			v |= d;
			break;
		case CK_PR_TSAN_PTR_XOR:
			v ^= d;
			break;
		case CK_PR_TSAN_PTR_NEG:
			v = 0 - v;
			break;
		case CK_PR_TSAN_PTR_NOT:
			v = ~v;
			break;
		}
		next = (void *)v;
	} while (!__atomic_compare_exchange_n(p, &prev, next, false,
	    CK_PR_TSAN_RMW, CK_PR_TSAN_LOAD));
	return (uintptr_t)prev;
}

CK_CC_INLINE static uintptr_t
ck_pr_faa_ptr(void *target, uintptr_t d)
{

	return ck_pr_tsan_ptr_rmw(target, CK_PR_TSAN_PTR_ADD, d);
}

#define CK_PR_TSAN_PTR_BINARY(K, OP)					\
	CK_CC_INLINE static void					\
	ck_pr_##K##_ptr(void *target, uintptr_t d)			\
	{								\
									\
		(void)ck_pr_tsan_ptr_rmw(target, OP, d);		\
	}

CK_PR_TSAN_PTR_BINARY(add, CK_PR_TSAN_PTR_ADD)
CK_PR_TSAN_PTR_BINARY(sub, CK_PR_TSAN_PTR_SUB)
CK_PR_TSAN_PTR_BINARY(and, CK_PR_TSAN_PTR_AND)
CK_PR_TSAN_PTR_BINARY(or, CK_PR_TSAN_PTR_OR)
CK_PR_TSAN_PTR_BINARY(xor, CK_PR_TSAN_PTR_XOR)

#undef CK_PR_TSAN_PTR_BINARY

/* Z is the old value for which the new value is zero. */
#define CK_PR_TSAN_PTR_UNARY(K, OP, D, Z)				\
	CK_CC_INLINE static void					\
	ck_pr_##K##_ptr(void *target)					\
	{								\
									\
		(void)ck_pr_tsan_ptr_rmw(target, OP, D);		\
	}								\
									\
	CK_CC_INLINE static bool					\
	ck_pr_##K##_ptr_is_zero(void *target)				\
	{								\
									\
		return ck_pr_tsan_ptr_rmw(target, OP, D) == (Z);	\
	}								\
									\
	CK_CC_INLINE static void					\
	ck_pr_##K##_ptr_zero(void *target, bool *zero)			\
	{								\
									\
		*zero = ck_pr_##K##_ptr_is_zero(target);		\
	}

CK_PR_TSAN_PTR_UNARY(inc, CK_PR_TSAN_PTR_ADD, 1, UINTPTR_MAX)
CK_PR_TSAN_PTR_UNARY(dec, CK_PR_TSAN_PTR_SUB, 1, 1)
CK_PR_TSAN_PTR_UNARY(neg, CK_PR_TSAN_PTR_NEG, 0, 0)

#undef CK_PR_TSAN_PTR_UNARY

CK_CC_INLINE static void
ck_pr_not_ptr(void *target)
{

	(void)ck_pr_tsan_ptr_rmw(target, CK_PR_TSAN_PTR_NOT, 0);
}

#define CK_PR_TSAN_PTR_BIT(K, OP, MASK)					\
	CK_CC_INLINE static bool					\
	ck_pr_##K##_ptr(void *target, unsigned int b)			\
	{								\
		const uintptr_t m = (uintptr_t)1 << b;			\
									\
		return (ck_pr_tsan_ptr_rmw(target, OP, (MASK)) & m)	\
		    != 0;						\
	}

CK_PR_TSAN_PTR_BIT(bts, CK_PR_TSAN_PTR_OR, m)
CK_PR_TSAN_PTR_BIT(btr, CK_PR_TSAN_PTR_AND, ~m)
CK_PR_TSAN_PTR_BIT(btc, CK_PR_TSAN_PTR_XOR, m)

#undef CK_PR_TSAN_PTR_BIT

#ifdef CK_PR_TSAN_POP_WTSAN
#pragma GCC diagnostic pop
#undef CK_PR_TSAN_POP_WTSAN
#endif

/*
 * The public spellings, as ck_pr.h defines them: stores check that the value
 * is assignable to the target; ck_pr_load_ptr returns the target's type.
 */
#define CK_PR_STORE_SAFE(DST, VAL, TYPE)				\
	ck_pr_md_store_##TYPE(((void)sizeof(*(DST) = (VAL)), (DST)), (VAL))

#define ck_pr_store_ptr(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), ptr)
#define ck_pr_store_char(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), char)
#ifndef CK_PR_DISABLE_DOUBLE
#define ck_pr_store_double(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), double)
#endif
#define ck_pr_store_uint(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), uint)
#define ck_pr_store_int(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), int)
#define ck_pr_store_64(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), 64)
#define ck_pr_store_32(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), 32)
#define ck_pr_store_16(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), 16)
#define ck_pr_store_8(DST, VAL) CK_PR_STORE_SAFE((DST), (VAL), 8)
#define ck_pr_store_ptr_unsafe(DST, VAL) ck_pr_md_store_ptr((DST), (VAL))

#define CK_PR_LOAD_PTR_SAFE(SRC)					\
	(CK_CC_TYPEOF(*(SRC), (void *)))ck_pr_md_load_ptr((SRC))
#define ck_pr_load_ptr(SRC) CK_PR_LOAD_PTR_SAFE((SRC))

#define CK_PR_LOAD_SAFE(SRC, TYPE) ck_pr_md_load_##TYPE((SRC))
#define ck_pr_load_char(SRC) CK_PR_LOAD_SAFE((SRC), char)
#ifndef CK_PR_DISABLE_DOUBLE
#define ck_pr_load_double(SRC) CK_PR_LOAD_SAFE((SRC), double)
#endif
#define ck_pr_load_uint(SRC) CK_PR_LOAD_SAFE((SRC), uint)
#define ck_pr_load_int(SRC) CK_PR_LOAD_SAFE((SRC), int)
#define ck_pr_load_64(SRC) CK_PR_LOAD_SAFE((SRC), 64)
#define ck_pr_load_32(SRC) CK_PR_LOAD_SAFE((SRC), 32)
#define ck_pr_load_16(SRC) CK_PR_LOAD_SAFE((SRC), 16)
#define ck_pr_load_8(SRC) CK_PR_LOAD_SAFE((SRC), 8)

/* Feature macros: what the x86-64 port advertises, minus multi-word. */
#define CK_F_PR_LOAD_PTR
#define CK_F_PR_LOAD_CHAR
#define CK_F_PR_LOAD_INT
#define CK_F_PR_LOAD_UINT
#define CK_F_PR_LOAD_64
#define CK_F_PR_LOAD_32
#define CK_F_PR_LOAD_16
#define CK_F_PR_LOAD_8
#define CK_F_PR_STORE_PTR
#define CK_F_PR_STORE_CHAR
#define CK_F_PR_STORE_INT
#define CK_F_PR_STORE_UINT
#define CK_F_PR_STORE_64
#define CK_F_PR_STORE_32
#define CK_F_PR_STORE_16
#define CK_F_PR_STORE_8
#define CK_F_PR_CAS_PTR
#define CK_F_PR_CAS_PTR_VALUE
#define CK_F_PR_CAS_CHAR
#define CK_F_PR_CAS_CHAR_VALUE
#define CK_F_PR_CAS_INT
#define CK_F_PR_CAS_INT_VALUE
#define CK_F_PR_CAS_UINT
#define CK_F_PR_CAS_UINT_VALUE
#define CK_F_PR_CAS_64
#define CK_F_PR_CAS_64_VALUE
#define CK_F_PR_CAS_32
#define CK_F_PR_CAS_32_VALUE
#define CK_F_PR_CAS_16
#define CK_F_PR_CAS_16_VALUE
#define CK_F_PR_CAS_8
#define CK_F_PR_CAS_8_VALUE
#define CK_F_PR_FAS_PTR
#define CK_F_PR_FAS_CHAR
#define CK_F_PR_FAS_INT
#define CK_F_PR_FAS_UINT
#define CK_F_PR_FAS_64
#define CK_F_PR_FAS_32
#define CK_F_PR_FAS_16
#define CK_F_PR_FAS_8
#define CK_F_PR_FAA_PTR
#define CK_F_PR_FAA_CHAR
#define CK_F_PR_FAA_INT
#define CK_F_PR_FAA_UINT
#define CK_F_PR_FAA_64
#define CK_F_PR_FAA_32
#define CK_F_PR_FAA_16
#define CK_F_PR_FAA_8
#define CK_F_PR_ADD_PTR
#define CK_F_PR_ADD_CHAR
#define CK_F_PR_ADD_INT
#define CK_F_PR_ADD_UINT
#define CK_F_PR_ADD_64
#define CK_F_PR_ADD_32
#define CK_F_PR_ADD_16
#define CK_F_PR_ADD_8
#define CK_F_PR_SUB_PTR
#define CK_F_PR_SUB_CHAR
#define CK_F_PR_SUB_INT
#define CK_F_PR_SUB_UINT
#define CK_F_PR_SUB_64
#define CK_F_PR_SUB_32
#define CK_F_PR_SUB_16
#define CK_F_PR_SUB_8
#define CK_F_PR_AND_PTR
#define CK_F_PR_AND_CHAR
#define CK_F_PR_AND_INT
#define CK_F_PR_AND_UINT
#define CK_F_PR_AND_64
#define CK_F_PR_AND_32
#define CK_F_PR_AND_16
#define CK_F_PR_AND_8
#define CK_F_PR_OR_PTR
#define CK_F_PR_OR_CHAR
#define CK_F_PR_OR_INT
#define CK_F_PR_OR_UINT
#define CK_F_PR_OR_64
#define CK_F_PR_OR_32
#define CK_F_PR_OR_16
#define CK_F_PR_OR_8
#define CK_F_PR_XOR_PTR
#define CK_F_PR_XOR_CHAR
#define CK_F_PR_XOR_INT
#define CK_F_PR_XOR_UINT
#define CK_F_PR_XOR_64
#define CK_F_PR_XOR_32
#define CK_F_PR_XOR_16
#define CK_F_PR_XOR_8
#define CK_F_PR_INC_PTR
#define CK_F_PR_INC_PTR_ZERO
#define CK_F_PR_INC_CHAR
#define CK_F_PR_INC_CHAR_ZERO
#define CK_F_PR_INC_INT
#define CK_F_PR_INC_INT_ZERO
#define CK_F_PR_INC_UINT
#define CK_F_PR_INC_UINT_ZERO
#define CK_F_PR_INC_64
#define CK_F_PR_INC_64_ZERO
#define CK_F_PR_INC_32
#define CK_F_PR_INC_32_ZERO
#define CK_F_PR_INC_16
#define CK_F_PR_INC_16_ZERO
#define CK_F_PR_INC_8
#define CK_F_PR_INC_8_ZERO
#define CK_F_PR_DEC_PTR
#define CK_F_PR_DEC_PTR_ZERO
#define CK_F_PR_DEC_CHAR
#define CK_F_PR_DEC_CHAR_ZERO
#define CK_F_PR_DEC_INT
#define CK_F_PR_DEC_INT_ZERO
#define CK_F_PR_DEC_UINT
#define CK_F_PR_DEC_UINT_ZERO
#define CK_F_PR_DEC_64
#define CK_F_PR_DEC_64_ZERO
#define CK_F_PR_DEC_32
#define CK_F_PR_DEC_32_ZERO
#define CK_F_PR_DEC_16
#define CK_F_PR_DEC_16_ZERO
#define CK_F_PR_DEC_8
#define CK_F_PR_DEC_8_ZERO
#define CK_F_PR_NEG_PTR
#define CK_F_PR_NEG_PTR_ZERO
#define CK_F_PR_NEG_CHAR
#define CK_F_PR_NEG_CHAR_ZERO
#define CK_F_PR_NEG_INT
#define CK_F_PR_NEG_INT_ZERO
#define CK_F_PR_NEG_UINT
#define CK_F_PR_NEG_UINT_ZERO
#define CK_F_PR_NEG_64
#define CK_F_PR_NEG_64_ZERO
#define CK_F_PR_NEG_32
#define CK_F_PR_NEG_32_ZERO
#define CK_F_PR_NEG_16
#define CK_F_PR_NEG_16_ZERO
#define CK_F_PR_NEG_8
#define CK_F_PR_NEG_8_ZERO
#define CK_F_PR_NOT_PTR
#define CK_F_PR_NOT_CHAR
#define CK_F_PR_NOT_INT
#define CK_F_PR_NOT_UINT
#define CK_F_PR_NOT_64
#define CK_F_PR_NOT_32
#define CK_F_PR_NOT_16
#define CK_F_PR_NOT_8
#define CK_F_PR_BTS_PTR
#define CK_F_PR_BTS_INT
#define CK_F_PR_BTS_UINT
#define CK_F_PR_BTS_64
#define CK_F_PR_BTS_32
#define CK_F_PR_BTS_16
#define CK_F_PR_BTR_PTR
#define CK_F_PR_BTR_INT
#define CK_F_PR_BTR_UINT
#define CK_F_PR_BTR_64
#define CK_F_PR_BTR_32
#define CK_F_PR_BTR_16
#define CK_F_PR_BTC_PTR
#define CK_F_PR_BTC_INT
#define CK_F_PR_BTC_UINT
#define CK_F_PR_BTC_64
#define CK_F_PR_BTC_32
#define CK_F_PR_BTC_16
#ifndef CK_PR_DISABLE_DOUBLE
#define CK_F_PR_LOAD_DOUBLE
#define CK_F_PR_STORE_DOUBLE
#define CK_F_PR_CAS_DOUBLE
#define CK_F_PR_CAS_DOUBLE_VALUE
#define CK_F_PR_FAS_DOUBLE
#define CK_F_PR_FAA_DOUBLE
#define CK_F_PR_ADD_DOUBLE
#define CK_F_PR_SUB_DOUBLE
#define CK_F_PR_INC_DOUBLE
#define CK_F_PR_DEC_DOUBLE
#define CK_F_PR_NEG_DOUBLE
#endif /* !CK_PR_DISABLE_DOUBLE */

#endif /* CK_PR_H */
