//! The IPC Host Module as a dynamic library (`libipc.so`), for the
//! `modules/` folder of `platform_native`.

fiasco::export_module!(fiasco_ipc::api);
