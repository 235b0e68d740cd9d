/*
 * fiasco_module.h: the C ABI between the Fiasco game process
 * (platform_native) and its modules. Version 2 (version 1 modules are
 * refused by name: rebuild them against this header).
 *
 * A module is a dynamic library in the modules/ folder that exports:
 *
 *   uint32_t fiasco_module_abi_version(void);          // returns FIASCO_ABI_VERSION
 *   const FiascoModuleApi *fiasco_module_entry(void);  // the module's table
 *
 * The loader calls fiasco_module_abi_version first and skips (and reports)
 * a module of another version. Events are FlatBuffers tables, named by their
 * fully qualified table name ("fiasco.ipc.MessageToRemote"). Readers must
 * verify event bytes before use: the host does not know every schema.
 *
 * Lifetimes: the FiascoHostApi pointer stays valid from init to the end of
 * shutdown. Event data seen through next_event stays valid until the end of
 * the frame after the one it was written in. Strings returned by the host
 * are valid until the call that returned them returns, unless stated.
 *
 * Owned buffers (FiascoBuffer): a module can hand the bus a finished event
 * without a copy (write_event_owned) and keep an event's bytes beyond its
 * frame without a copy (retain_event). Such a buffer's bytes never change
 * until its release function is called, exactly once, from any thread.
 *
 * Threading: every call happens on the game thread (buffer releases excepted). Never let a C++
 * exception or a Rust panic cross these functions.
 *
 * This header mirrors runtime/src/abi.rs exactly; the helpers at its end
 * are C conveniences over it.
 */
#ifndef FIASCO_MODULE_H
#define FIASCO_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FIASCO_ABI_VERSION 2u

#define FIASCO_STATUS_OK 0
#define FIASCO_STATUS_ERROR 1   /* failed; the module logged why */
#define FIASCO_STATUS_PANIC 2   /* a system panicked: the host disables the module */
#define FIASCO_STATUS_INVALID 3 /* bad argument (null pointer, unknown id) */

#define FIASCO_LOG_RAW 0   /* an already formatted line, written as is */
#define FIASCO_LOG_ERROR 1
#define FIASCO_LOG_WARN 2
#define FIASCO_LOG_INFO 3
#define FIASCO_LOG_DEBUG 4
#define FIASCO_LOG_TRACE 5

#define FIASCO_STAGE_FIRST 0u  /* before every UPDATE system */
#define FIASCO_STAGE_UPDATE 1u /* game and agent logic */
#define FIASCO_STAGE_LAST 2u   /* after every UPDATE system */

/* A borrowed byte string (not NUL-terminated). */
typedef struct FiascoStr {
    const uint8_t *ptr;
    size_t len;
} FiascoStr;

/* One event as the host shows it. */
typedef struct FiascoEventView {
    uint32_t kind;   /* kind id, see intern_kind */
    uint32_t source; /* index of the writing module, see module_name */
    FiascoStr data;  /* FlatBuffers bytes, unverified */
    uint64_t seq;    /* sequence number on the bus, for retain_event */
} FiascoEventView;

/* Bytes owned by whoever holds this value: call release(owner) exactly once,
 * from any thread, when done (release may be NULL: nothing to free). */
typedef struct FiascoBuffer {
    const uint8_t *ptr;
    size_t len;
    void *owner;
    void (*release)(void *owner);
} FiascoBuffer;

/* Wakes the game between frames; callable from any thread. */
typedef struct FiascoWaker {
    const void *data;
    void (*wake)(const void *data);
} FiascoWaker;

