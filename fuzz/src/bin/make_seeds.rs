//! Writes the seed corpus of `module_events`: one valid event of each
//! request kind (`cargo afl run --release --bin make_seeds`, from `fuzz/`).

use fiasco::flatbuffers::FlatBufferBuilder;
use fiasco_ipc_schema::{
    CloseChannel, CloseChannelArgs, ListenRequest, ListenRequestArgs, MessageKind, MessageToRemote,
    MessageToRemoteArgs, StopListeningRequest, StopListeningRequestArgs,
};

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new("corpus/module_events");
    std::fs::create_dir_all(dir)?;
    let mut builder = FlatBufferBuilder::new();
    let content = builder.create_vector(b"hello");
    let root = MessageToRemote::create(
        &mut builder,
        &MessageToRemoteArgs {
            channel: 1,
            content: Some(content),
            kind: MessageKind::Text,
            ..Default::default()
        },
    );
    builder.finish_minimal(root);
    std::fs::write(dir.join("message_to_remote"), builder.finished_data())?;

    let mut builder = FlatBufferBuilder::new();
    let reason = builder.create_string("bye");
    let root = CloseChannel::create(
        &mut builder,
        &CloseChannelArgs {
            channel: 1,
            code: 1000,
            reason: Some(reason),
        },
    );
    builder.finish_minimal(root);
    std::fs::write(dir.join("close_channel"), builder.finished_data())?;

    let mut builder = FlatBufferBuilder::new();
    let root = StopListeningRequest::create(
        &mut builder,
        &StopListeningRequestArgs {
            user_id: 1,
            port: 9,
        },
    );
    builder.finish_minimal(root);
    std::fs::write(dir.join("stop_listening"), builder.finished_data())?;

    let mut builder = FlatBufferBuilder::new();
    let address = builder.create_string("10.0.0.1");
    let token = builder.create_string("secret");
    let root = ListenRequest::create(
        &mut builder,
        &ListenRequestArgs {
            user_id: 1,
            port: 0,
            bind_address: Some(address),
            token: Some(token),
            max_message_size: 1 << 20,
            ..Default::default()
        },
    );
    builder.finish_minimal(root);
    std::fs::write(dir.join("listen_request"), builder.finished_data())?;
    Ok(())
}
