//! Who may connect: Host, Origin and token checks.

use hyper::header::{self, HeaderValue};
use hyper::Request;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::options::ListenOptions;

/// Whether the Host header names this loopback listener: `127.0.0.1`,
/// `localhost` or `[::1]`, with the port. Anything else may be a DNS
/// rebinding attack (a foreign name resolving to 127.0.0.1).
pub(crate) fn host_allowed(host: Option<&HeaderValue>, port: u16) -> bool {
    let Some(host) = host.and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let Some((name, host_port)) = host.rsplit_once(':') else {
        return false;
    };
    host_port.parse::<u16>() == Ok(port)
        && (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost") || name == "[::1]")
}

/// The origins a listener allows without configuration: pages it serves.
fn own_origins(port: u16) -> impl Iterator<Item = String> {
    ["http", "https"].into_iter().flat_map(move |scheme| {
        ["127.0.0.1", "localhost", "[::1]"]
            .into_iter()
            .map(move |host| format!("{scheme}://{host}:{port}"))
    })
}

/// An origin in the form origins are compared in: lower case, no trailing
/// slash, and the loopback names (`localhost`, `127.0.0.1`, `[::1]`) as one,
/// so allowing `http://localhost:5173` allows `http://127.0.0.1:5173` too
/// (same scheme and port).
fn normalize(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, rest)) = origin.split_once("://") else {
        return origin;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host = if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        "localhost"
    } else {
        host
    };
    match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// Whether a handshake's Origin may connect. No Origin (a tool, not a
/// browser) is allowed; `null` never is, unless `*` is configured.
pub(crate) fn origin_allowed(origin: Option<&str>, options: &ListenOptions, port: u16) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if options.allowed_origins.iter().any(|allowed| allowed == "*") {
        return true;
    }
    if origin == "null" {
        return false;
    }
    let origin = normalize(origin);
    own_origins(port).any(|own| normalize(&own) == origin)
        || options
            .allowed_origins
            .iter()
            .any(|allowed| normalize(allowed) == origin)
}

/// Why a request's token does not open the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    /// No token, or the wrong one: 401 (answered late, see
    /// [`throttle`](crate::throttle)).
    Wrong,
    /// More than one token (two `token` parameters, two `Authorization`
    /// headers, or a parameter and a header that disagree): 400. One
    /// request is one guess.
    Ambiguous,
}

/// The request's one token (query `token=` or `Authorization: Bearer`, the
/// scheme in any case), and the path and query without it.
fn given_token<B>(request: &Request<B>) -> Result<(Option<Vec<u8>>, String), TokenRefusal> {
    let mut headers = request.headers().get_all(header::AUTHORIZATION).iter();
    let bearer = match (headers.next(), headers.next()) {
        (None, _) => None,
        (Some(value), None) => {
            let value = value.as_bytes();
            let split = value.iter().position(u8::is_ascii_whitespace);
            match split.map(|at| value.split_at(at)) {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer") => {
                    Some(rest.trim_ascii().to_vec())
                }
                // Another scheme carries no token of ours.
                _ => None,
            }
        }
        (Some(_), Some(_)) => return Err(TokenRefusal::Ambiguous),
    };
    let mut from_query: Option<Vec<u8>> = None;
    for pair in request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "token" {
            if from_query.is_some() {
                return Err(TokenRefusal::Ambiguous);
            }
            from_query = Some(percent_encoding::percent_decode_str(value).collect());
        }
    }
    let token = match (bearer, from_query) {
        (Some(bearer), Some(query)) if bearer != query => return Err(TokenRefusal::Ambiguous),
        (bearer, query) => bearer.or(query),
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    Ok((token, without_token(path)))
}

