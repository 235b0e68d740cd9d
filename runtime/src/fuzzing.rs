//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
//! host's side of the C ABI fed arbitrary bytes, as a module written in any
//! language could pass them. Not part of the API.
#![allow(unsafe_code)]

use crate::abi::{FiascoBuffer, FiascoEventView, FiascoStr};
use crate::host::config::Config;
use crate::host::state::HostState;

/// Feeds `data`, split in parts, to every host function that takes a
/// string or bytes from a module: kind names, configuration keys, log
/// lines at every level, events written and read back, retained and
/// released.
pub fn abi_strings(data: &[u8]) {
    let mut config = Config::default();
    config.set("", "key", "value");
    let state = Box::new(HostState::new(config));
    state.module_names.borrow_mut().push("".into());
    let api = state.api();
    let ctx = api.ctx;
    let parts: Vec<&[u8]> = data.split(|&byte| byte == 0xFF).collect();
    for (index, part) in parts.iter().enumerate() {
        let text = FiascoStr::from_bytes(part);
        // SAFETY: `ctx` is the live state's; every pointer passed is valid
        // for the call, as the ABI requires of modules.
        unsafe {
            let kind = (api.intern_kind)(ctx, text);
            let mut out = FiascoStr::empty();
            (api.config_get)(ctx, text, &mut out);
            (api.log)(ctx, (index % 7) as i32 - 1, text);
            (api.write_event)(ctx, kind, text);
            (api.write_event)(ctx, kind.wrapping_add(index as u32), text);
            let owned = crate::buffer::into_abi(bytes::Bytes::copy_from_slice(part));
            (api.write_event_owned)(ctx, kind, owned);
            let mut cursor = 0;
            let mut view = FiascoEventView {
                kind: 0,
                source: 0,
                data: FiascoStr::empty(),
                seq: 0,
            };
            while (api.next_event)(ctx, kind, &mut cursor, &mut view) == 1 {
                let mut kept = FiascoBuffer {
                    ptr: std::ptr::null(),
                    len: 0,
                    owner: std::ptr::null_mut(),
                    release: None,
                };
                if (api.retain_event)(ctx, kind, view.seq, &mut kept) == 1 {
                    drop(crate::buffer::from_abi(kept));
                }
            }
            let _ = (api.module_name)(ctx, index as u32);
        }
    }
    state.bus.borrow_mut().begin_frame();
    state.bus.borrow_mut().begin_frame();
}
