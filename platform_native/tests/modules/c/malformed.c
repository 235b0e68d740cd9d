/* A module written in C: every frame it writes one malformed
 * "fiasco.test.Request" event (bytes that are not a FlatBuffer) and counts
 * its frames. It shows a C module can be loaded through fiasco_module.h,
 * and that readers refuse what it writes without crashing. */
#include <stdlib.h>
#include <string.h>
#include "fiasco_module.h"

static const char NAME[] = "c_malformed";
static const char SYSTEM[] = "write_garbage";
static const char KIND[] = "fiasco.test.Request";

typedef struct State { uint32_t kind; } State;

static FiascoStr str(const char *text) {
    FiascoStr s = { (const uint8_t *)text, strlen(text) };
    return s;
}

static int32_t init(const FiascoHostApi *host, void **state) {
    State *s = malloc(sizeof(State));
    if (!s) return FIASCO_STATUS_ERROR;
    s->kind = host->intern_kind(host->ctx, str(KIND));
    host->log(host->ctx, FIASCO_LOG_INFO, str("C module ready"));
    *state = s;
    return FIASCO_STATUS_OK;
}

static uint32_t system_count(void *state) { (void)state; return 1; }

static int32_t system_info(void *state, uint32_t index, FiascoStr *name, uint32_t *stage) {
    (void)state;
    if (index != 0) return FIASCO_STATUS_INVALID;
    *name = str(SYSTEM);
    *stage = FIASCO_STAGE_FIRST;
    return FIASCO_STATUS_OK;
}

static int32_t run_system(void *state, uint32_t index, const FiascoHostApi *host) {
    State *s = state;
    static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0x7f, 1, 2, 3 };
    FiascoStr data = { garbage, sizeof garbage };
    (void)index;
    return host->write_event(host->ctx, s->kind, data);
}

static void shutdown(void *state, const FiascoHostApi *host) {
    host->log(host->ctx, FIASCO_LOG_INFO, str("C module shut down"));
    free(state);
}

static const FiascoModuleApi API = {
    FIASCO_ABI_VERSION, { (const uint8_t *)NAME, sizeof NAME - 1 },
    init, system_count, system_info, run_system, shutdown,
};

uint32_t fiasco_module_abi_version(void) { return FIASCO_ABI_VERSION; }
const FiascoModuleApi *fiasco_module_entry(void) { return &API; }