/* What the host offers a module; pass ctx back as the first argument. */
typedef struct FiascoHostApi {
    uint32_t abi_version;
    void *ctx;
    /* Interns an event kind name; ids are stable for the process. */
    uint32_t (*intern_kind)(void *ctx, FiascoStr name);
    /* Next event of kind at or after *cursor: fills *out, advances *cursor
     * past it and returns 1; or sets *cursor to the end and returns 0.
     * Start a reader's cursor at 0 to see everything the bus still holds. */
    int32_t (*next_event)(void *ctx, uint32_t kind, uint64_t *cursor, FiascoEventView *out);
    /* The sequence number the next written event will get. */
    uint64_t (*bus_end)(void *ctx);
    /* Copies an event onto the bus. FIASCO_STATUS_OK or _INVALID. */
    int32_t (*write_event)(void *ctx, uint32_t kind, FiascoStr data);
    /* Hands a finished event to the bus without a copy. The host owns the
     * buffer from here on in every case (refused: released at once).
     * FIASCO_STATUS_OK or _INVALID. */
    int32_t (*write_event_owned)(void *ctx, uint32_t kind, FiascoBuffer buffer);
    /* Keeps the bytes of event seq of kind (from a FiascoEventView) alive
     * beyond its frame: 1 and *out (release it once, before your module's
     * shutdown returns), or 0 when the bus no longer holds it. */
    int32_t (*retain_event)(void *ctx, uint32_t kind, uint64_t seq, FiascoBuffer *out);
    /* Logs one line at a FIASCO_LOG_* level. */
    void (*log)(void *ctx, int32_t level, FiascoStr line);
    /* The calling module's configuration value for key (--set module.key=v
     * or FIASCO_MODULE_KEY): 1 and *out when set, else 0. */
    int32_t (*config_get)(void *ctx, FiascoStr key, FiascoStr *out);
    /* The name of module index (as in FiascoEventView.source). */
    FiascoStr (*module_name)(void *ctx, uint32_t index);
    /* The current frame number, 0 during init. */
    uint64_t (*frame)(void *ctx);
    /* The game's waker: a module's own threads call it when they have
     * something for the next frame, so an idle unthrottled game need not
     * spin. Valid until the module's shutdown returns. */
    FiascoWaker (*waker)(void *ctx);
} FiascoHostApi;

/* What a module offers the host. */
typedef struct FiascoModuleApi {
    uint32_t abi_version; /* FIASCO_ABI_VERSION */
    FiascoStr name;       /* static; used for configuration and logs */
    /* Creates the module state: FIASCO_STATUS_OK and *state, or an error. */
    int32_t (*init)(const FiascoHostApi *host, void **state);
    uint32_t (*system_count)(void *state);
    /* Name (static) and stage (FIASCO_STAGE_*) of system index. */
    int32_t (*system_info)(void *state, uint32_t index, FiascoStr *name, uint32_t *stage);
    /* Runs system index once; FIASCO_STATUS_PANIC disables the module. */
    int32_t (*run_system)(void *state, uint32_t index, const FiascoHostApi *host);
    /* Runs shutdown and frees the state. Called once. */
    void (*shutdown)(void *state, const FiascoHostApi *host);
} FiascoModuleApi;


/* ---- Helpers: header-only conveniences, not part of the ABI. ---- */

/* A FiascoStr of a NUL-terminated string (without the NUL). */
static inline FiascoStr fiasco_str(const char *text) {
    FiascoStr s = { (const uint8_t *)text, text ? strlen(text) : 0 };
    return s;
}

/* The calling module's configuration value key as a decimal number of at
 * most max: FIASCO_STATUS_OK and *out (fallback when the key is unset), or
 * FIASCO_STATUS_ERROR after logging what is wrong with the value. */
static inline int32_t fiasco_config_uint(const FiascoHostApi *host, const char *key,
                                         uint64_t fallback, uint64_t max, uint64_t *out) {
    FiascoStr value;
    uint64_t number = 0;
    size_t i;
    char line[200];
    if (!host->config_get(host->ctx, fiasco_str(key), &value)) {
        *out = fallback;
        return FIASCO_STATUS_OK;
    }
    for (i = 0; i < value.len; i++) {
        uint8_t digit = (uint8_t)(value.ptr[i] - '0');
        if (digit > 9 || digit > max || number > (max - digit) / 10) break;
        number = number * 10 + digit;
    }
    if (value.len == 0 || i < value.len) {
        snprintf(line, sizeof line, "configuration %s=%.*s is not a number from 0 to %llu", key,
                 (int)(value.len > 64 ? 64 : value.len), (const char *)value.ptr,
                 (unsigned long long)max);
        host->log(host->ctx, FIASCO_LOG_ERROR, fiasco_str(line));
        return FIASCO_STATUS_ERROR;
    }
    *out = number;
    return FIASCO_STATUS_OK;
}

#ifdef __cplusplus
}
#define FIASCO_EXTERN_C extern "C"
#else
#define FIASCO_EXTERN_C
#endif

#if defined(__GNUC__)
#define FIASCO_EXPORT FIASCO_EXTERN_C __attribute__((visibility("default")))
#else
#define FIASCO_EXPORT FIASCO_EXTERN_C
#endif

/* Defines the two symbols the loader looks for, returning api (a
 * const FiascoModuleApi *), exported even under -fvisibility=hidden. Use it
 * once, at file scope. */
#define FIASCO_EXPORT_MODULE(api)                                                       \
    FIASCO_EXPORT uint32_t fiasco_module_abi_version(void) { return FIASCO_ABI_VERSION; } \
    FIASCO_EXPORT const FiascoModuleApi *fiasco_module_entry(void) { return (api); }

#endif /* FIASCO_MODULE_H */
