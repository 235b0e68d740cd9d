/* streams: a C agent that exercises roles, conflation and channel stats
 * through fiasco_ipc.h, driven by scripts/test-c-streams.
 *
 * It listens on streams.port with two token grants (editor, viewer).
 * A client's text message:
 *   "role"  -> the role its token granted;
 *   "burst" -> 100 messages "state 0".."state 99" with one conflation key,
 *              written in one frame: the client gets only "state 99";
 *   "stats" -> asks for the channel's stats; the answer, a frame later, is
 *              sent as "conflated N";
 *   "record PATH" -> records this port to PATH (RecordRequest): answered
 *              "recording", or "failed: WHY";
 *   "stop"  -> stops the recording: answered "stopped N" (N messages in
 *              the file) once the file is complete.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fiasco_ipc.h"

#define USER_ID 0x57AEu
#define MAX_CHANNELS 16

typedef struct Streams {
    FiascoIpcReader results, opened, messages, stats, recordings;
    struct { uint64_t channel; char role[32]; } roles[MAX_CHANNELS];
    uint16_t port;
    /* The channel that asked for the recording: told how it goes. */
    uint64_t recorder;
} Streams;

static int is(FiascoStr text, const char *word) {
    return text.len == strlen(word) && !memcmp(text.ptr, word, text.len);
}

static void say(const FiascoHostApi *host, uint64_t channel, const char *text) {
    FiascoIpcMessageToRemote reply = { .channel = channel, .kind = FIASCO_IPC_MESSAGE_KIND_TEXT,
                                       .content = fiasco_str(text) };
    fiasco_ipc_write_message_to_remote(host, &reply);
}

static int32_t init(const FiascoHostApi *host, void **state) {
    uint64_t port;
    if (fiasco_config_uint(host, "port", 9100, 65535, &port) != FIASCO_STATUS_OK) return FIASCO_STATUS_ERROR;
    Streams *streams = calloc(1, sizeof *streams);
    if (!streams) return FIASCO_STATUS_ERROR;
    *state = streams;
    FiascoIpcTokenGrant grants[] = {
        { .token = fiasco_str("editor-token-0123456789"), .role = fiasco_str("editor") },
        { .token = fiasco_str("viewer-token-0123456789"), .role = fiasco_str("viewer") },
    };
    FiascoIpcListenRequest listen = { .user_id = USER_ID, .port = (uint16_t)port,
                                      .tokens = grants, .tokens_count = 2 };
    return fiasco_ipc_write_listen_request(host, &listen);
}

static int32_t run(void *state, uint32_t index, const FiascoHostApi *host) {
    Streams *streams = state;
    FiascoIpcListenResult result;
    FiascoIpcConnectionOpened opened;
    FiascoIpcMessageFromRemote message;
    FiascoIpcChannelStats stats;
    FiascoIpcRecordStatus recording;
    char line[256];
    (void)index;
    while (fiasco_ipc_next_listen_result(host, &streams->results, &result)) {
        if (result.user_id != USER_ID) continue;
        streams->port = result.port;
        snprintf(line, sizeof line, "streams listening on ws://127.0.0.1:%u", (unsigned)result.port);
        host->log(host->ctx, FIASCO_LOG_INFO, fiasco_str(line));
    }
    while (fiasco_ipc_next_connection_opened(host, &streams->opened, &opened)) {
        if (opened.user_id != USER_ID) continue;
        for (int i = 0; i < MAX_CHANNELS; i++) {
            if (streams->roles[i].channel == 0) {
                streams->roles[i].channel = opened.channel;
                snprintf(streams->roles[i].role, sizeof streams->roles[i].role, "%.*s",
                         (int)opened.role.len, opened.role.ptr ? (const char *)opened.role.ptr : "");
                break;
            }
        }
    }
    while (fiasco_ipc_next_message_from_remote(host, &streams->messages, &message)) {
        if (message.user_id != USER_ID) continue;
        if (is(message.content, "role")) {
            const char *role = "unknown";
            for (int i = 0; i < MAX_CHANNELS; i++)
                if (streams->roles[i].channel == message.channel) role = streams->roles[i].role;
            say(host, message.channel, role);
        } else if (is(message.content, "burst")) {
            for (int i = 0; i < 100; i++) {
                snprintf(line, sizeof line, "state %d", i);
                FiascoIpcMessageToRemote state_message = {
                    .channel = message.channel, .kind = FIASCO_IPC_MESSAGE_KIND_TEXT,
                    .content = fiasco_str(line), .conflation_key = 1 };
                fiasco_ipc_write_message_to_remote(host, &state_message);
            }
        } else if (message.content.len > 7 && !memcmp(message.content.ptr, "record ", 7)) {
            FiascoStr path = { message.content.ptr + 7, message.content.len - 7 };
            FiascoIpcRecordRequest request = { .user_id = USER_ID, .path = path,
                                               .ports = &streams->port, .ports_count = 1 };
            streams->recorder = message.channel;
            fiasco_ipc_write_record_request(host, &request);
        } else if (is(message.content, "stop")) {
            FiascoIpcRecordRequest request = { .user_id = USER_ID, .stop = 1 };
            fiasco_ipc_write_record_request(host, &request);
        } else if (is(message.content, "stats")) {
            FiascoIpcChannelStatsRequest request = { .user_id = USER_ID, .channel = message.channel };
            fiasco_ipc_write_channel_stats_request(host, &request);
        } else {
            say(host, message.channel, "unknown command");
        }
    }
    while (fiasco_ipc_next_channel_stats(host, &streams->stats, &stats)) {
        if (stats.user_id != USER_ID) continue;
        snprintf(line, sizeof line, "conflated %" PRIu64, stats.conflated_messages);
        say(host, stats.channel, line);
    }
    while (fiasco_ipc_next_record_status(host, &streams->recordings, &recording)) {
        if (recording.user_id != USER_ID || !streams->recorder) continue;
        if (recording.state == FIASCO_IPC_RECORD_STATE_RECORDING)
            snprintf(line, sizeof line, "recording");
        else if (recording.state == FIASCO_IPC_RECORD_STATE_STOPPED)
            snprintf(line, sizeof line, "stopped %" PRIu64, recording.messages);
        else
            snprintf(line, sizeof line, "failed: %.*s", (int)recording.reason.len,
                     recording.reason.ptr ? (const char *)recording.reason.ptr : "");
        say(host, streams->recorder, line);
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

static const FiascoModuleApi API = { FIASCO_ABI_VERSION, { (const uint8_t *)"streams", sizeof "streams" - 1 },
                                     init, system_count, system_info, run, shutdown };
FIASCO_EXPORT_MODULE(&API)
