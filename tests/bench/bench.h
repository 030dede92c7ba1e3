/*
 * bench.h - the helpers every benchmark program repeats: bench_task.c,
 * bench_queue.c, bench_pipeline.c and compare/compare.c (C only; the C++
 * peers of compare/ do not include it).
 *
 *	bench_program	the program's name, the prefix of its messages: set
 *			it first thing in main()
 *	now_ns()	CLOCK_MONOTONIC in ns
 *	watchdog_init(), watch(label), watch(NULL)
 *			a SIGALRM watchdog: after WATCHDOG_SECONDS (120 unless
 *			defined before this header) in one watch(label) it
 *			writes "<program>: <label>: still running after N s:
 *			hung?" and _exit(3)s; watch(NULL) disarms it
 *	die(what, sys, rc)
 *			reports a failed baton or pthread call and exits 1;
 *			only if baton/task.h is included before this header
 *	body(arg)	the trivial task body: its argument back
 *	cmp_u64, cmp_double, quantile(), median()
 *			qsort comparators, the nearest-rank quantile of sorted
 *			samples, the median of doubles (sorts them)
 *	print_load(when, tagged)
 *			"# load average at <when>: <loadavg>" on stderr
 *			(tagged: "# <program>: load average ...")
 *	parse_num(), bench_scale()
 *			an option's integer in [min, max], else a message and
 *			exit(2); the BENCH_SCALE percent (100 if unset)
 *	usage_exit(usage, status)
 *			the program's usage(FILE *) on stdout and exit(0)
 *			(--help), or on stderr and exit(2) (a wrong option)
 *
 * Each program is one translation unit including this once, so everything
 * here is static; marked unused, as not every program calls everything.
 */
#ifndef BATON_BENCH_H
#define BATON_BENCH_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WATCHDOG_SECONDS
#define WATCHDOG_SECONDS 120
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

#define BENCH_UNUSED __attribute__((unused))

BENCH_UNUSED static const char *bench_program = "bench";
BENCH_UNUSED static const char *watchdog_label = "";

BENCH_UNUSED static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

BENCH_UNUSED _Noreturn static void
on_alarm(int sig)
{
	static const char b[] = ": still running after "
	    STR(WATCHDOG_SECONDS) " s: hung?\n";

	(void)sig;
	/* Only async-signal-safe calls here. */
	(void)!write(STDERR_FILENO, bench_program, strlen(bench_program));
	(void)!write(STDERR_FILENO, ": ", 2);
	(void)!write(STDERR_FILENO, watchdog_label, strlen(watchdog_label));
	(void)!write(STDERR_FILENO, b, sizeof(b) - 1);
	_exit(3);
}

/* Installs the watchdog's SIGALRM handler; watch() arms it. */
BENCH_UNUSED static void
watchdog_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

/* Arms the watchdog for the step label, or disarms it (NULL). */
BENCH_UNUSED static void
watch(const char *label)
{
	if (label == NULL) {
		alarm(0);
		return;
	}
	watchdog_label = label;
	alarm(WATCHDOG_SECONDS);
}

#ifdef BATON_EXITED
/*
 * A failed call of system sys: rc is baton's (a negative errno or
 * BATON_EXITED) or pthread's (a positive errno).
 */
BENCH_UNUSED _Noreturn static void
die(const char *what, const char *sys, int rc)
{
	fprintf(stderr, "%s: %s %s: %d (%s)\n", bench_program, what, sys, rc,
		rc < 0 ? strerror(-rc) : rc == BATON_EXITED ? "exited"
							    : strerror(rc));
	exit(1);
}
#endif

/* The trivial task body: its argument back. */
BENCH_UNUSED static void *
body(void *arg)
{
	return arg;
}

BENCH_UNUSED static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

BENCH_UNUSED static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of n sorted samples. */
BENCH_UNUSED static uint64_t
quantile(const uint64_t *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n);

	return v[k < n ? k : n - 1];
}

/* Sorts the n values and returns their median. */
BENCH_UNUSED static double
median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Other processes skew everything on a small machine: say how busy it was
 * (the load average counts our own threads too).
 */
BENCH_UNUSED static void
print_load(const char *when, bool tagged)
{
	char buf[128];
	FILE *f = fopen("/proc/loadavg", "r");

	if (f == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		if (tagged)
			fprintf(stderr, "# %s: load average at %s: %s",
				bench_program, when, buf);
		else
			fprintf(stderr, "# load average at %s: %s", when, buf);
	}
	fclose(f);
}

/* The decimal integer arg of option opt, in [min, max]; else exit(2). */
BENCH_UNUSED static unsigned long long
parse_num(const char *opt, const char *arg, unsigned long long min,
	  unsigned long long max)
{
	unsigned long long x;
	char *end;

	errno = 0;
	x = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
	    x < min || x > max) {
		fprintf(stderr, "%s: %s wants an integer in [%llu, %llu], "
			"not '%s'\n", bench_program, opt, min, max, arg);
		exit(2);
	}
	return x;
}

/* The size of the default workloads in percent: BENCH_SCALE, or 100. */
BENCH_UNUSED static unsigned long long
bench_scale(void)
{
	const char *env = getenv("BENCH_SCALE");

	if (env != NULL && *env != '\0')
		return parse_num("BENCH_SCALE", env, 1, 100000);
	return 100;
}

/*
 * Ends main()'s option parsing: usage on stdout and exit 0 for --help,
 * on stderr and exit 2 (status) for an unknown option or a stray argument.
 */
BENCH_UNUSED _Noreturn static void
usage_exit(void (*usage)(FILE *f), int status)
{
	usage(status == 0 ? stdout : stderr);
	exit(status);
}

#endif /* BATON_BENCH_H */
