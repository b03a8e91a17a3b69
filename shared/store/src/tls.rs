//! TLS to the database: rustls (ring), verifying the server against the public roots plus
//! an optional CA bundle (e.g. the RDS one). Whether TLS is used is the `sslmode`'s call.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{pem::PemObject, CertificateDer};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::ConfigError;

/// The connector every connection of a store uses.
pub(crate) fn connector(ca_bundle: Option<&Path>) -> Result<MakeRustlsConnect, ConfigError> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_bundle {
        let bundle_error = |reason: String| ConfigError::CaBundle {
            path: path.display().to_string(),
            reason,
        };
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| bundle_error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bundle_error(e.to_string()))?;
        let (added, _) = roots.add_parsable_certificates(certificates);
        if added == 0 {
            return Err(bundle_error("no usable certificate in it".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_the_public_roots() {
        assert!(connector(None).is_ok());
    }

    #[test]
    fn a_missing_or_empty_bundle_is_an_error() {
        let error = connector(Some(Path::new("/nonexistent/ca.pem"))).err().unwrap();
        assert!(error
            .to_string()
            .starts_with("cannot use the CA bundle /nonexistent/ca.pem"));
        let empty = std::env::temp_dir().join(format!("cruddur-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(connector(Some(&empty)).is_err());
        let _ = std::fs::remove_file(empty);
    }
}
