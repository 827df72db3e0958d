//! etcd's JWT tokens (`--auth-token jwt,pub-key=<path>,priv-key=<path>,sign-method=<alg>,ttl=<duration>`):
//! signed claims `{"exp", "revision", "username"}` that any member holding the public
//! key verifies, with nothing kept server-side. A token lives until its `exp`, used or
//! not (no sliding TTL), and carries the auth store's revision at issue: once the store
//! changes, requests with it fail with "revision of auth store is old" and clients
//! authenticate again.
//!
//! The option string is split as etcd's `decomposeOpts` splits it and each failure
//! answers etcd's start-up error (`auth: invalid auth options`, `auth: missing key
//! data`, ...). Keys are PEM: RSA (PKCS#1 or PKCS#8) for RS* and PS*, ECDSA (SEC1 or
//! PKCS#8) for ES256 and ES384, Ed25519 (PKCS#8) for EdDSA (etcd 3.5), and for HS* the
//! private key file's bytes as they are. A member given only `pub-key` verifies tokens
//! but cannot issue them (etcd's verify-only member).
//!
//! Time is passed in (unix seconds), so expiry is tested without sleeping.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthError, AuthInfo};

/// A token's lifetime when the options name no `ttl` (etcd's `DefaultTTL`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

/// etcd's options for JWT tokens, as known to its parser.
const KNOWN_OPTIONS: [&str; 4] = ["sign-method", "pub-key", "priv-key", "ttl"];

/// What `--auth-token` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `simple`: random tokens every member records when it applies an Authenticate.
    Simple,
    /// `jwt,...`: signed tokens.
    Jwt(JwtOptions),
}

/// The options of `--auth-token jwt,...`, parsed but with keys not yet read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtOptions {
    /// `sign-method`, a JWT `alg` name.
    pub sign_method: String,
    /// `pub-key`: the public key's PEM file (or none).
    pub pub_key: Option<PathBuf>,
    /// `priv-key`: the private key's PEM file, or HS*'s secret (or none).
    pub priv_key: Option<PathBuf>,
    /// `ttl`: how long a token is valid after it is issued.
    pub ttl: Duration,
    /// Options etcd does not know (it warns about them and goes on).
    pub unknown: Vec<String>,
}

/// Why `--auth-token` cannot be used: etcd's start-up failures. Display prints etcd's
/// two lines: the reason it logs, then the error it stops with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenOptionError {
    /// Malformed options, an unknown token type, an unreadable file, a bad ttl or an
    /// unknown sign-method: etcd logs the reason and stops with "invalid auth options".
    #[error("auth: {0}\nauth: invalid auth options")]
    InvalidOptions(String),
    /// Neither key (or, for HS*, no priv-key).
    #[error("auth: missing key data")]
    MissingKey,
    /// pub-key is not priv-key's public half.
    #[error("auth: public and private keys don't match")]
    KeyMismatch,
    /// A key file that is not a key of the sign-method's kind (etcd stops with the
    /// parser's error, as here).
    #[error("{0}")]
    BadKey(String),
}

