//! The HTTP answers of a port: their body (a short text, or a file streamed
//! in chunks) and the headers every answer carries.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncRead, ReadBuf};

/// A file is read and sent this much at a time: what one HTTP connection
/// holds of it.
pub(crate) const FILE_CHUNK: usize = 64 * 1024;

/// Most bytes of a refusal's body.
pub(crate) const MAX_REFUSAL_BODY: usize = 1024;

/// The body of an answer.
#[derive(Debug)]
pub(crate) enum Body {
    /// Bytes at hand (refusals, the empty 101).
    Bytes(Option<Bytes>),
    /// `remaining` bytes of an open file, read a chunk at a time as the
    /// client takes them.
    File {
        file: tokio::fs::File,
        remaining: u64,
    },
}

impl Body {
    pub(crate) fn empty() -> Self {
        Self::Bytes(None)
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::Bytes((!bytes.is_empty()).then_some(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Self::Bytes(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Self::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining).map_or(FILE_CHUNK, |n| n.min(FILE_CHUNK));
                let mut chunk = BytesMut::zeroed(want);
                let mut buf = ReadBuf::new(&mut chunk);
                match Pin::new(file).poll_read(cx, &mut buf) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
                    Poll::Ready(Ok(())) => {
                        let read = buf.filled().len();
                        if read == 0 {
                            // The file shrank while it was served.
                            return Poll::Ready(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "file shorter than its length",
                            ))));
                        }
                        *remaining -= read as u64;
                        chunk.truncate(read);
                        Poll::Ready(Some(Ok(Frame::data(chunk.freeze()))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Bytes(bytes) => bytes.is_none(),
            Self::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// `nosniff` on every answer: a browser never guesses a type.
pub(crate) fn add_nosniff(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// What a page of the port carries: no framing by another site (another
/// local page could frame the demo and click its buttons), no referrer, no
/// use of its files by other sites.
pub(crate) fn add_page_headers(headers: &mut HeaderMap) {
    add_nosniff(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// A short plain-text answer (cut to [`MAX_REFUSAL_BODY`]).
pub(crate) fn text(code: StatusCode, text: impl Into<String>) -> Response<Body> {
    let mut text = text.into();
    if text.len() > MAX_REFUSAL_BODY {
        let mut end = MAX_REFUSAL_BODY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let mut response = Response::new(Body::from(Bytes::from(text)));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    add_nosniff(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_bodies_are_short_and_typed() {
        let answer = text(StatusCode::FORBIDDEN, "x".repeat(100_000));
        assert!(
            matches!(answer.body(), Body::Bytes(Some(bytes)) if bytes.len() == MAX_REFUSAL_BODY)
        );
        assert_eq!(
            answer.headers().get(header::X_CONTENT_TYPE_OPTIONS),
            Some(&HeaderValue::from_static("nosniff"))
        );
        assert!(answer.headers().contains_key(header::CONTENT_TYPE));
    }
}
