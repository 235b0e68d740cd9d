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

/// The system's trust store, read once per host (at the first wss:// link
/// that needs it) and shared by every link after.
#[derive(Debug, Clone, Default)]
pub(crate) struct SystemRoots(Arc<std::sync::OnceLock<Arc<Vec<CertificateDer<'static>>>>>);

impl SystemRoots {
    fn certificates(&self) -> Arc<Vec<CertificateDer<'static>>> {
        Arc::clone(self.0.get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!(%error, "a system certificate could not be read");
            }
            Arc::new(found.certs)
        }))
    }
}

/// A TLS client for outbound wss://: trusting the CAs in `ca_file` (PEM),
/// or the system's trust store.
pub(crate) fn connector(
    ca_file: Option<&std::path::Path>,
    system: &SystemRoots,
) -> Result<tokio_rustls::TlsConnector, crate::types::ConnectError> {
    use crate::types::{ConnectError, ConnectErrorKind};
    let invalid = |message: String| ConnectError::new(ConnectErrorKind::InvalidRequest, message);
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|error| invalid(format!("CA file {}: {error}", path.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| invalid(format!("CA file {}: {error}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(format!(
                    "CA file {}: no usable certificate",
                    path.display()
                )));
            }
        }
        None => {
            let certificates = system.certificates();
            let (added, _) = roots.add_parsable_certificates(certificates.iter().cloned());
            if added == 0 {
                return Err(invalid(
                    "the system's trust store has no certificate: give a CA file".to_owned(),
                ));
            }
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(format!("TLS protocol versions: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The name a server's certificate must carry: a DNS name or an IP address.
pub(crate) fn server_name(
    host: &str,
) -> Result<tokio_rustls::rustls::pki_types::ServerName<'static>, crate::types::ConnectError> {
    tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|error| {
        crate::types::ConnectError::new(
            crate::types::ConnectErrorKind::InvalidRequest,
            format!("{host} is not a valid TLS server name: {error}"),
        )
    })
}