/// Parses `--auth-token` as etcd's `NewTokenProvider` does, without reading key files;
/// `parse_duration` is Go's `time.ParseDuration` (nanoseconds, or Go's error text).
pub fn parse_token_option(
    spec: &str,
    parse_duration: impl Fn(&str) -> Result<i64, String>,
) -> Result<TokenKind, TokenOptionError> {
    let mut parts = spec.split(',');
    let kind = parts.next().unwrap_or_default();
    let mut options: Vec<(&str, &str)> = Vec::new();
    for part in parts {
        let pair: Vec<&str> = part.split('=').collect();
        let [name, value] = pair[..] else {
            return Err(TokenOptionError::InvalidOptions(format!(
                "invalid token specific option: {spec}"
            )));
        };
        if options.iter().any(|(n, _)| *n == name) {
            return Err(TokenOptionError::InvalidOptions(format!(
                "invalid token specific option, duplicated parameters ({name}): {spec}"
            )));
        }
        options.push((name, value));
    }
    let get = |name: &str| {
        options
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
    };
    match kind {
        "simple" => Ok(TokenKind::Simple),
        "jwt" => {
            let ttl = match get("ttl") {
                None => DEFAULT_TTL,
                Some(text) => {
                    let nanos = parse_duration(text).map_err(|e| {
                        TokenOptionError::InvalidOptions(format!(
                            "problem loading JWT options: {e}"
                        ))
                    })?;
                    // A negative ttl makes tokens that are expired when issued.
                    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
                }
            };
            let sign_method = get("sign-method").unwrap_or_default();
            if !SIGN_METHODS.contains(&sign_method) {
                return Err(TokenOptionError::InvalidOptions(
                    "problem loading JWT options: auth: invalid auth signature method".into(),
                ));
            }
            Ok(TokenKind::Jwt(JwtOptions {
                sign_method: sign_method.to_owned(),
                pub_key: get("pub-key").map(PathBuf::from),
                priv_key: get("priv-key").map(PathBuf::from),
                ttl,
                unknown: options
                    .iter()
                    .map(|(n, _)| *n)
                    .filter(|n| !KNOWN_OPTIONS.contains(n))
                    .map(str::to_owned)
                    .collect(),
            }))
        }
        // etcd's empty type is a provider that refuses every token; nobody asks for it
        // on purpose, and etcd-rs refuses it as an unknown type.
        other => Err(TokenOptionError::InvalidOptions(format!(
            "unknown token type: {other}"
        ))),
    }
}

/// The sign-methods etcd's JWT library knows (3.5 adds EdDSA). ES512 (P-521) and
/// `none` are known too but cannot be used here: see [`JwtTokens::load`].
const SIGN_METHODS: [&str; 14] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512", "EdDSA", "none",
];

/// The claims of an etcd JWT, in the order etcd's library writes them (sorted).
#[derive(Serialize)]
struct Claims<'a> {
    exp: u64,
    revision: u64,
    username: &'a str,
}

/// The claims read back: etcd's parser reads numbers as float64, and checks `exp` and
/// `nbf` only when present.
#[derive(Deserialize)]
struct ParsedClaims {
    username: String,
    revision: serde_json::Number,
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
}

