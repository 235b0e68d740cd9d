/*
 * fiasco_ipc.h: every ipc.fbs event (the IPC host's protocol), read and
 * written from C with no FlatBuffers code of your own.
 *
 * Link the static library libfiasco_ipc_c.a (cargo build --release -p
 * fiasco-ipc-c) into your module, hiding its symbols:
 *
 *   cc -shared -fPIC agent.c libfiasco_ipc_c.a -Wl,--exclude-libs,ALL \
 *      -lpthread -ldl -lm -o libagent.so
 *
 * For each table T of ipc/schema/ipc.fbs (read it for what every field
 * means) there is a struct FiascoIpcT and four functions:
 *
 *   int32_t fiasco_ipc_next_T(host, &reader, &out)  1 and out: the next
 *       event of the kind after the reader's cursor, verified; events that
 *       fail verification are skipped and logged with their writer's name.
 *       0: none left this frame.
 *   int32_t fiasco_ipc_read_T(data, &out)  verifies FlatBuffers bytes:
 *       FIASCO_STATUS_OK and out, or FIASCO_STATUS_INVALID.
 *   int32_t fiasco_ipc_write_T(host, &event)  builds the event and hands it
 *       to the bus without a copy: FIASCO_STATUS_OK, or
 *       FIASCO_STATUS_INVALID (the log says which field: text that is not
 *       UTF-8, a null pointer with a length).
 *   int32_t fiasco_ipc_build_T(&event, &buffer)  builds it into a buffer you
 *       own (call buffer.release(buffer.owner) once).
 *
 * Strings and bytes are FiascoStr (pointer and length, not NUL-terminated);
 * a null pointer is an absent field. What a read returns points into the
 * event's bytes: it is valid as long as the event (until the end of the
 * frame after the one it was written in); copy what you keep longer. What
 * you pass to write is copied. Unset fields of a zero-initialised struct are
 * the schema's defaults, as in every FlatBuffers language.
 *
 * Every function runs on the game thread, never unwinds, and returns
 * FIASCO_STATUS_PANIC if it ever hit a bug of its own.
 *
 * This header mirrors ipc/c/src (events.rs, api.rs) exactly.
 */
#ifndef FIASCO_IPC_H
#define FIASCO_IPC_H

#include "fiasco_module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MessageKind */
#define FIASCO_IPC_BINARY 0u
#define FIASCO_IPC_TEXT 1u

/* ListenStatus */
#define FIASCO_IPC_LISTEN_OK 0u
#define FIASCO_IPC_LISTEN_ADDRESS_IN_USE 1u
#define FIASCO_IPC_LISTEN_PERMISSION_DENIED 2u
#define FIASCO_IPC_LISTEN_ADDRESS_UNAVAILABLE 3u
#define FIASCO_IPC_LISTEN_INVALID_REQUEST 4u
#define FIASCO_IPC_LISTEN_ALREADY_LISTENING 5u
#define FIASCO_IPC_LISTEN_TOKEN_REQUIRED 6u
#define FIASCO_IPC_LISTEN_TLS_ERROR 7u
#define FIASCO_IPC_LISTEN_OTHER 8u

/* ClosedBy */
#define FIASCO_IPC_CLOSED_BY_REMOTE 0u
#define FIASCO_IPC_CLOSED_BY_AGENT 1u
#define FIASCO_IPC_CLOSED_BY_HOST_LIMIT 2u
#define FIASCO_IPC_CLOSED_BY_HOST_ERROR 3u
#define FIASCO_IPC_CLOSED_BY_HOST_SHUTDOWN 4u

/* ConnectState */
#define FIASCO_IPC_CONNECT_CONNECTING 0u
#define FIASCO_IPC_CONNECT_CONNECTED 1u
#define FIASCO_IPC_CONNECT_FAILED 2u
#define FIASCO_IPC_CONNECT_STOPPED 3u

/* ConnectFailure */
#define FIASCO_IPC_FAILURE_NONE 0u
#define FIASCO_IPC_FAILURE_INVALID_REQUEST 1u
#define FIASCO_IPC_FAILURE_DNS 2u
#define FIASCO_IPC_FAILURE_REFUSED 3u
#define FIASCO_IPC_FAILURE_TIMEOUT 4u
#define FIASCO_IPC_FAILURE_TLS 5u
#define FIASCO_IPC_FAILURE_HTTP_STATUS 6u
#define FIASCO_IPC_FAILURE_HANDSHAKE 7u
#define FIASCO_IPC_FAILURE_CLOSED 8u

/* Where a module reads one event kind: zero-initialise it
 * (FiascoIpcReader r = {0};) and use it with one fiasco_ipc_next_* function
 * only. From cursor 0 it sees every event the bus still holds, each once. */
typedef struct FiascoIpcReader {
    uint64_t cursor;
    uint32_t kind;
    uint32_t bound; /* which table it is bound to; 0: not yet */
} FiascoIpcReader;

/* On read, allowed_origins is NULL and allowed_origins_count the number of
 * origins: fiasco_ipc_listen_request_allowed_origin reads each. */
typedef struct FiascoIpcListenRequest {
    uint64_t user_id;
    uint16_t port;
    FiascoStr bind_address;
    const FiascoStr *allowed_origins;
    size_t allowed_origins_count;
    FiascoStr token;
    FiascoStr web_root;
    FiascoStr tls_cert_path;
    FiascoStr tls_key_path;
    uint64_t max_message_size;
    uint64_t max_frame_size;
    uint32_t max_connections;
    uint32_t handshake_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t max_outbound_messages;
    uint64_t max_outbound_bytes;
    uint32_t max_inbound_messages;
    uint64_t max_inbound_bytes;
    uint32_t write_timeout_ms;
    uint32_t message_timeout_ms;
    uint32_t max_pending_handshakes;
    uint32_t max_pending_per_address;
    uint32_t max_http_connections;
    uint32_t http_lifetime_ms;
    uint32_t max_request_head;
} FiascoIpcListenRequest;

