//! Loading modules from dynamic libraries.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use libloading::{Library, Symbol};

use crate::abi::{FiascoModuleApi, ABI_VERSION, ABI_VERSION_SYMBOL, ENTRY_SYMBOL};

/// Why a file in the modules folder was not loaded. The game reports it by
/// file name and loads the rest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file is not a dynamic library this platform can load (or one of
    /// its own dependencies is missing).
    #[error("{path}: not a loadable library: {source}")]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the platform's loader said.
        source: libloading::Error,
    },
    /// The library loads but does not export the Fiasco module entry points:
    /// it is not a Fiasco module.
    #[error("{path}: not a Fiasco module (no `{symbol}` symbol)")]
    NotAModule {
        /// The file.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
    /// The module was built for another ABI version: rebuild it against
    /// this runtime.
    #[error("{path}: module ABI version {found}, this game speaks {expected}")]
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// The version the module reports.
        found: u32,
        /// [`ABI_VERSION`].
        expected: u32,
    },
    /// The folder could not be read.
    #[error("modules folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A module library, kept loaded for as long as its table is used.
pub(crate) struct LoadedLibrary {
    pub(crate) api: &'static FiascoModuleApi,
    /// Kept last so it is dropped after everything that points into it.
    _library: Library,
}

/// Loads one module library and checks its ABI version.
pub(crate) fn load(path: &Path) -> Result<LoadedLibrary, LoadError> {
    // SAFETY: loading a library runs its initialisers. The modules folder is
    // trusted in the same way as the executable next to it.
    let library = unsafe { Library::new(path) }.map_err(|source| LoadError::NotALibrary {
        path: path.to_owned(),
        source,
    })?;
    let not_a_module = |symbol: &'static [u8]| LoadError::NotAModule {
        path: path.to_owned(),
        symbol: std::str::from_utf8(&symbol[..symbol.len() - 1]).unwrap_or("?"),
    };
    let version = {
        // SAFETY: the symbol, if present, has the documented signature.
        let symbol: Symbol<'_, unsafe extern "C" fn() -> u32> =
            unsafe { library.get(ABI_VERSION_SYMBOL) }
                .map_err(|_| not_a_module(ABI_VERSION_SYMBOL))?;
        // SAFETY: calling the documented, argument-less version function.
        unsafe { symbol() }
    };
    if version != ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            path: path.to_owned(),
            found: version,
            expected: ABI_VERSION,
        });
    }
    let api = {
        // SAFETY: the version matched, so the entry has the documented signature.
        let symbol: Symbol<'_, unsafe extern "C" fn() -> *const FiascoModuleApi> =
            unsafe { library.get(ENTRY_SYMBOL) }.map_err(|_| not_a_module(ENTRY_SYMBOL))?;
        // SAFETY: calling the documented, argument-less entry function.
        unsafe { symbol() }
    };
    // SAFETY: the table is static data inside the library, which we keep
    // loaded for as long as the returned value lives.
    let Some(api) = (unsafe { api.as_ref() }) else {
        return Err(not_a_module(ENTRY_SYMBOL));
    };
    if api.abi_version != ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            path: path.to_owned(),
            found: api.abi_version,
            expected: ABI_VERSION,
        });
    }
    Ok(LoadedLibrary {
        api,
        _library: library,
    })
}

/// The dynamic libraries in `folder`, by file name.
pub(crate) fn library_files(folder: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(folder).map_err(|source| LoadError::Folder {
        path: folder.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|ext| ext == std::env::consts::DLL_EXTENSION)
        })
        .collect();
    files.sort();
    Ok(files)
}
