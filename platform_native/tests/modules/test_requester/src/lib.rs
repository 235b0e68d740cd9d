//! Test module: writes a `Request` every frame (stage First) and records, in
//! stage Last, every `Reply` with the frame it arrived in.

use fiasco::{
    system, EventReader, EventWriter, Frame, InitContext, Module, ModuleError, Res, Stage,
};
use fiasco_test_events::{record, Reply, Request, RequestArgs};

struct Out(String);

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let out = ctx.config("out").ok_or_else(|| ModuleError::Config {
        key: "out".into(),
        message: "required".into(),
    })?;
    record(&out, "init");
    ctx.insert_resource(Out(out));
    Ok(())
}

#[system]
fn ask(frame: Frame, writer: EventWriter<Request<'_>>) {
    writer.write_builder(|builder| Request::create(builder, &RequestArgs { id: frame.0 }));
}

#[system]
fn collect(frame: Frame, out: Res<'_, Out>, replies: EventReader<Reply<'_>>) {
    for reply in &replies {
        record(&out.0, &format!("reply {} {}", reply.id(), frame.0));
    }
}

fn module() -> Module {
    Module::new("test_requester")
        .with_init(init)
        .with_system(Stage::First, ask())
        .with_system(Stage::Last, collect())
        .with_shutdown(|ctx| {
            if let Some(out) = ctx.take_resource::<Out>() {
                record(&out.0, "shutdown");
            }
        })
}

fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("test_requester", module)
}

fiasco::export_module!(api);
