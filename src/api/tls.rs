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
