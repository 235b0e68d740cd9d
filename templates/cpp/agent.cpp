// __NAME__: an IPC Agent Module in C++, a counter to start from.
//
// It listens on the port from its configuration (__NAME__.port, default
// 9100: --set __NAME__.port=... or the environment FIASCO___UPPER___PORT).
// A client's text message "inc" adds one to the count and is answered with
// the count as text ("1", "2", ...); anything else with "unknown command".
//
// fiasco_module.h is the game's C ABI; ipc_generated.h is ipc.fbs compiled
// by the project's pinned flatc. Build: make. Run:
// scripts/run-agent lib__NAME__.so (in the Fiasco IPC checkout).
#include <cstring>
#include <string>

#include "fiasco_module.h"
#include "ipc_generated.h"

namespace ipc = fiasco::ipc;

namespace {

// Every event about this agent's port and channels carries this id.
constexpr uint64_t USER_ID = 0xC00017;

// Reads one event kind from the bus, each event once, verified.
template <typename Table> struct Reader {
    uint32_t kind = 0;
    uint64_t cursor = 0;
    // The next event that verifies as Table, or nullptr. It lives until the
    // end of the next frame: copy what you keep longer.
    const Table *next(const FiascoHostApi *host) {
        FiascoEventView view;
        while (host->next_event(host->ctx, kind, &cursor, &view)) {
            flatbuffers::Verifier verifier(view.data.ptr, view.data.len);
            if (verifier.VerifyBuffer<Table>(nullptr)) return flatbuffers::GetRoot<Table>(view.data.ptr);
            host->log(host->ctx, FIASCO_LOG_WARN, fiasco_str("__NAME__: skipped an event that failed verification"));
        }
        return nullptr;
    }
};

// The module's state, kept by the game between frames.
struct Counter {
    uint64_t count = 0;
    uint32_t listen_kind = 0, reply_kind = 0;
    Reader<ipc::ListenResult> results;
    Reader<ipc::MessageFromRemote> messages;
};

uint32_t kind(const FiascoHostApi *host, const char *name) { return host->intern_kind(host->ctx, fiasco_str(name)); }

// Writes the finished table in builder on the bus (the bus copies it).
int32_t write(const FiascoHostApi *host, uint32_t kind, flatbuffers::FlatBufferBuilder &builder) {
    return host->write_event(host->ctx, kind, FiascoStr{builder.GetBufferPointer(), builder.GetSize()});
}

// Creates the state and asks the IPC host to listen.
int32_t init(const FiascoHostApi *host, void **state) noexcept {
    uint64_t port;
    if (fiasco_config_uint(host, "port", 9100, 65535, &port) != FIASCO_STATUS_OK) return FIASCO_STATUS_ERROR;
    auto *counter = new (std::nothrow) Counter;
    if (!counter) return FIASCO_STATUS_ERROR;
    counter->results.kind = kind(host, "fiasco.ipc.ListenResult");
    counter->messages.kind = kind(host, "fiasco.ipc.MessageFromRemote");
    counter->reply_kind = kind(host, "fiasco.ipc.MessageToRemote");
    *state = counter;
    flatbuffers::FlatBufferBuilder builder;
    builder.Finish(ipc::CreateListenRequest(builder, USER_ID, static_cast<uint16_t>(port)));
    return write(host, kind(host, "fiasco.ipc.ListenRequest"), builder);
}

// The one system, each frame: says where the agent listens, and answers
// every message in the frame it arrives.
int32_t run(void *state, uint32_t, const FiascoHostApi *host) noexcept {
    auto *counter = static_cast<Counter *>(state);
    while (const auto *result = counter->results.next(host)) {
        if (result->user_id() != USER_ID) continue;
        bool ok = result->status() == ipc::ListenStatus_Ok;
        std::string line = ok ? "__NAME__ listening on ws://127.0.0.1:" + std::to_string(result->port())
                              : "__NAME__ could not listen: " + std::string(result->message() ? result->message()->str() : "");
        host->log(host->ctx, ok ? FIASCO_LOG_INFO : FIASCO_LOG_ERROR, fiasco_str(line.c_str()));
    }
    while (const auto *message = counter->messages.next(host)) {
        if (message->user_id() != USER_ID) continue;
        const auto *content = message->content();
        bool inc = message->kind() == ipc::MessageKind_Text && content && content->size() == 3 && !std::memcmp(content->data(), "inc", 3);
        std::string reply = inc ? std::to_string(++counter->count) : "unknown command";
        flatbuffers::FlatBufferBuilder builder;
        auto bytes = builder.CreateVector(reinterpret_cast<const uint8_t *>(reply.data()), reply.size());
        builder.Finish(ipc::CreateMessageToRemote(builder, message->channel(), bytes, ipc::MessageKind_Text));
        write(host, counter->reply_kind, builder);
    }
    return FIASCO_STATUS_OK;
}

uint32_t system_count(void *) noexcept { return 1; }

int32_t system_info(void *, uint32_t index, FiascoStr *name, uint32_t *stage) noexcept {
    if (index != 0) return FIASCO_STATUS_INVALID;
    *name = fiasco_str("run");
    *stage = FIASCO_STAGE_UPDATE;
    return FIASCO_STATUS_OK;
}

void shutdown(void *state, const FiascoHostApi *) noexcept { delete static_cast<Counter *>(state); }

const FiascoModuleApi API = {FIASCO_ABI_VERSION, fiasco_str("__NAME__"), init, system_count, system_info, run, shutdown};

} // namespace

FIASCO_EXPORT_MODULE(&API)
