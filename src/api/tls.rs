//! TLS on the client port: the connection types the port serves, and the client
//! certificate identity handed to gRPC handlers.
//!
//! On an `https://` client URL each accepted connection does its TLS handshake in its
//! own task (bounded by [`HANDSHAKE_TIMEOUT`], so a slow client cannot hold the accept
//! loop), then its first decrypted bytes decide, as on a plain port, between gRPC (the
//! HTTP/2 preface) and HTTP/1 (relayed to actix-web). Those bytes were read, not peeked
//! (a TLS stream cannot be peeked), so [`ClientStream`] replays them to whoever reads
//! the connection next.
//!
//! When `--client-cert-auth` verified the client's certificate, its subject Common Name
//! reaches every gRPC request as a [`VerifiedClientCn`] extension (etcd's authentication
//! takes it as the user name when a request carries no token).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::codegen::http;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a client has, after its TCP connection is accepted, to finish the TLS
/// handshake and send the first bytes of its first request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The subject Common Name of the certificate a client presented and `--client-cert-auth`
/// verified; a request extension of the gRPC requests of that connection. Absent when
/// the client presented no certificate (or the port has no client certificate
/// authentication).
#[derive(Clone, Debug)]
pub struct VerifiedClientCn(pub String);

/// What tonic records of each client connection (its `Connected::ConnectInfo`): its
/// addresses and, with a verified client certificate, its Common Name. [`layer`] turns it
/// into the request extensions handlers read: [`TcpConnectInfo`] (which
/// `tonic::Request::remote_addr` reads) and [`VerifiedClientCn`].
#[derive(Clone, Debug)]
pub struct ClientConnectInfo {
    /// The connection's addresses.
    pub tcp: TcpConnectInfo,
    /// The verified client certificate's subject CN, if any.
    pub verified_cn: Option<VerifiedClientCn>,
}

/// One accepted client connection, plain or TLS.
pub enum ClientStream {
    /// A plain TCP connection; nothing was consumed from it (its first bytes were peeked).
    Plain(TcpStream),
    /// A TLS connection whose first decrypted bytes were read into `replay`: they are
    /// read again first.
    Tls {
        /// The connection.
        stream: Box<tokio_rustls::server::TlsStream<TcpStream>>,
        /// Bytes already read from it, to hand out before reading it again.
        replay: Vec<u8>,
        /// How many of `replay` were handed out.
        replayed: usize,
    },
}

impl ClientStream {
    /// The connection's addresses, and the Common Name of its verified client
    /// certificate. Any certificate rustls accepted on the client port was verified (the
    /// port asks for one only under `--client-cert-auth`, which requires a valid one).
    pub fn connect_info(&self) -> ClientConnectInfo {
        match self {
            ClientStream::Plain(stream) => ClientConnectInfo {
                tcp: stream.connect_info(),
                verified_cn: None,
            },
            ClientStream::Tls { stream, .. } => {
                let (tcp, session) = stream.get_ref();
                let verified_cn = session
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|cert| crate::tls::der::subject_common_name(cert))
                    .map(VerifiedClientCn);
                ClientConnectInfo {
                    tcp: tcp.connect_info(),
                    verified_cn,
                }
            }
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            ClientStream::Tls {
                stream,
                replay,
                replayed,
            } => {
                if *replayed < replay.len() {
                    let n = buf.remaining().min(replay.len() - *replayed);
                    buf.put_slice(&replay[*replayed..*replayed + n]);
                    *replayed += n;
                    if *replayed == replay.len() {
                        *replay = Vec::new();
                        *replayed = 0;
                    }
                    return Poll::Ready(Ok(()));
                }
                Pin::new(stream.as_mut()).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            ClientStream::Tls { stream, .. } => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            ClientStream::Tls { stream, .. } => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            ClientStream::Tls { stream, .. } => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            ClientStream::Tls { stream, .. } => {
                Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Plain(stream) => stream.is_write_vectored(),
            ClientStream::Tls { stream, .. } => stream.is_write_vectored(),
        }
    }
}

/// The layer that puts each connection's [`TcpConnectInfo`] and [`VerifiedClientCn`]
/// into its gRPC requests' extensions (tonic inserts the [`ClientConnectInfo`] before
/// the server's layers run).
pub fn layer<S>() -> impl tower::Layer<S, Service = ClientIdentity<S>> + Clone {
    tower::layer::layer_fn(|inner| ClientIdentity { inner })
}

/// The service of [`layer`].
#[derive(Clone)]
pub struct ClientIdentity<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for ClientIdentity<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(info) = request.extensions().get::<ClientConnectInfo>().cloned() {
            request.extensions_mut().insert(info.tcp);
            if let Some(cn) = info.verified_cn {
                request.extensions_mut().insert(cn);
            }
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
    use rustls::pki_types::pem::PemObject as _;

