/* A module built against version 1 of the ABI (before owned buffers): its
 * host table would be laid out differently, so the loader must refuse it by
 * name instead of calling into it. */
#include <stdint.h>

uint32_t fiasco_module_abi_version(void) { return 1; }
const void *fiasco_module_entry(void) { return 0; }