/// A path and query with every `token` parameter taken out: what a
/// recording keeps of a channel's path (an outbound link's URL may carry
/// one).
pub(crate) fn without_token(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            !pair.is_empty() && pair.split_once('=').map_or(*pair, |(name, _)| name) != "token"
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// SHA-256 of a token: tokens are compared as digests of one length, so the
/// comparison's time says nothing of the expected token's length.
pub(crate) fn token_digest(token: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A token a port accepts, kept as its digest, and the role it grants.
#[derive(Clone)]
pub(crate) struct Grant {
    digest: [u8; 32],
    role: Arc<str>,
}

impl Grant {
    /// A port's grants: its single token (role `default`) and its
    /// `tokens`; `None` when it has neither (no token needed).
    pub(crate) fn all(options: &crate::ListenOptions) -> Option<Vec<Grant>> {
        let single = options
            .token
            .iter()
            .map(|token| (token.as_str(), crate::options::DEFAULT_ROLE));
        let grants: Vec<Grant> = single
            .chain(
                options
                    .tokens
                    .iter()
                    .map(|grant| (grant.token.as_str(), grant.role.as_str())),
            )
            .map(|(token, role)| Grant {
                digest: token_digest(token.as_bytes()),
                role: Arc::from(role),
            })
            .collect();
        (!grants.is_empty()).then_some(grants)
    }
}

/// Checks the request's one token against every grant's digest, in
/// constant time (every grant is compared, whichever matches). On success
/// returns the path and query without the token, and the grant's role.
pub(crate) fn check_token<B>(
    request: &Request<B>,
    grants: &[Grant],
) -> Result<(String, Arc<str>), TokenRefusal> {
    let (given, path) = given_token(request)?;
    let given = token_digest(&given.ok_or(TokenRefusal::Wrong)?);
    let mut found = None;
    for grant in grants {
        if bool::from(given.ct_eq(&grant.digest)) {
            found = Some(Arc::clone(&grant.role));
        }
    }
    found.map(|role| (path, role)).ok_or(TokenRefusal::Wrong)
}

/// Whether this is a WebSocket upgrade request (by its headers).
pub(crate) fn is_websocket_upgrade<B>(request: &Request<B>) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        request.headers().get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

/// The Sec-WebSocket-Key of a valid version 13 GET upgrade, else `None`
/// (the client gets 400).
pub(crate) fn websocket_key<B>(request: &Request<B>) -> Option<&HeaderValue> {
    let version_ok = request
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|version| version.as_bytes() == b"13");
    (request.method() == hyper::Method::GET && version_ok)
        .then(|| request.headers().get(header::SEC_WEBSOCKET_KEY))
        .flatten()
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_must_be_a_loopback_name_with_the_port() {
        let ok = |host: &str| {
            host_allowed(
                Some(&HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static(""))),
                9001,
            )
        };
        assert!(ok("127.0.0.1:9001"));
        assert!(ok("localhost:9001"));
        assert!(ok("LOCALHOST:9001"));
        assert!(ok("[::1]:9001"));
        assert!(!ok("127.0.0.1:9002"));
        assert!(!ok("127.0.0.1"));
        assert!(!ok("evil.example:9001"));
        assert!(!ok("localhost.evil.example:9001"));
        assert!(!host_allowed(None, 9001));
    }

    #[test]
    fn origins_default_to_the_port_itself() {
        let options = ListenOptions::default();
        assert!(origin_allowed(None, &options, 9001));
        assert!(origin_allowed(
            Some("http://127.0.0.1:9001"),
            &options,
            9001
        ));
        assert!(origin_allowed(
            Some("http://localhost:9001"),
            &options,
            9001
        ));
        assert!(!origin_allowed(
            Some("http://localhost:9002"),
            &options,
            9001
        ));
        assert!(!origin_allowed(
            Some("https://evil.example"),
            &options,
            9001
        ));
        assert!(!origin_allowed(Some("null"), &options, 9001));
        let mut options = ListenOptions::default();
        options
            .allowed_origins
            .push("http://localhost:5173/".into());
        for alike in [
            "http://localhost:5173",
            "http://127.0.0.1:5173",
            "http://[::1]:5173",
            "HTTP://LOCALHOST:5173",
        ] {
            assert!(origin_allowed(Some(alike), &options, 9001), "{alike}");
        }
        for other in [
            "https://localhost:5173",
            "http://localhost:5174",
            "http://localhost",
            "http://evil.example:5173",
        ] {
            assert!(!origin_allowed(Some(other), &options, 9001), "{other}");
        }
        options.allowed_origins = vec!["https://tools.example".into()];
        assert!(origin_allowed(
            Some("https://tools.example"),
            &options,
            9001
        ));
        assert!(!origin_allowed(
            Some("https://tools.example.evil"),
            &options,
            9001
        ));
    }

    #[test]
    fn token_from_query_or_bearer_and_removed_from_path() {
        let request = |uri: &str, authorization: &[&str]| {
            let mut builder = Request::builder().uri(uri);
            for value in authorization {
                builder = builder.header("authorization", *value);
            }
            builder.body(()).unwrap_or_default()
        };
        let options = ListenOptions {
            token: Some("s3cret".to_owned()),
            ..ListenOptions::default()
        };
        let grants = Grant::all(&options).unwrap_or_default();
        let check = |uri: &str, authorization: &[&str]| {
            check_token(&request(uri, authorization), &grants).map(|(path, _)| path)
        };
        assert_eq!(
            check("/ws?token=s3cret&room=1", &[]),
            Ok("/ws?room=1".to_owned())
        );
        assert_eq!(check("/ws?token=s3%63ret", &[]), Ok("/ws".to_owned()));
        assert_eq!(check("/ws", &["Bearer s3cret"]), Ok("/ws".to_owned()));
        assert_eq!(check("/ws", &["bearer s3cret"]), Ok("/ws".to_owned()));
        assert_eq!(check("/ws", &["BEARER  s3cret "]), Ok("/ws".to_owned()));
        // A parameter and a header that agree are one token.
        assert_eq!(
            check("/ws?token=s3cret", &["Bearer s3cret"]),
            Ok("/ws".to_owned())
        );
        assert_eq!(check("/ws?token=wrong", &[]), Err(TokenRefusal::Wrong));
        assert_eq!(check("/ws", &[]), Err(TokenRefusal::Wrong));
        assert_eq!(check("/ws", &["Basic czNjcmV0"]), Err(TokenRefusal::Wrong));
        assert_eq!(check("/ws?token=s3cre", &[]), Err(TokenRefusal::Wrong));
        assert_eq!(check("/ws?token=s3cretX", &[]), Err(TokenRefusal::Wrong));
        // One request, one guess.
        assert_eq!(
            check("/ws?token=a&token=s3cret", &[]),
            Err(TokenRefusal::Ambiguous)
        );
        assert_eq!(
            check("/ws?token=s3cret&token", &[]),
            Err(TokenRefusal::Ambiguous)
        );
        assert_eq!(
            check("/ws?token=a", &["Bearer s3cret"]),
            Err(TokenRefusal::Ambiguous)
        );
        assert_eq!(
            check("/ws", &["Bearer a", "Bearer s3cret"]),
            Err(TokenRefusal::Ambiguous)
        );
    }

    #[test]
    fn a_recorded_path_keeps_everything_but_the_token() {
        assert_eq!(without_token("/ws"), "/ws");
        assert_eq!(without_token("/ws?token=s3cret"), "/ws");
        assert_eq!(without_token("/ws?a=1&token=s3cret&b=2"), "/ws?a=1&b=2");
        assert_eq!(without_token("/ws?token&tokens=x"), "/ws?tokens=x");
        assert_eq!(without_token("/ws?"), "/ws");
    }
}
