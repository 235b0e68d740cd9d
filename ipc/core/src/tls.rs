//! TLS (wss://) with rustls.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::options::TlsFiles;
use crate::types::{ListenError, ListenErrorKind};

/// Loads the certificate chain and key and builds an acceptor.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ListenError> {
    fn tls_error(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> ListenError {
        ListenError::with_source(ListenErrorKind::Tls, format!("{what}: {error}"), error)
    }
    let certs = CertificateDer::pem_file_iter(&files.cert_path)
        .map_err(|error| tls_error(&format!("certificate {}", files.cert_path.display()), error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| tls_error(&format!("certificate {}", files.cert_path.display()), error))?;
    if certs.is_empty() {
        return Err(ListenError::new(
            ListenErrorKind::Tls,
            format!(
                "certificate {}: no certificate in the file",
                files.cert_path.display()
            ),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_path)
        .map_err(|error| tls_error(&format!("key {}", files.key_path.display()), error))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error("protocol versions", error))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| tls_error("certificate and key", error))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
