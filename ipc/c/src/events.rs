//! The C form of every ipc.fbs table (`fiasco_ipc.h` mirrors these structs)
//! and how each is read from and built into FlatBuffers.
//!
//! Strings and byte vectors are [`FiascoStr`]: on read they point into the
//! event's bytes (valid as long as the event is, see the event lifetime in
//! `fiasco_module.h`); on write C owns them and they are copied. A null
//! pointer is an absent field. Enums are their `uint8_t` values.

use crate::convert::{self, c_bytes, c_str, Invalid};
use fiasco::abi::FiascoStr;
use fiasco::flatbuffers::{root, FlatBufferBuilder, InvalidFlatbuffer, UnionWIPOffset, WIPOffset};
use fiasco::EventKind;
use fiasco_ipc_schema as ipc;

/// An ipc.fbs table in its C form.
pub(crate) trait CEvent: Sized {
    /// The table's kind name on the bus.
    const NAME: &'static str;
    /// A number of its own, so a reader knows which kind it was bound to.
    const INDEX: u32;

    /// Verifies `data` as this table and fills the C form, borrowing `data`.
    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer>;

    /// Builds the table from the C form.
    ///
    /// # Safety
    /// Every non-null pointer in `self` is valid for its length.
    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid>;
}

/// `fiasco.ipc.ListenRequest`. On read, `allowed_origins` is null and
/// `allowed_origins_count` the number of origins
/// (`fiasco_ipc_listen_request_allowed_origin` reads each).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)] // the fields are ipc.fbs's, documented there
pub struct FiascoIpcListenRequest {
    pub user_id: u64,
    pub port: u16,
    pub bind_address: FiascoStr,
    pub allowed_origins: *const FiascoStr,
    pub allowed_origins_count: usize,
    pub token: FiascoStr,
    pub web_root: FiascoStr,
    pub tls_cert_path: FiascoStr,
    pub tls_key_path: FiascoStr,
    pub max_message_size: u64,
    pub max_frame_size: u64,
    pub max_connections: u32,
    pub handshake_timeout_ms: u32,
    pub idle_timeout_ms: u32,
    pub max_outbound_messages: u32,
    pub max_outbound_bytes: u64,
    pub max_inbound_messages: u32,
    pub max_inbound_bytes: u64,
    pub write_timeout_ms: u32,
    pub message_timeout_ms: u32,
    pub max_pending_handshakes: u32,
    pub max_pending_per_address: u32,
    pub max_http_connections: u32,
    pub http_lifetime_ms: u32,
    pub max_request_head: u32,
}

