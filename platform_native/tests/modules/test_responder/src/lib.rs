//! Test module: answers every `Request` with a `Reply` in the same frame.

use fiasco::{system, EventReader, EventWriter, Module, Stage};
use fiasco_test_events::{Reply, ReplyArgs, Request};

#[system]
fn answer(requests: EventReader<Request<'_>>, writer: EventWriter<Reply<'_>>) {
    for request in &requests {
        writer.write_builder(|builder| Reply::create(builder, &ReplyArgs { id: request.id() }));
    }
}

fn module() -> Module {
    Module::new("test_responder").with_system(Stage::Update, answer())
}

fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("test_responder", module)
}

fiasco::export_module!(api);