    use super::*;

    fn key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key")
    }

    /// A certificate of subject CN `cn` for 127.0.0.1, signed by `ca`: PEM cert and key.
    fn leaf(cn: &str, ca: &rcgen::Certificate, ca_key: &KeyPair) -> (String, String) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = key();
        let cert = params.signed_by(&key, ca, ca_key).expect("signed");
        (cert.pem(), key.serialize_pem())
    }

    /// A client that presented a certificate verified under --client-cert-auth is known
    /// by its CN, through the real set-up of the client port (files, verifier) and a
    /// real handshake on loopback.
    #[tokio::test]
    async fn a_verified_client_certificate_gives_its_common_name() {
        let dir = std::env::temp_dir().join(format!("etcd-rs-client-cn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = key();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test-ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let (server_cert, server_key) = leaf("member", &ca, &ca_key);
        let (alice_cert, alice_key) = leaf("alice", &ca, &ca_key);
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let mut config = crate::config::MemberConfig {
            listen_client_urls: vec!["https://127.0.0.1:2379".to_string()],
            ..Default::default()
        };
        config.client_tls.cert_file = write("server.crt", &server_cert);
        config.client_tls.key_file = write("server.key", &server_key);
        config.client_tls.trusted_ca_file = write("ca.crt", &ca.pem());
        config.client_tls.client_cert_auth = true;
        let provider = crate::tls::cipher_provider(&[]).unwrap().0;
        let acceptor = crate::tls::client_acceptor(&config, &provider)
            .unwrap()
            .expect("an https URL has TLS");

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let chain =
            vec![rustls::pki_types::CertificateDer::from_pem_slice(alice_cert.as_bytes()).unwrap()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(alice_key.as_bytes()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async {
            let (tcp, _) = listener.accept().await.unwrap();
            let stream = acceptor.accept(tcp).await.expect("handshake");
            ClientStream::Tls {
                stream: Box::new(stream),
                replay: Vec::new(),
                replayed: 0,
            }
            .connect_info()
        };
        let client = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            connector
                .connect(name, tcp)
                .await
                .expect("client handshake")
        };
        let (info, _client) = tokio::join!(server, client);
        assert_eq!(info.verified_cn.map(|cn| cn.0).as_deref(), Some("alice"));
        assert_eq!(info.tcp.local_addr, Some(addr));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The inner service of the layer's test: keeps the extensions it was called with.
    #[derive(Clone, Default)]
    struct Seen(Arc<std::sync::Mutex<Option<http::Extensions>>>);

    impl tower::Service<http::Request<()>> for Seen {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<(), Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<()>) -> Self::Future {
            *self.0.lock().unwrap() = Some(request.extensions().clone());
            std::future::ready(Ok(()))
        }
    }

    #[test]
    fn the_layer_hands_the_common_name_and_addresses_to_handlers() {
        use tower::{Layer as _, Service as _};
        let seen = Seen::default();
        let mut service = layer().layer(seen.clone());
        let remote = "127.0.0.1:5555".parse().ok();
        let mut request = http::Request::new(());
        request.extensions_mut().insert(ClientConnectInfo {
            tcp: TcpConnectInfo {
                local_addr: None,
                remote_addr: remote,
            },
            verified_cn: Some(VerifiedClientCn("alice".into())),
        });
        drop(service.call(request));
        let extensions = seen.0.lock().unwrap().take().unwrap();
        assert_eq!(
            extensions.get::<VerifiedClientCn>().map(|cn| cn.0.as_str()),
            Some("alice")
        );
        assert_eq!(
            extensions
                .get::<TcpConnectInfo>()
                .and_then(|i| i.remote_addr),
            remote
        );

        // Without a verified certificate, no name.
        let mut request = http::Request::new(());
        request.extensions_mut().insert(ClientConnectInfo {
            tcp: TcpConnectInfo {
                local_addr: None,
                remote_addr: remote,
            },
            verified_cn: None,
        });
        drop(service.call(request));
        let extensions = seen.0.lock().unwrap().take().unwrap();
        assert!(extensions.get::<VerifiedClientCn>().is_none());
    }
}
