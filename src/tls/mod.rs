//! TLS for the client and peer URLs, as etcd's `transport.TLSInfo` sets it up, with
//! rustls and its `ring` provider.
//!
//! - [`client_acceptor`]: the server side of the `https://` client URLs (gRPC and HTTP on
//!   one port, see [`crate::api`]): `--cert-file`/`--key-file` or `--auto-tls`,
//!   `--client-cert-auth` against `--trusted-ca-file`, `--client-crl-file`,
//!   `--client-cert-allowed-hostname`.
//! - [`peer_tls`]: both sides of the `https://` peer URLs (see [`crate::transport`]): the
//!   same with the `--peer-*` flags, plus `--peer-cert-allowed-cn`. As in etcd, the CN
//!   and host name checks apply to the other side's certificate whichever side it is: a
//!   member refuses a peer that dials it with a certificate of another CN, and refuses to
//!   talk to a peer whose server certificate has another CN.
//! - [`cipher_provider`]: `--cipher-suites` by Go's names. Go applies the list to TLS 1.2
//!   only (TLS 1.3's suites are fixed); so does this.
//! - `--auto-tls` / `--peer-auto-tls`: a self-signed certificate made at start-up under
//!   `<data-dir>/fixtures/client` (or `peer`) and kept for later starts, as etcd's
//!   `SelfCert` does; a member dialing peers with `--peer-auto-tls` does not verify their
//!   certificates (etcd sets `InsecureSkipVerify` for self-signed peers).
//!
//! A scheme decides, per URL: TLS on `https://` URLs only; certificates given with only
//! `http://` URLs are unused (etcd warns and ignores them too).

pub mod der;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use crate::config::{MemberConfig, TlsSettings};

/// Why TLS could not be set up; the text says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// The protocols the client port offers in ALPN, in the order it prefers them. HTTP/1.1
/// first: a client that offers both (curl, browsers, Go's HTTP client) then speaks
/// HTTP/1.1, which the port relays to the JSON gateway and `/health`; gRPC clients offer
/// only `h2`. (The port's HTTP/2 server is tonic's, which serves gRPC only.)
const CLIENT_PORT_ALPN: &[&[u8]] = &[b"http/1.1", b"h2"];

/// How long an auto-TLS certificate is valid: a year, as etcd 3.4's.
const SELF_CERT_VALIDITY_SECS: i64 = 365 * 24 * 60 * 60;

/// The CA bundle used to verify peers' certificates when no --peer-trusted-ca-file is
/// given (Debian's; Go uses the system's roots likewise).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// etcd's `tlsutil` cipher suite names (Go's `crypto/tls` constants). Each maps to a
/// rustls suite, or to `None` when rustls does not implement it (CBC, RC4, 3DES and
/// RSA-key-exchange suites, which rustls leaves out as unsafe).
fn cipher_suite(name: &str) -> Option<Option<rustls::SupportedCipherSuite>> {
    use rustls::crypto::ring::cipher_suite as s;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            Some(s::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            Some(s::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            Some(s::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => Some(s::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => Some(s::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            Some(s::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        "TLS_RSA_WITH_RC4_128_SHA"
        | "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_CBC_SHA256"
        | "TLS_RSA_WITH_AES_128_GCM_SHA256"
        | "TLS_RSA_WITH_AES_256_GCM_SHA384"
        | "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_RC4_128_SHA"
        | "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" => None,
        _ => return None,
    })
}

/// The crypto provider of `--cipher-suites` (rustls's defaults when empty), and a warning
/// for each named suite etcd knows but rustls does not implement. An unknown name is
/// refused with etcd's error; so is a list of which rustls implements none.
pub fn cipher_provider(names: &[String]) -> Result<(Arc<CryptoProvider>, Vec<String>), TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    let mut warnings = Vec::new();
    if names.is_empty() {
        return Ok((Arc::new(provider), warnings));
    }
    let mut tls12 = Vec::new();
    for name in names {
        match cipher_suite(name) {
            None => {
                return Err(TlsError(format!(
                    "unexpected TLS cipher suite {}",
                    crate::config::quote(name)
                )));
            }
            Some(None) => warnings.push(format!(
                "etcd-rs: --cipher-suites: {name} is not implemented (rustls leaves it out as unsafe); it is not offered"
            )),
            Some(Some(suite)) => {
                if !tls12.contains(&suite) {
                    tls12.push(suite);
                }
            }
        }
    }
    if tls12.is_empty() {
        return Err(TlsError(format!(
            "--cipher-suites {}: etcd-rs implements none of these TLS 1.2 suites; name at least one ECDHE GCM or CHACHA20 suite",
            names.join(",")
        )));
    }
    // TLS 1.3's suites stay, as in Go, where the list only restricts TLS 1.2.
    let tls13 = provider
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)));
    provider.cipher_suites = tls13.chain(tls12).collect();
    Ok((Arc::new(provider), warnings))
}