/// A member's JWT keys: it verifies tokens, and signs them unless it has only a public
/// key.
pub struct JwtTokens {
    algorithm: Algorithm,
    signer: Option<EncodingKey>,
    verifier: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("JwtTokens")
            .field("algorithm", &self.algorithm)
            .field("verify_only", &self.signer.is_none())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl JwtTokens {
    /// Reads the keys `options` name, as etcd does when it starts: a missing key, a
    /// file that is not a key of the sign-method's kind, or keys that do not match
    /// fail.
    pub fn load(options: &JwtOptions) -> Result<JwtTokens, TokenOptionError> {
        let read = |path: &Option<PathBuf>| -> Result<Option<Vec<u8>>, TokenOptionError> {
            path.as_ref()
                .map(|p| {
                    std::fs::read(p).map_err(|e| {
                        TokenOptionError::InvalidOptions(format!(
                            "problem loading JWT options: open {}: {e}",
                            p.display()
                        ))
                    })
                })
                .transpose()
        };
        let (public, private) = (read(&options.pub_key)?, read(&options.priv_key)?);
        let algorithm = match options.sign_method.parse::<Algorithm>() {
            Ok(algorithm) => algorithm,
            Err(_) => {
                return Err(TokenOptionError::BadKey(format!(
                    "etcd-rs: sign-method {} is not supported (no P-521 curve in its crypto library, or no signature at all)",
                    options.sign_method
                )));
            }
        };
        let (signer, derived) = match (&private, family(algorithm)) {
            (None, _) => (None, None),
            (Some(secret), Family::Hmac) => (
                Some(EncodingKey::from_secret(secret)),
                Some(DecodingKey::from_secret(secret)),
            ),
            (Some(pem), family) => {
                let (signer, verifier) = private_key(family, algorithm, pem)?;
                (Some(signer), Some(verifier))
            }
        };
        let given = match (&public, family(algorithm)) {
            // An HMAC secret is private: etcd never reads pub-key for HS*.
            (_, Family::Hmac) | (None, _) => None,
            (Some(pem), family) => Some(public_key(family, pem)?),
        };
        let tokens = match (given, derived) {
            (None, None) => return Err(TokenOptionError::MissingKey),
            (Some(verifier), None) => JwtTokens {
                algorithm,
                signer: None,
                verifier,
                ttl: options.ttl,
            },
            (given, Some(verifier)) => {
                let tokens = JwtTokens {
                    algorithm,
                    signer,
                    verifier,
                    ttl: options.ttl,
                };
                if let Some(given) = given {
                    // Both keys: pub-key must verify what priv-key signs.
                    let probe = tokens
                        .sign(
                            &AuthInfo {
                                username: "probe".into(),
                                revision: 1,
                            },
                            0,
                        )
                        .map_err(|_| TokenOptionError::KeyMismatch)?;
                    let checker = JwtTokens {
                        algorithm,
                        signer: None,
                        verifier: given,
                        ttl: options.ttl,
                    };
                    if checker.verify(&probe, 0).is_none() {
                        return Err(TokenOptionError::KeyMismatch);
                    }
                }
                tokens
            }
        };
        Ok(tokens)
    }

    /// Whether this member only verifies tokens (it has no private key).
    pub fn verify_only(&self) -> bool {
        self.signer.is_none()
    }

    /// A token for `info`'s user at `info`'s revision, valid until `now_unix` + ttl.
    pub fn sign(&self, info: &AuthInfo, now_unix: u64) -> Result<String, AuthError> {
        let signer = self.signer.as_ref().ok_or(AuthError::VerifyOnly)?;
        let claims = Claims {
            exp: now_unix.saturating_add(self.ttl.as_secs()),
            revision: info.revision,
            username: &info.username,
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, signer)
            .map_err(|e| AuthError::Signing(e.to_string()))
    }

    /// The user and revision of `token` if it is signed by this member's key with its
    /// sign-method and not expired at `now_unix` (etcd's check: `exp` and `nbf` only
    /// when present, no leeway).
    pub fn verify(&self, token: &str, now_unix: u64) -> Option<AuthInfo> {
        let mut validation = Validation::new(self.algorithm);
        // Times are checked below against the time passed in.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<ParsedClaims>(token, &self.verifier, &validation)
            .ok()?
            .claims;
        // Every JSON number has an f64 value: a claim that is no number fails above.
        let seconds = |n: &serde_json::Number| n.as_f64().unwrap_or_default();
        let now = now_unix as f64;
        if claims.exp.is_some_and(|exp| now > seconds(&exp)) {
            return None;
        }
        if claims.nbf.is_some_and(|nbf| now < seconds(&nbf)) {
            return None;
        }
        let revision = claims.revision.as_u64().or_else(|| {
            // Go's float64 to uint64 conversion, for a revision written as a float.
            claims
                .revision
                .as_f64()
                .filter(|r| *r >= 0.0)
                .map(|r| r as u64)
        })?;
        Some(AuthInfo {
            username: claims.username,
            revision,
        })
    }
}

/// The kinds of key a sign-method takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

fn family(algorithm: Algorithm) -> Family {
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        Algorithm::EdDSA => Family::Ed,
        _ => Family::Rsa,
    }
}

