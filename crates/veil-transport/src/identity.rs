//! A party's TLS identity: its certificate, its private key and the CA roots it trusts.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use zeroize::Zeroize;

use crate::pki::{self, CA_CERT_FILE};
use crate::TransportError;

/// This party's certificate chain, private key and trusted CA roots, ready for TLS.
///
/// The private key is parsed once, handed to the TLS configurations (client and server side)
/// and the loaded copy is zeroised; it never appears in `Debug` output. Cloning is cheap (the
/// configurations are shared).
#[derive(Clone)]
pub struct Identity {
    name: String,
    chain: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) server: Arc<ServerConfig>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("chain_len", &self.chain.len())
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

/// The cryptography of every veil TLS link: rustls with the `ring` provider, TLS 1.3 suites
/// only, AES-128-GCM preferred (128-bit security, as everywhere in veil, and the fastest with
/// AES-NI), then AES-256-GCM and ChaCha20-Poly1305.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites =
        vec![cipher_suite::TLS13_AES_128_GCM_SHA256, cipher_suite::TLS13_AES_256_GCM_SHA384, cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    Arc::new(provider)
}

impl Identity {
    /// Reads `dir/ca.pem` (the trusted roots), `dir/<party>.pem` (this party's certificate
    /// chain, leaf first) and `dir/<party>.key` (its private key, which must be readable by its
    /// owner only), and checks that the certificate is issued for `party`.
    pub fn load(dir: &Path, party: &str) -> Result<Identity, TransportError> {
        pki::validate_party_name(party)?;
        let ca_file = dir.join(CA_CERT_FILE);
        let roots_der = read_certs(&ca_file)?;
        let mut roots = RootCertStore::empty();
        for root in roots_der {
            roots
                .add(root)
                .map_err(|e| TransportError::Pem { path: ca_file.clone(), reason: format!("not a usable CA certificate: {e}") })?;
        }

        let cert_file = pki::cert_path(dir, party);
        let chain = read_certs(&cert_file)?;
        let names = pki::dns_names(&chain[0]).map_err(|reason| TransportError::Pem { path: cert_file.clone(), reason })?;
        if !names.iter().any(|n| n == party) {
            return Err(TransportError::CertificateName { path: cert_file, expected: party.to_string(), found: names.join(", ") });
        }

        let key_file = pki::key_path(dir, party);
        let key_pem = pki::read_private_key_file(&key_file)?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|e| TransportError::Pem { path: key_file.clone(), reason: e.to_string() })?
            .ok_or_else(|| TransportError::Pem { path: key_file.clone(), reason: "no PRIVATE KEY block found".to_string() })?;
        let key = SecretKey(key);
        Self::from_parts(party, chain, Arc::new(roots), &key)
    }

    fn from_parts(
        name: &str,
        chain: Vec<CertificateDer<'static>>,
        roots: Arc<RootCertStore>,
        key: &SecretKey,
    ) -> Result<Identity, TransportError> {
        let tls_err = |e: &dyn std::fmt::Display| TransportError::TlsConfig { party: name.to_string(), reason: e.to_string() };
        let provider = provider();
        let versions = [&rustls::version::TLS13];

        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| tls_err(&e))?
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(chain.clone(), key.0.clone_key())
            .map_err(|e| tls_err(&e))?;
        client.resumption = rustls::client::Resumption::disabled();

        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build().map_err(|e| tls_err(&e))?;
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| tls_err(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.0.clone_key())
            .map_err(|e| tls_err(&e))?;
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});

        Ok(Identity { name: name.to_string(), chain, roots, client: Arc::new(client), server: Arc::new(server) })
    }

    /// The party name this identity's certificate is issued for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This party's certificate chain, leaf first.
    pub fn certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

/// A private key that is zeroised when dropped.
struct SecretKey(PrivateKeyDer<'static>);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let pem = pki::read_file(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Pem { path: path.to_path_buf(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TransportError::Pem { path: path.to_path_buf(), reason: "no CERTIFICATE block found".to_string() });
    }
    Ok(certs)
}
