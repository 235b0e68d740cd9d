//! Serving a folder over plain HTTP GET (e.g. the web page of a client):
//! files are streamed a chunk at a time ([`FILE_CHUNK`](crate::answer::FILE_CHUNK)),
//! never read whole; HEAD reads nothing. Dotfiles (`/.env`, `/.git/config`)
//! are not served.

use std::path::{Path, PathBuf};

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::answer::{self, Body};

/// Largest file served: web pages, scripts and images, not game assets.
const MAX_FILE_SIZE: u64 = 64 << 20;

/// The path inside `root` that `request_path` names, before the file
/// system is asked, or `None` when it may not name anything: `..` segments,
/// encoded or not, backslashes and NUL are refused, and so is any segment
/// starting with a dot (dotfiles and dot folders such as `.git`). Pure.
pub(crate) fn lexical(root: &Path, request_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(request_path)
        .decode_utf8()
        .ok()?;
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" => continue,
            _ if segment.starts_with('.') => return None,
            _ if segment.contains(['\\', '\0']) => return None,
            _ => path.push(segment),
        }
    }
    Some(path)
}

/// The file `request_path` names inside `root`, or `None` when it names
/// nothing there ([`lexical`]'s rules, and symbolic links must resolve
/// inside).
pub(crate) async fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = lexical(root, request_path)?;
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let mut path = tokio::fs::canonicalize(&path).await.ok()?;
    if tokio::fs::metadata(&path).await.ok()?.is_dir() {
        path = tokio::fs::canonicalize(path.join("index.html"))
            .await
            .ok()?;
    }
    path.starts_with(&root).then_some(path)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|ext| ext.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response<Body> {
    let mut response = answer::text(StatusCode::NOT_FOUND, "not found\n");
    answer::add_page_headers(response.headers_mut());
    response
}

/// The answer to a GET (or HEAD: the same headers, no body, no read) of
/// `request_path`.
pub(crate) async fn serve(root: &Path, request_path: &str, head: bool) -> Response<Body> {
    let Some(path) = resolve(root, request_path).await else {
        return not_found();
    };
    let length = match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE_SIZE => meta.len(),
        _ => return not_found(),
    };
    let body = if head {
        Body::empty()
    } else {
        match tokio::fs::File::open(&path).await {
            Ok(file) => Body::File {
                file,
                remaining: length,
            },
            Err(_) => return not_found(),
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    answer::add_page_headers(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paths_cannot_leave_the_root() {
        let base = std::env::temp_dir().join(format!("fiasco-static-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).ok();
        std::fs::write(root.join("index.html"), "hi").ok();
        std::fs::write(root.join("sub/a.js"), "js").ok();
        std::fs::write(base.join("secret.txt"), "secret").ok();
        assert!(resolve(&root, "/")
            .await
            .is_some_and(|p| p.ends_with("index.html")));
        assert!(resolve(&root, "/sub/a.js").await.is_some());
        assert!(resolve(&root, "/sub/%61.js").await.is_some());
        assert_eq!(resolve(&root, "/../secret.txt").await, None);
        assert_eq!(resolve(&root, "/%2e%2e/secret.txt").await, None);
        assert_eq!(resolve(&root, "/sub/..%2f..%2fsecret.txt").await, None);
        assert_eq!(resolve(&root, "/..%5csecret.txt").await, None);
        assert_eq!(resolve(&root, "/missing").await, None);
        std::fs::write(root.join(".env"), "SECRET=1").ok();
        std::fs::create_dir_all(root.join(".git")).ok();
        std::fs::write(root.join(".git/config"), "[core]").ok();
        assert_eq!(resolve(&root, "/.env").await, None);
        assert_eq!(resolve(&root, "/%2eenv").await, None);
        assert_eq!(resolve(&root, "/.git/config").await, None);
        assert_eq!(resolve(&root, "/sub/./a.js").await, None);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).ok();
            assert_eq!(resolve(&root, "/link.txt").await, None);
        }
        std::fs::remove_dir_all(&base).ok();
    }
}
