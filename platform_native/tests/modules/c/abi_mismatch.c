/* A module that speaks another ABI version: the loader must skip it. */
#include <stdint.h>
uint32_t fiasco_module_abi_version(void) { return 999; }
const void *fiasco_module_entry(void) { return 0; }
