// Debian's libhiredis-dev (pkg-config "hiredis"): the C client the Redis state store calls, off the cooperative pool.
#include <hiredis/hiredis.h>
