//! TLS to PostgreSQL through rustls (pure Rust, no system OpenSSL to install), with libpq's `sslmode`s:
//! `disable`; `prefer` (the default) and `require`, encrypted without checking the server's certificate,
//! as libpq does without a root certificate; `verify-ca`, the certificate signed by a trusted root; and
//! `verify-full`, also issued for the host named in the URL. The roots come from `sslrootcert=FILE` (PEM),
//! else `~/.postgresql/root.crt` as libpq reads it; `sslrootcert=system` takes the system's store.
//! tokio-postgres knows only disable, prefer and require: the URL it parses has the verifying modes
//! and `sslrootcert` taken out, and the connector does the checking.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::SslMode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where the trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// `sslrootcert=FILE`, or `~/.postgresql/root.crt`.
    File(PathBuf),
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    pub mode: Mode,
    pub roots: Roots,
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query: the URL for tokio-postgres, and the TLS
/// settings. An unknown `sslmode` is refused with the modes there are.
pub fn split(url: &str) -> Result<(String, Tls), String> {
    let mut tls = Tls { mode: Mode::Prefer, roots: Roots::File(default_root()) };
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), tls)) };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            "sslmode" => {
                tls.mode = match value.as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not a mode: disable, prefer, require, verify-ca or verify-full"
                        ));
                    }
                };
            }
            "sslrootcert" if value == "system" => tls.roots = Roots::System,
            "sslrootcert" => tls.roots = Roots::File(PathBuf::from(value)),
            _ => kept.push(pair),
        }
    }
    kept.push(match tls.mode {
        Mode::Disable => "sslmode=disable",
        Mode::Prefer => "sslmode=prefer",
        _ => "sslmode=require",
    });
    Ok((format!("{base}?{}", kept.join("&")), tls))
}

fn default_root() -> PathBuf {
    dirs::home_dir().unwrap_or_default().join(".postgresql/root.crt")
}

impl Tls {
    /// tokio-postgres's own mode for these settings.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        }
    }

    /// The connector: checking what the mode asks for, against the roots it names.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            Mode::Disable | Mode::Prefer | Mode::Require => Arc::new(Relaxed { provider, chain: None }),
            Mode::VerifyCa | Mode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
                if self.mode == Mode::VerifyCa { Arc::new(Relaxed { provider, chain: Some(webpki) }) } else { webpki }
            }
        };
        let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
            }
            Roots::File(path) => {
                let shown = crate::domain::text::sanitize(&path.display().to_string()).into_owned();
                if !path.exists() {
                    return Err(format!(
                        "sslmode={} needs a root certificate: {shown} does not exist (name one with \
                         sslrootcert=FILE, or sslrootcert=system for the system's)",
                        if self.mode == Mode::VerifyCa { "verify-ca" } else { "verify-full" }
                    ));
                }
                let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("{shown}: {e}"))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{shown}: not a PEM certificate file ({e})"))?;
                store.add_parsable_certificates(certs);
            }
        }
        if store.is_empty() {
            return Err("no trusted root certificate was found for sslmode=verify-ca/verify-full".into());
        }
        Ok(store)
    }
}

/// The checking `prefer`, `require` and `verify-ca` ask for: the handshake's signatures always; the
/// certificate not at all (`chain: None`), or its chain to a trusted root whatever host name it was
/// issued for (verify-full needs none of this: rustls's own verifier checks the name as well).
#[derive(Debug)]
struct Relaxed {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifying_modes_and_the_root_file_are_taken_out_of_the_url() {
        let (url, tls) = split(
            "postgres://ann@db.example.com/kitting?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(url, "postgres://ann@db.example.com/kitting?connect_timeout=5&sslmode=require");
        assert_eq!(tls, Tls { mode: Mode::VerifyFull, roots: Roots::File("/etc/ca.pem".into()) });
        let (_, tls) = split("postgres://ann@h/k?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!((tls.mode, tls.roots), (Mode::VerifyCa, Roots::System));
        let (url, tls) = split("postgres://ann@h/k").unwrap();
        assert_eq!((url.as_str(), tls.mode), ("postgres://ann@h/k", Mode::Prefer));
        let e = split("postgres://ann@h/k?sslmode=strict").unwrap_err();
        assert!(e.contains("sslmode=strict") && e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_verifying_mode_without_its_root_file_says_where_it_looked() {
        let tls = Tls { mode: Mode::VerifyFull, roots: Roots::File("/nonexistent/root.crt".into()) };
        let e = tls.connector().err().unwrap();
        assert!(e.contains("/nonexistent/root.crt does not exist") && e.contains("sslrootcert"), "{e}");
        assert!(Tls { mode: Mode::Require, ..tls }.connector().is_ok());
    }
}