/// Which side's flags an error names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Peer,
}

impl Side {
    fn flag(self, name: &str) -> String {
        match self {
            Side::Client => format!("--{name}"),
            Side::Peer => format!("--peer-{name}"),
        }
    }

    fn fixtures(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// A certificate and key to present, and whether they are self-signed (auto TLS).
struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    self_signed: bool,
}

/// The certificate of one side: the files given, or the auto-TLS one (made if needed);
/// `None` if neither is set.
fn identity(
    settings: &TlsSettings,
    side: Side,
    data_dir: &Path,
    hosts: &[String],
) -> Result<Option<Identity>, TlsError> {
    let (cert_file, key_file, self_signed) = if !settings.is_empty() {
        if settings.cert_file.is_empty() || settings.key_file.is_empty() {
            return Err(TlsError(format!(
                "TLS key/cert ({}, {}) must both be provided",
                side.flag("cert-file"),
                side.flag("key-file")
            )));
        }
        (
            PathBuf::from(&settings.cert_file),
            PathBuf::from(&settings.key_file),
            false,
        )
    } else if settings.auto_tls {
        let dir = data_dir.join("fixtures").join(side.fixtures());
        let (cert, key) = self_cert(&dir, hosts)?;
        (cert, key, true)
    } else {
        return Ok(None);
    };
    let certs = read_certs(&cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| TlsError(format!("reading the key {}: {e}", key_file.display())))?;
    Ok(Some(Identity {
        certs,
        key,
        self_signed,
    }))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |e: rustls::pki_types::pem::Error| {
        TlsError(format!("reading certificates from {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(bad)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "no certificate (PEM) in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| {
            TlsError(format!(
                "a CA certificate of {} is not usable: {e}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// A CRL file, PEM or DER (Go's `x509.ParseCRL` takes both).
fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = std::fs::read(path)
        .map_err(|e| TlsError(format!("reading the CRL {}: {e}", path.display())))?;
    let pem: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("reading the CRL {}: {e}", path.display())))?;
    Ok(if pem.is_empty() {
        vec![CertificateRevocationListDer::from(bytes)]
    } else {
        pem
    })
}

/// etcd's `transport.SelfCert`: `cert.pem` and `key.pem` in `dir`, kept if both exist;
/// otherwise a new ECDSA P-256 key and a self-signed certificate for `hosts` (IP
/// addresses or DNS names, ports dropped).
fn self_cert(dir: &Path, hosts: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        TlsError(format!(
            "cannot make the self-signed certificate in {}: {what}: {e}",
            dir.display()
        ))
    };
    let mut names: Vec<String> = hosts.iter().map(|h| host_of(h).to_string()).collect();
    names.sort();
    names.dedup();
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| failed("names", &e))?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::OrganizationName, "etcd");
    params.distinguished_name = subject;
    // Valid for a year from now, as etcd 3.4's SelfCert makes it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let date = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| failed("validity", &e))
    };
    params.not_before = date(now)?;
    params.not_after = date(now + SELF_CERT_VALIDITY_SECS)?;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| failed("key", &e))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| failed("signing", &e))?;
    std::fs::create_dir_all(dir).map_err(|e| failed("creating the directory", &e))?;
    write_private(&key_path, key.serialize_pem().as_bytes()).map_err(|e| failed("key.pem", &e))?;
    std::fs::write(&cert_path, cert.pem()).map_err(|e| failed("cert.pem", &e))?;
    Ok((cert_path, key_path))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// The host of `scheme://host:port[/...]` or `host:port`, without IPv6 brackets.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or(rest);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or(bracketed);
    }
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
}