typedef struct FiascoIpcListenResult {
    uint64_t user_id;
    uint16_t requested_port;
    uint16_t port;
    uint8_t status; /* FIASCO_IPC_LISTEN_* */
    FiascoStr message;
} FiascoIpcListenResult;

typedef struct FiascoIpcStopListeningRequest {
    uint64_t user_id;
    uint16_t port;
} FiascoIpcStopListeningRequest;

typedef struct FiascoIpcStopListeningResult {
    uint64_t user_id;
    uint16_t port;
    uint8_t stopped; /* 0 or 1 */
} FiascoIpcStopListeningResult;

typedef struct FiascoIpcConnectionOpened {
    uint64_t channel;
    uint64_t user_id;
    uint16_t port;
    FiascoStr peer_address;
    FiascoStr path;
    FiascoStr origin;
    uint8_t outbound; /* 1: the game dialed out (connect_id says for which request) */
    uint64_t connect_id;
} FiascoIpcConnectionOpened;

typedef struct FiascoIpcMessageFromRemote {
    uint64_t channel;
    uint64_t user_id;
    uint8_t kind; /* FIASCO_IPC_BINARY or FIASCO_IPC_TEXT */
    FiascoStr content;
} FiascoIpcMessageFromRemote;

typedef struct FiascoIpcMessageToRemote {
    uint64_t channel;
    FiascoStr content;
    uint8_t kind; /* FIASCO_IPC_BINARY or FIASCO_IPC_TEXT */
} FiascoIpcMessageToRemote;

typedef struct FiascoIpcCloseChannel {
    uint64_t channel;
    uint16_t code;
    FiascoStr reason;
} FiascoIpcCloseChannel;

typedef struct FiascoIpcChannelClosed {
    uint64_t channel;
    uint64_t user_id;
    uint8_t closed_by; /* FIASCO_IPC_CLOSED_BY_* */
    uint16_t code;
    FiascoStr reason;
} FiascoIpcChannelClosed;

typedef struct FiascoIpcConnectRequest {
    uint64_t user_id;
    uint64_t connect_id;
    FiascoStr url;
    FiascoStr token;
    FiascoStr ca_file;
    uint8_t no_reconnect; /* 0 or 1 */
    uint32_t initial_backoff_ms;
    uint32_t max_backoff_ms;
    uint64_t max_message_size;
    uint64_t max_frame_size;
    uint32_t handshake_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t max_outbound_messages;
    uint64_t max_outbound_bytes;
    uint32_t max_inbound_messages;
    uint64_t max_inbound_bytes;
    uint32_t write_timeout_ms;
    uint32_t message_timeout_ms;
} FiascoIpcConnectRequest;

typedef struct FiascoIpcConnectStatus {
    uint64_t user_id;
    uint64_t connect_id;
    uint8_t state; /* FIASCO_IPC_CONNECT_* */
    uint32_t attempt;
    uint64_t channel;
    uint8_t failure; /* FIASCO_IPC_FAILURE_* */
    uint16_t http_status;
    uint32_t retry_in_ms;
    FiascoStr message;
} FiascoIpcConnectStatus;

typedef struct FiascoIpcDisconnectRequest {
    uint64_t user_id;
    uint64_t connect_id;
} FiascoIpcDisconnectRequest;

#define FIASCO_IPC_FUNCTIONS(T, name)                                                   \
    int32_t fiasco_ipc_next_##name(const FiascoHostApi *host, FiascoIpcReader *reader,  \
                                   T *out);                                             \
    int32_t fiasco_ipc_read_##name(FiascoStr data, T *out);                             \
    int32_t fiasco_ipc_write_##name(const FiascoHostApi *host, const T *event);         \
    int32_t fiasco_ipc_build_##name(const T *event, FiascoBuffer *out);

FIASCO_IPC_FUNCTIONS(FiascoIpcListenRequest, listen_request)
FIASCO_IPC_FUNCTIONS(FiascoIpcListenResult, listen_result)
FIASCO_IPC_FUNCTIONS(FiascoIpcStopListeningRequest, stop_listening_request)
FIASCO_IPC_FUNCTIONS(FiascoIpcStopListeningResult, stop_listening_result)
FIASCO_IPC_FUNCTIONS(FiascoIpcConnectionOpened, connection_opened)
FIASCO_IPC_FUNCTIONS(FiascoIpcMessageFromRemote, message_from_remote)
FIASCO_IPC_FUNCTIONS(FiascoIpcMessageToRemote, message_to_remote)
FIASCO_IPC_FUNCTIONS(FiascoIpcCloseChannel, close_channel)
FIASCO_IPC_FUNCTIONS(FiascoIpcChannelClosed, channel_closed)
FIASCO_IPC_FUNCTIONS(FiascoIpcConnectRequest, connect_request)
FIASCO_IPC_FUNCTIONS(FiascoIpcConnectStatus, connect_status)
FIASCO_IPC_FUNCTIONS(FiascoIpcDisconnectRequest, disconnect_request)

#undef FIASCO_IPC_FUNCTIONS

/* Origin index of the ListenRequest in data: FIASCO_STATUS_OK and *out
 * (borrowing data), or FIASCO_STATUS_INVALID. */
int32_t fiasco_ipc_listen_request_allowed_origin(FiascoStr data, size_t index, FiascoStr *out);

#ifdef __cplusplus
}
#endif

#endif /* FIASCO_IPC_H */
