/*
 * version.c - the library's version, for callers that link baton
 * dynamically and want to know which one they got.
 */
#include "baton/common.h"

const char *
baton_version(void)
{
	return BATON_VERSION_STRING;
}
