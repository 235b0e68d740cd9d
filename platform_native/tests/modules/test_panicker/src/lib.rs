//! Test module: its system panics in frame `test_panicker.frame` (default 3).

use fiasco::{system, Frame, InitContext, Module, ModuleError, Res, Stage};

struct PanicFrame(u64);

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let frame = ctx.config_parse("frame", 3)?;
    ctx.insert_resource(PanicFrame(frame));
    Ok(())
}

#[system]
fn explode(frame: Frame, at: Res<'_, PanicFrame>) {
    if frame.0 == at.0 {
        panic!("test panic in frame {}", frame.0);
    }
}

fn module() -> Module {
    Module::new("test_panicker")
        .with_init(init)
        .with_system(Stage::Update, explode())
}

fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("test_panicker", module)
}

fiasco::export_module!(api);
