/* __NAME__: an IPC Agent Module in C, a counter to start from.
 *
 * It listens on the port from its configuration (__NAME__.port, default
 * 9100: --set __NAME__.port=... or the environment FIASCO___UPPER___PORT).
 * A client's text message "inc" adds one to the count and is answered with
 * the count as text ("1", "2", ...); anything else with "unknown command".
 *
 * fiasco_module.h is the game's C ABI; fiasco_ipc.h reads and writes the
 * IPC host's events (ipc.fbs), verified. Build: make. Run:
 * scripts/run-agent lib__NAME__.so (in the Fiasco IPC checkout). */
#include <inttypes.h>
#include <stdlib.h>
#include "fiasco_ipc.h"

/* Every event about this agent's port and channels carries this id. */
#define USER_ID 0xC00017u

/* The module's state, kept by the game between frames. */
typedef struct Counter {
    uint64_t count;
    FiascoIpcReader messages, results; /* one reader per event kind */
} Counter;

/* Creates the state and asks the IPC host to listen. */
static int32_t init(const FiascoHostApi *host, void **state) {
    uint64_t port;
    if (fiasco_config_uint(host, "port", 9100, 65535, &port) != FIASCO_STATUS_OK) return FIASCO_STATUS_ERROR;
    Counter *counter = calloc(1, sizeof *counter);
    if (!counter) return FIASCO_STATUS_ERROR;
    *state = counter;
    FiascoIpcListenRequest listen = { .user_id = USER_ID, .port = (uint16_t)port };
    return fiasco_ipc_write_listen_request(host, &listen);
}

/* The one system, each frame: says where the agent listens, and answers
 * every message in the frame it arrives. What a read returns lives until
 * the end of the next frame: copy what you keep longer. */
static int32_t run(void *state, uint32_t index, const FiascoHostApi *host) {
    Counter *counter = state;
    FiascoIpcListenResult result;
    FiascoIpcMessageFromRemote message;
    char text[24], line[300];
    (void)index;
    while (fiasco_ipc_next_listen_result(host, &counter->results, &result)) {
        if (result.user_id != USER_ID) continue;
        int ok = result.status == FIASCO_IPC_LISTEN_STATUS_OK;
        if (ok) snprintf(line, sizeof line, "__NAME__ listening on ws://127.0.0.1:%u", (unsigned)result.port);
        else snprintf(line, sizeof line, "__NAME__ could not listen: %.*s", (int)result.message.len, (const char *)result.message.ptr);
        host->log(host->ctx, ok ? FIASCO_LOG_INFO : FIASCO_LOG_ERROR, fiasco_str(line));
    }
    while (fiasco_ipc_next_message_from_remote(host, &counter->messages, &message)) {
        if (message.user_id != USER_ID) continue;
        FiascoIpcMessageToRemote reply = { .channel = message.channel, .kind = FIASCO_IPC_MESSAGE_KIND_TEXT,
                                           .content = fiasco_str("unknown command") };
        if (message.kind == FIASCO_IPC_MESSAGE_KIND_TEXT && message.content.len == 3 && !memcmp(message.content.ptr, "inc", 3)) {
            snprintf(text, sizeof text, "%" PRIu64, ++counter->count);
            reply.content = fiasco_str(text);
        }
        fiasco_ipc_write_message_to_remote(host, &reply);
    }
    return FIASCO_STATUS_OK;
}

static uint32_t system_count(void *state) { (void)state; return 1; }

static int32_t system_info(void *state, uint32_t index, FiascoStr *name, uint32_t *stage) {
    (void)state;
    if (index != 0) return FIASCO_STATUS_INVALID;
    *name = fiasco_str("run");
    *stage = FIASCO_STAGE_UPDATE;
    return FIASCO_STATUS_OK;
}

static void shutdown(void *state, const FiascoHostApi *host) { (void)host; free(state); }

static const FiascoModuleApi API = { FIASCO_ABI_VERSION, { (const uint8_t *)"__NAME__", sizeof "__NAME__" - 1 },
                                     init, system_count, system_info, run, shutdown };
FIASCO_EXPORT_MODULE(&API)