/// The checks etcd makes of the other side's certificate after its chain is verified
/// (`TLSInfo.AllowedCN`, `TLSInfo.AllowedHostname`).
#[derive(Clone, Debug, Default)]
struct NameCheck {
    allowed_cn: String,
    allowed_hostname: String,
}

impl NameCheck {
    fn new(settings: &TlsSettings) -> Result<Option<NameCheck>, TlsError> {
        let (cn, hostname) = (&settings.allowed_cn, &settings.allowed_hostname);
        if !cn.is_empty() && !hostname.is_empty() {
            return Err(TlsError(format!(
                "AllowedCN and AllowedHostname are mutually exclusive (cn={}, hostname={})",
                crate::config::quote(cn),
                crate::config::quote(hostname)
            )));
        }
        Ok((!cn.is_empty() || !hostname.is_empty()).then(|| NameCheck {
            allowed_cn: cn.clone(),
            allowed_hostname: hostname.clone(),
        }))
    }

    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let accepted = if self.allowed_cn.is_empty() {
            let name = ServerName::try_from(self.allowed_hostname.as_str());
            let cert = rustls::server::ParsedCertificate::try_from(end_entity);
            match (name, cert) {
                (Ok(name), Ok(cert)) => rustls::client::verify_server_name(&cert, &name).is_ok(),
                _ => false,
            }
        } else {
            der::subject_common_name(end_entity).as_deref() == Some(self.allowed_cn.as_str())
        };
        if accepted {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

/// A client certificate verifier followed by the [`NameCheck`].
#[derive(Debug)]
struct CheckedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    names: NameCheck,
}

impl ClientCertVerifier for CheckedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.names.check(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A server certificate verifier: the chain against the roots (or, for self-signed
/// peers, nothing: etcd's `InsecureSkipVerify`), then the [`NameCheck`]. Handshake
/// signatures are always checked.
#[derive(Debug)]
struct CheckedServerVerifier {
    /// `None`: any chain is accepted (auto TLS).
    inner: Option<Arc<dyn ServerCertVerifier>>,
    names: Option<NameCheck>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CheckedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(inner) = &self.inner {
            inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(names) = &self.names {
            names.check(end_entity)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server side of one side's `https://` URLs.
fn server_config(
    settings: &TlsSettings,
    side: Side,
    identity: Identity,
    provider: &Arc<CryptoProvider>,
) -> Result<rustls::ServerConfig, TlsError> {
    let bad = |e: rustls::Error| TlsError(format!("TLS setup: {e}"));
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(bad)?;
    let builder = if settings.client_cert_auth {
        if settings.trusted_ca_file.is_empty() {
            return Err(TlsError(format!(
                "{} needs {} (the CA that signs the client certificates)",
                side.flag("client-cert-auth"),
                side.flag("trusted-ca-file")
            )));
        }
        let roots = Arc::new(read_roots(Path::new(&settings.trusted_ca_file))?);
        let mut verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        if !settings.crl_file.is_empty() {
            // etcd checks the certificate's serial against the CRL's, whoever issued it.
            verifier = verifier
                .with_crls(read_crls(Path::new(&settings.crl_file))?)
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status();
        }
        let verifier = verifier
            .build()
            .map_err(|e| TlsError(format!("TLS setup: {e}")))?;
        let verifier: Arc<dyn ClientCertVerifier> = match NameCheck::new(settings)? {
            Some(names) => Arc::new(CheckedClientVerifier {
                inner: verifier,
                names,
            }),
            None => verifier,
        };
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder
        .with_single_cert(identity.certs, identity.key)
        .map_err(|e| {
            TlsError(format!(
                "the certificate and key of {} do not go together: {e}",
                side.flag("cert-file")
            ))
        })
}

/// The TLS of the client port's `https://` URLs, or `None` if it has none. Refuses
/// https URLs without a certificate, as etcd does.
pub fn client_acceptor(
    config: &MemberConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<tokio_rustls::TlsAcceptor>, TlsError> {
    let alpn = CLIENT_PORT_ALPN.iter().map(|p| p.to_vec()).collect();
    client_settings_acceptor(config, &config.listen_client_urls, "client", alpn, provider)
}

/// The TLS of the `https://` metrics URLs, or `None` if there are none: the client
/// port's certificate and client certificate checks, as etcd serves its metrics URLs
/// with the client TLS settings. HTTP/1.1 only (the metrics server's).
pub fn metrics_acceptor(
    config: &MemberConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<tokio_rustls::TlsAcceptor>, TlsError> {
    let alpn = vec![b"http/1.1".to_vec()];
    client_settings_acceptor(
        config,
        &config.listen_metrics_urls,
        "metrics",
        alpn,
        provider,
    )
}

/// A server TLS with the client TLS settings for the `https://` URLs among `urls` (of
/// `kind`, for the error), offering `alpn`; `None` if none of them is `https://`.
fn client_settings_acceptor(
    config: &MemberConfig,
    urls: &[String],
    kind: &str,
    alpn: Vec<Vec<u8>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<tokio_rustls::TlsAcceptor>, TlsError> {
    let Some(https) = urls.iter().find(|u| u.starts_with("https://")) else {
        return Ok(None);
    };
    let settings = &config.client_tls;
    let Some(identity) = identity(
        settings,
        Side::Client,
        &config.data_dir,
        &config.listen_client_urls,
    )?
    else {
        return Err(TlsError(format!(
            "TLS key/cert (--cert-file, --key-file) must be provided for {kind} url {https} with HTTPS scheme"
        )));
    };
    let mut server = server_config(settings, Side::Client, identity, provider)?;
    server.alpn_protocols = alpn;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))))
}

/// The server side of the `https://` peer URLs.
#[derive(Clone)]
pub struct PeerAcceptor {
    /// The TLS of each connection.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Whether a verified client certificate's SANs must match the address it connects
    /// from ([`check_client_san`]); false with
    /// `--experimental-peer-skip-client-san-verification`.
    pub check_client_san: bool,
}

/// Both sides of the peer URLs' TLS.
#[derive(Clone)]
pub struct PeerTls {
    /// Serves the `https://` --listen-peer-urls (`None` if there are none).
    pub acceptor: Option<PeerAcceptor>,
    /// Dials `https://` peer URLs.
    pub connector: tokio_rustls::TlsConnector,
}

/// The TLS of the peer URLs, or `None` if neither a peer URL of this member nor of its
/// initial cluster is `https://` and no peer certificate is given.
pub fn peer_tls(
    config: &MemberConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<PeerTls>, TlsError> {
    let settings = &config.peer_tls;
    let https_listen = config
        .listen_peer_urls
        .iter()
        .find(|u| u.starts_with("https://"));
    let https_anywhere = https_listen.is_some()
        || config
            .initial_advertise_peer_urls
            .iter()
            .any(|u| u.starts_with("https://"))
        || config.initial_cluster.contains("https://");
    if !https_anywhere && settings.is_empty() && !settings.auto_tls {
        return Ok(None);
    }
    let mine = identity(
        settings,
        Side::Peer,
        &config.data_dir,
        &config.listen_peer_urls,
    )?;
    let names = NameCheck::new(settings)?;

    let connector = dialer(settings, Side::Peer, mine.as_ref(), names, provider)?;
    let acceptor = match (https_listen, mine) {
        (None, _) => None,
        (Some(url), None) => {
            return Err(TlsError(format!(
                "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url {url} with HTTPS scheme"
            )));
        }
        (Some(_), Some(identity)) => {
            let server = server_config(settings, Side::Peer, identity, provider)?;
            Some(PeerAcceptor {
                acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
                check_client_san: !settings.skip_client_san_verification,
            })
        }
    };
    Ok(Some(PeerTls {
        acceptor,
        connector: tokio_rustls::TlsConnector::from(Arc::new(connector)),
    }))
}

/// How one side dials the other members' URLs of that side: it verifies their
/// certificates against the side's trusted CA file (the system's roots without it), or
/// not at all when its own certificate is self-signed (etcd sets `InsecureSkipVerify`
/// with auto TLS); checks `names`; and presents its own certificate, if any, as the
/// client certificate.
fn dialer(
    settings: &TlsSettings,
    side: Side,
    mine: Option<&Identity>,
    names: Option<NameCheck>,
    provider: &Arc<CryptoProvider>,
) -> Result<rustls::ClientConfig, TlsError> {
    let setup = |e: &dyn std::fmt::Display| TlsError(format!("{} TLS setup: {e}", side.fixtures()));
    let inner: Option<Arc<dyn ServerCertVerifier>> = if mine.is_some_and(|i| i.self_signed) {
        None
    } else {
        let roots = if settings.trusted_ca_file.is_empty() {
            let mut roots = RootCertStore::empty();
            if let Ok(certs) = CertificateDer::pem_file_iter(SYSTEM_CA_BUNDLE) {
                roots.add_parsable_certificates(certs.flatten());
            }
            roots
        } else {
            read_roots(Path::new(&settings.trusted_ca_file))?
        };
        if roots.is_empty() {
            return Err(TlsError(format!(
                "{} TLS: no CA to verify other members with: give {}",
                side.fixtures(),
                side.flag("trusted-ca-file")
            )));
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| setup(&e))?;
        Some(verifier)
    };
    let verifier = Arc::new(CheckedServerVerifier {
        inner,
        names,
        provider: provider.clone(),
    });
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match mine {
        Some(identity) => client
            .with_client_auth_cert(identity.certs.clone(), identity.key.clone_key())
            .map_err(|e| {
                TlsError(format!(
                    "the certificate and key of {} do not go together: {e}",
                    side.flag("cert-file")
                ))
            }),
        None => Ok(client.with_no_client_auth()),
    }
}

/// How this member dials other members' `https://` client URLs (to forward the calls
/// only the leader answers: lease keep-alives and TimeToLive, membership changes), or
/// `None` when neither its client URLs are `https://` nor a client certificate is
/// given. It trusts --trusted-ca-file and presents --cert-file, as etcd's own gateway
/// dials its client port: so a leader with --client-cert-auth needs that certificate to
/// allow client authentication too, as etcd does. It offers `h2` only (gRPC).
pub fn client_dialer(
    config: &MemberConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<tokio_rustls::TlsConnector>, TlsError> {
    let settings = &config.client_tls;
    let https = config
        .listen_client_urls
        .iter()
        .chain(&config.advertise_client_urls)
        .any(|u| u.starts_with("https://"));
    if !https && settings.is_empty() && !settings.auto_tls {
        return Ok(None);
    }
    let mine = identity(
        settings,
        Side::Client,
        &config.data_dir,
        &config.listen_client_urls,
    )?;
    let mut client = match dialer(settings, Side::Client, mine.as_ref(), None, provider) {
        Ok(client) => client,
        // No CA was given and the system has none: not worth refusing to start over,
        // since only the forwarding to a leader in another process needs it.
        Err(e) if settings.trusted_ca_file.is_empty() => {
            eprintln!(
                "etcd-rs: cannot dial other members' https client URLs ({e}): a follower cannot forward lease keep-alives and membership calls to its leader"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(client))))
}

/// A connector for tonic's `Endpoint::connect_with_connector` that dials a member's
/// client URL with `tls` (this build's tonic has no TLS of its own). The host of the
/// URI is the name its certificate is checked against.
pub fn grpc_dialer(
    tls: tokio_rustls::TlsConnector,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Error = std::io::Error,
    Future = impl Send,
> + Clone
+ Send {
    tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let tls = tls.clone();
        async move {
            let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
            let host = uri
                .host()
                .ok_or_else(|| invalid("a client URL without a host"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(host.to_string())
                .map_err(|_| invalid("a client URL's host is no valid server name"))?;
            Ok(hyper_util::rt::TokioIo::new(tls.connect(name, tcp).await?))
        }
    })
}

/// How long resolving one DNS name of a peer's certificate may take.
const SAN_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// etcd's `checkSAN`, for a verified peer client certificate: if it names IP addresses
/// or DNS names, the address the peer connects from must be one of those IPs, or one
/// that one of those names resolves to. A certificate without either passes.
pub async fn check_client_san(certificate: &[u8], remote: std::net::IpAddr) -> Result<(), String> {
    let remote = remote.to_canonical();
    let (ips, dns) = der::subject_alt_names(certificate)
        .ok_or_else(|| "cannot read the client certificate's names".to_string())?;
    if ips.iter().any(|ip| ip.to_canonical() == remote) || (ips.is_empty() && dns.is_empty()) {
        return Ok(());
    }
    for name in &dns {
        let lookup = tokio::net::lookup_host((name.as_str(), 0));
        if let Ok(Ok(mut addresses)) = tokio::time::timeout(SAN_LOOKUP_TIMEOUT, lookup).await
            && addresses.any(|a| a.ip().to_canonical() == remote)
        {
            return Ok(());
        }
    }
    Err(format!(
        "its client certificate is for {}, not {remote}",
        ips.iter()
            .map(ToString::to_string)
            .chain(dns.iter().cloned())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_cipher_suite_names_map_to_rustls_suites() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (provider, warnings) = cipher_provider(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        ]))
        .unwrap();
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            vec![rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            cipher_provider(&names(&["TLS_NO_SUCH_SUITE"])).err(),
            Some(TlsError(
                "unexpected TLS cipher suite \"TLS_NO_SUCH_SUITE\"".into()
            ))
        );
        assert!(cipher_provider(&names(&["TLS_RSA_WITH_AES_128_CBC_SHA"])).is_err());
        assert!(cipher_provider(&[]).is_ok());
    }

    #[tokio::test]
    async fn a_peer_client_certificate_must_name_the_address_it_comes_from() {
        let cert = |sans: &[&str]| {
            let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let params = rcgen::CertificateParams::new(sans).unwrap();
            params.self_signed(&key).unwrap().der().to_vec()
        };
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "10.9.8.7".parse().unwrap();
        assert_eq!(check_client_san(&cert(&["127.0.0.1"]), local).await, Ok(()));
        assert!(
            check_client_san(&cert(&["127.0.0.1"]), other)
                .await
                .is_err()
        );
        assert_eq!(check_client_san(&cert(&["localhost"]), local).await, Ok(()));
        assert!(
            check_client_san(&cert(&["localhost"]), other)
                .await
                .is_err()
        );
        assert_eq!(check_client_san(&cert(&[]), other).await, Ok(()));
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            check_client_san(&cert(&["127.0.0.1"]), mapped).await,
            Ok(())
        );
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(host_of("https://127.0.0.1:2379"), "127.0.0.1");
        assert_eq!(host_of("https://[::1]:2379/"), "::1");
        assert_eq!(host_of("node-1:2380"), "node-1");
        assert_eq!(host_of("https://node-1"), "node-1");
    }

    #[test]
    fn auto_tls_makes_a_certificate_once_and_keeps_it() {
        let dir = std::env::temp_dir().join(format!("etcd-rs-selfcert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (cert, _) = self_cert(&dir, &["https://127.0.0.1:2379".to_string()]).unwrap();
        let first = std::fs::read(&cert).unwrap();
        self_cert(&dir, &["https://127.0.0.1:2379".to_string()]).unwrap();
        assert_eq!(std::fs::read(&cert).unwrap(), first);
        assert_eq!(read_certs(&cert).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