impl CEvent for FiascoIpcListenRequest {
    const NAME: &'static str = ipc::ListenRequest::NAME;
    const INDEX: u32 = 1;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::ListenRequest>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            port: table.port(),
            bind_address: c_str(table.bind_address()),
            allowed_origins: std::ptr::null(),
            allowed_origins_count: table.allowed_origins().map_or(0, |origins| origins.len()),
            token: c_str(table.token()),
            web_root: c_str(table.web_root()),
            tls_cert_path: c_str(table.tls_cert_path()),
            tls_key_path: c_str(table.tls_key_path()),
            max_message_size: table.max_message_size(),
            max_frame_size: table.max_frame_size(),
            max_connections: table.max_connections(),
            handshake_timeout_ms: table.handshake_timeout_ms(),
            idle_timeout_ms: table.idle_timeout_ms(),
            max_outbound_messages: table.max_outbound_messages(),
            max_outbound_bytes: table.max_outbound_bytes(),
            max_inbound_messages: table.max_inbound_messages(),
            max_inbound_bytes: table.max_inbound_bytes(),
            write_timeout_ms: table.write_timeout_ms(),
            message_timeout_ms: table.message_timeout_ms(),
            max_pending_handshakes: table.max_pending_handshakes(),
            max_pending_per_address: table.max_pending_per_address(),
            max_http_connections: table.max_http_connections(),
            http_lifetime_ms: table.http_lifetime_ms(),
            max_request_head: table.max_request_head(),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY (every call below): the caller vouches for the pointers.
        let args = unsafe {
            ipc::ListenRequestArgs {
                user_id: self.user_id,
                port: self.port,
                bind_address: convert::add_text(builder, self.bind_address, "bind_address")?,
                allowed_origins: convert::add_texts(
                    builder,
                    self.allowed_origins,
                    self.allowed_origins_count,
                    "allowed_origins",
                )?,
                token: convert::add_text(builder, self.token, "token")?,
                web_root: convert::add_text(builder, self.web_root, "web_root")?,
                tls_cert_path: convert::add_text(builder, self.tls_cert_path, "tls_cert_path")?,
                tls_key_path: convert::add_text(builder, self.tls_key_path, "tls_key_path")?,
                max_message_size: self.max_message_size,
                max_frame_size: self.max_frame_size,
                max_connections: self.max_connections,
                handshake_timeout_ms: self.handshake_timeout_ms,
                idle_timeout_ms: self.idle_timeout_ms,
                max_outbound_messages: self.max_outbound_messages,
                max_outbound_bytes: self.max_outbound_bytes,
                max_inbound_messages: self.max_inbound_messages,
                max_inbound_bytes: self.max_inbound_bytes,
                write_timeout_ms: self.write_timeout_ms,
                message_timeout_ms: self.message_timeout_ms,
                max_pending_handshakes: self.max_pending_handshakes,
                max_pending_per_address: self.max_pending_per_address,
                max_http_connections: self.max_http_connections,
                http_lifetime_ms: self.http_lifetime_ms,
                max_request_head: self.max_request_head,
            }
        };
        Ok(ipc::ListenRequest::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.ListenResult`; `status` is a `FIASCO_IPC_LISTEN_*` value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcListenResult {
    pub user_id: u64,
    pub requested_port: u16,
    pub port: u16,
    pub status: u8,
    pub message: FiascoStr,
}

impl CEvent for FiascoIpcListenResult {
    const NAME: &'static str = ipc::ListenResult::NAME;
    const INDEX: u32 = 2;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::ListenResult>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            requested_port: table.requested_port(),
            port: table.port(),
            status: table.status().0,
            message: c_str(table.message()),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY: the caller vouches for the pointers.
        let message = unsafe { convert::add_text(builder, self.message, "message") }?;
        let args = ipc::ListenResultArgs {
            user_id: self.user_id,
            requested_port: self.requested_port,
            port: self.port,
            status: ipc::ListenStatus(self.status),
            message,
        };
        Ok(ipc::ListenResult::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.StopListeningRequest`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcStopListeningRequest {
    pub user_id: u64,
    pub port: u16,
}

impl CEvent for FiascoIpcStopListeningRequest {
    const NAME: &'static str = ipc::StopListeningRequest::NAME;
    const INDEX: u32 = 3;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::StopListeningRequest>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            port: table.port(),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        let args = ipc::StopListeningRequestArgs {
            user_id: self.user_id,
            port: self.port,
        };
        Ok(ipc::StopListeningRequest::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.StopListeningResult`; `stopped` is 0 or 1.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcStopListeningResult {
    pub user_id: u64,
    pub port: u16,
    pub stopped: u8,
}

impl CEvent for FiascoIpcStopListeningResult {
    const NAME: &'static str = ipc::StopListeningResult::NAME;
    const INDEX: u32 = 4;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::StopListeningResult>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            port: table.port(),
            stopped: u8::from(table.stopped()),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        let args = ipc::StopListeningResultArgs {
            user_id: self.user_id,
            port: self.port,
            stopped: self.stopped != 0,
        };
        Ok(ipc::StopListeningResult::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.ConnectionOpened`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcConnectionOpened {
    pub channel: u64,
    pub user_id: u64,
    pub port: u16,
    pub peer_address: FiascoStr,
    pub path: FiascoStr,
    pub origin: FiascoStr,
    pub outbound: u8,
    pub connect_id: u64,
}

impl CEvent for FiascoIpcConnectionOpened {
    const NAME: &'static str = ipc::ConnectionOpened::NAME;
    const INDEX: u32 = 5;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::ConnectionOpened>(data)?;
        Ok(Self {
            channel: table.channel(),
            user_id: table.user_id(),
            port: table.port(),
            peer_address: c_str(table.peer_address()),
            path: c_str(table.path()),
            origin: c_str(table.origin()),
            outbound: u8::from(table.outbound()),
            connect_id: table.connect_id(),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY (every call below): the caller vouches for the pointers.
        let args = unsafe {
            ipc::ConnectionOpenedArgs {
                channel: self.channel,
                user_id: self.user_id,
                port: self.port,
                peer_address: convert::add_text(builder, self.peer_address, "peer_address")?,
                path: convert::add_text(builder, self.path, "path")?,
                origin: convert::add_text(builder, self.origin, "origin")?,
                outbound: self.outbound != 0,
                connect_id: self.connect_id,
            }
        };
        Ok(ipc::ConnectionOpened::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.MessageFromRemote`; `kind` is `FIASCO_IPC_BINARY` or `_TEXT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcMessageFromRemote {
    pub channel: u64,
    pub user_id: u64,
    pub kind: u8,
    pub content: FiascoStr,
}

impl CEvent for FiascoIpcMessageFromRemote {
    const NAME: &'static str = ipc::MessageFromRemote::NAME;
    const INDEX: u32 = 6;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::MessageFromRemote>(data)?;
        Ok(Self {
            channel: table.channel(),
            user_id: table.user_id(),
            kind: table.kind().0,
            content: c_bytes(table.content()),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY: the caller vouches for the pointers.
        let content = unsafe { convert::add_bytes(builder, self.content, "content") }?;
        let args = ipc::MessageFromRemoteArgs {
            channel: self.channel,
            user_id: self.user_id,
            kind: ipc::MessageKind(self.kind),
            content,
        };
        Ok(ipc::MessageFromRemote::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.MessageToRemote`; `kind` is `FIASCO_IPC_BINARY` or `_TEXT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcMessageToRemote {
    pub channel: u64,
    pub content: FiascoStr,
    pub kind: u8,
}

impl CEvent for FiascoIpcMessageToRemote {
    const NAME: &'static str = ipc::MessageToRemote::NAME;
    const INDEX: u32 = 7;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::MessageToRemote>(data)?;
        Ok(Self {
            channel: table.channel(),
            content: c_bytes(table.content()),
            kind: table.kind().0,
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY: the caller vouches for the pointers.
        let content = unsafe { convert::add_bytes(builder, self.content, "content") }?;
        let args = ipc::MessageToRemoteArgs {
            channel: self.channel,
            content,
            kind: ipc::MessageKind(self.kind),
        };
        Ok(ipc::MessageToRemote::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.CloseChannel`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcCloseChannel {
    pub channel: u64,
    pub code: u16,
    pub reason: FiascoStr,
}

impl CEvent for FiascoIpcCloseChannel {
    const NAME: &'static str = ipc::CloseChannel::NAME;
    const INDEX: u32 = 8;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::CloseChannel>(data)?;
        Ok(Self {
            channel: table.channel(),
            code: table.code(),
            reason: c_str(table.reason()),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY: the caller vouches for the pointers.
        let reason = unsafe { convert::add_text(builder, self.reason, "reason") }?;
        let args = ipc::CloseChannelArgs {
            channel: self.channel,
            code: self.code,
            reason,
        };
        Ok(ipc::CloseChannel::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.ChannelClosed`; `closed_by` is a `FIASCO_IPC_CLOSED_BY_*` value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcChannelClosed {
    pub channel: u64,
    pub user_id: u64,
    pub closed_by: u8,
    pub code: u16,
    pub reason: FiascoStr,
}

impl CEvent for FiascoIpcChannelClosed {
    const NAME: &'static str = ipc::ChannelClosed::NAME;
    const INDEX: u32 = 9;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::ChannelClosed>(data)?;
        Ok(Self {
            channel: table.channel(),
            user_id: table.user_id(),
            closed_by: table.closed_by().0,
            code: table.code(),
            reason: c_str(table.reason()),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY: the caller vouches for the pointers.
        let reason = unsafe { convert::add_text(builder, self.reason, "reason") }?;
        let args = ipc::ChannelClosedArgs {
            channel: self.channel,
            user_id: self.user_id,
            closed_by: ipc::ClosedBy(self.closed_by),
            code: self.code,
            reason,
        };
        Ok(ipc::ChannelClosed::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.ConnectRequest`; `no_reconnect` is 0 or 1.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcConnectRequest {
    pub user_id: u64,
    pub connect_id: u64,
    pub url: FiascoStr,
    pub token: FiascoStr,
    pub ca_file: FiascoStr,
    pub no_reconnect: u8,
    pub initial_backoff_ms: u32,
    pub max_backoff_ms: u32,
    pub max_message_size: u64,
    pub max_frame_size: u64,
    pub handshake_timeout_ms: u32,
    pub idle_timeout_ms: u32,
    pub max_outbound_messages: u32,
    pub max_outbound_bytes: u64,
    pub max_inbound_messages: u32,
    pub max_inbound_bytes: u64,
    pub write_timeout_ms: u32,
    pub message_timeout_ms: u32,
}

impl CEvent for FiascoIpcConnectRequest {
    const NAME: &'static str = ipc::ConnectRequest::NAME;
    const INDEX: u32 = 10;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::ConnectRequest>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            connect_id: table.connect_id(),
            url: c_str(table.url()),
            token: c_str(table.token()),
            ca_file: c_str(table.ca_file()),
            no_reconnect: u8::from(table.no_reconnect()),
            initial_backoff_ms: table.initial_backoff_ms(),
            max_backoff_ms: table.max_backoff_ms(),
            max_message_size: table.max_message_size(),
            max_frame_size: table.max_frame_size(),
            handshake_timeout_ms: table.handshake_timeout_ms(),
            idle_timeout_ms: table.idle_timeout_ms(),
            max_outbound_messages: table.max_outbound_messages(),
            max_outbound_bytes: table.max_outbound_bytes(),
            max_inbound_messages: table.max_inbound_messages(),
            max_inbound_bytes: table.max_inbound_bytes(),
            write_timeout_ms: table.write_timeout_ms(),
            message_timeout_ms: table.message_timeout_ms(),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY (every call below): the caller vouches for the pointers.
        let args = unsafe {
            ipc::ConnectRequestArgs {
                user_id: self.user_id,
                connect_id: self.connect_id,
                url: convert::add_text(builder, self.url, "url")?,
                token: convert::add_text(builder, self.token, "token")?,
                ca_file: convert::add_text(builder, self.ca_file, "ca_file")?,
                no_reconnect: self.no_reconnect != 0,
                initial_backoff_ms: self.initial_backoff_ms,
                max_backoff_ms: self.max_backoff_ms,
                max_message_size: self.max_message_size,
                max_frame_size: self.max_frame_size,
                handshake_timeout_ms: self.handshake_timeout_ms,
                idle_timeout_ms: self.idle_timeout_ms,
                max_outbound_messages: self.max_outbound_messages,
                max_outbound_bytes: self.max_outbound_bytes,
                max_inbound_messages: self.max_inbound_messages,
                max_inbound_bytes: self.max_inbound_bytes,
                write_timeout_ms: self.write_timeout_ms,
                message_timeout_ms: self.message_timeout_ms,
            }
        };
        Ok(ipc::ConnectRequest::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.ConnectStatus`; `state` is a `FIASCO_IPC_CONNECT_*` value,
/// `failure` a `FIASCO_IPC_FAILURE_*` value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcConnectStatus {
    pub user_id: u64,
    pub connect_id: u64,
    pub state: u8,
    pub attempt: u32,
    pub channel: u64,
    pub failure: u8,
    pub http_status: u16,
    pub retry_in_ms: u32,
    pub message: FiascoStr,
}

impl CEvent for FiascoIpcConnectStatus {
    const NAME: &'static str = ipc::ConnectStatus::NAME;
    const INDEX: u32 = 11;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::ConnectStatus>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            connect_id: table.connect_id(),
            state: table.state().0,
            attempt: table.attempt(),
            channel: table.channel(),
            failure: table.failure().0,
            http_status: table.http_status(),
            retry_in_ms: table.retry_in_ms(),
            message: c_str(table.message()),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        // SAFETY: the caller vouches for the pointers.
        let message = unsafe { convert::add_text(builder, self.message, "message") }?;
        let args = ipc::ConnectStatusArgs {
            user_id: self.user_id,
            connect_id: self.connect_id,
            state: ipc::ConnectState(self.state),
            attempt: self.attempt,
            channel: self.channel,
            failure: ipc::ConnectFailure(self.failure),
            http_status: self.http_status,
            retry_in_ms: self.retry_in_ms,
            message,
        };
        Ok(ipc::ConnectStatus::create(builder, &args).as_union_value())
    }
}

/// `fiasco.ipc.DisconnectRequest`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct FiascoIpcDisconnectRequest {
    pub user_id: u64,
    pub connect_id: u64,
}

impl CEvent for FiascoIpcDisconnectRequest {
    const NAME: &'static str = ipc::DisconnectRequest::NAME;
    const INDEX: u32 = 12;

    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer> {
        let table = root::<ipc::DisconnectRequest>(data)?;
        Ok(Self {
            user_id: table.user_id(),
            connect_id: table.connect_id(),
        })
    }

    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid> {
        let args = ipc::DisconnectRequestArgs {
            user_id: self.user_id,
            connect_id: self.connect_id,
        };
        Ok(ipc::DisconnectRequest::create(builder, &args).as_union_value())
    }
}