/// The signing key of a private key's PEM, and the verifying key of its public half.
fn private_key(
    family: Family,
    algorithm: Algorithm,
    text: &[u8],
) -> Result<(EncodingKey, DecodingKey), TokenOptionError> {
    use ring::signature::KeyPair;
    let not_key =
        |what: &str| TokenOptionError::BadKey(format!("key is not a valid {what} private key"));
    let block = pem::parse(text).map_err(|_| {
        TokenOptionError::BadKey("Invalid Key: Key must be a PEM encoded PKCS1 or PKCS8 key".into())
    })?;
    let der = block.contents();
    match (family, block.tag()) {
        (Family::Rsa, "RSA PRIVATE KEY" | "PRIVATE KEY") => {
            let pair = if block.tag() == "PRIVATE KEY" {
                ring::rsa::KeyPair::from_pkcs8(der)
            } else {
                ring::rsa::KeyPair::from_der(der)
            }
            .map_err(|e| {
                TokenOptionError::BadKey(format!("key is not a valid RSA private key: {e}"))
            })?;
            let signer = EncodingKey::from_rsa_pem(text).map_err(|_| not_key("RSA"))?;
            Ok((signer, DecodingKey::from_rsa_der(pair.public().as_ref())))
        }
        (Family::Ec, "EC PRIVATE KEY" | "PRIVATE KEY") => {
            let (signing, curve_oid) = match algorithm {
                Algorithm::ES384 => (&ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING, P384_OID),
                _ => (&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, P256_OID),
            };
            let pkcs8 = if block.tag() == "EC PRIVATE KEY" {
                sec1_to_pkcs8(der, curve_oid)
            } else {
                der.to_vec()
            };
            let rng = ring::rand::SystemRandom::new();
            let pair =
                ring::signature::EcdsaKeyPair::from_pkcs8(signing, &pkcs8, &rng).map_err(|e| {
                    TokenOptionError::BadKey(format!("key is not a valid ECDSA private key: {e}"))
                })?;
            Ok((
                EncodingKey::from_ec_der(&pkcs8),
                DecodingKey::from_ec_der(pair.public_key().as_ref()),
            ))
        }
        (Family::Ed, "PRIVATE KEY") => {
            let pair =
                ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| {
                    TokenOptionError::BadKey(format!("key is not a valid Ed25519 private key: {e}"))
                })?;
            Ok((
                EncodingKey::from_ed_der(der),
                DecodingKey::from_ed_der(pair.public_key().as_ref()),
            ))
        }
        (Family::Rsa, _) => Err(not_key("RSA")),
        (Family::Ec, _) => Err(not_key("ECDSA")),
        _ => Err(not_key("Ed25519")),
    }
}

/// The verifying key of a public key's PEM (SubjectPublicKeyInfo, PKCS#1 for RSA, or a
/// certificate).
fn public_key(family: Family, text: &[u8]) -> Result<DecodingKey, TokenOptionError> {
    let (parsed, what) = match family {
        Family::Rsa => (DecodingKey::from_rsa_pem(text), "RSA"),
        Family::Ec => (DecodingKey::from_ec_pem(text), "ECDSA"),
        Family::Ed | Family::Hmac => (DecodingKey::from_ed_pem(text), "Ed25519"),
    };
    parsed.map_err(|_| TokenOptionError::BadKey(format!("key is not a valid {what} public key")))
}

/// The DER of the object identifiers of curves P-256 and P-384.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-ecPublicKey.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// A SEC1 `EC PRIVATE KEY` (what `openssl ecparam -genkey` writes) wrapped as PKCS#8,
/// the only form `ring` reads (RFC 5208: version 0, the algorithm, the key as an octet
/// string). `ring` checks the curve named inside against `curve_oid`.
fn sec1_to_pkcs8(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let algorithm = der(0x30, &[EC_PUBLIC_KEY_OID, curve_oid].concat());
    der(
        0x30,
        &[&[0x02, 0x01, 0x00][..], &algorithm, &der(0x04, sec1)].concat(),
    )
}

/// One DER element: tag, definite length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests;
