// Compile-only check: the public headers build as C++ (-pedantic -Werror)
// and declare C linkage, so C++ callers link against the C library.
#include <baton/queue.h>
#include <baton.h>

int
main()
{
	baton_queue *q = nullptr;
	int r = baton_queue_create(&q, 1, nullptr);
	baton_queue_destroy(q);
	return r == 0 ? 0 : 1;
}
