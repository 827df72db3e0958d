//! Authentication and authorization, as etcd's auth store: users with bcrypt passwords
//! (or none, for users who authenticate with a client certificate), roles granting
//! READ, WRITE or READWRITE on a key or a [key, range_end) range, the root role,
//! simple tokens with a TTL, and the checks requests pass.
//!
//! - [`store`]: the store, changed only by applying committed requests.
//! - [`apply`]: the checks of a committed request, and the change an auth request makes.
//! - [`perms`]: whether a user's permissions cover a request's keys.
//! - [`tokens`]: the simple tokens a member issued or learnt through Raft.
//! - [`jwt`]: JWT tokens, signed by the member that authenticated the user and
//!   verified by every member holding the public key.
//!
//! Where the checks happen, as in etcd: reads (Range, Watch, LeaseTimeToLive's keys)
//! are checked by the API layer against the applied store; writes and every auth or
//! admin request are checked when applied, against the store as of their place in the
//! log, with the user and auth revision the proposing member put in the request's
//! header. A request whose user's token predates a change of the store fails with
//! etcd's "revision of auth store is old", and clients authenticate again.

pub mod apply;
pub mod jwt;
pub mod perms;
pub mod store;
pub mod tokens;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use perms::Access;
pub use store::AuthStore;

/// The root user and role: the root role grants everything, including admin calls.
pub const ROOT: &str = "root";

/// Who a request is from: a user, and the auth revision its token was issued at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthInfo {
    /// The user.
    pub username: String,
    /// The store's revision when the user authenticated.
    pub revision: u64,
}

/// Why auth refused a request, with etcd's gRPC messages (rpctypes' `ErrGRPC...`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// AuthEnable without a root user.
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    /// AuthEnable while root lacks the root role.
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    /// UserAdd of an existing user.
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    /// No user: no token (or an empty user name).
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    /// No such user.
    #[error("etcdserver: user name not found")]
    UserNotFound,
    /// RoleAdd of an existing role.
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    /// No such role.
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    /// RoleAdd with an empty name.
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    /// Authenticate with a wrong user or password.
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    /// Authenticate with a password as a user added without one (etcd answers its
    /// store's error as it is, with code Unknown).
    #[error("auth: authentication failed, password was given for no password user")]
    NoPasswordUser,
    /// RoleGrantPermission without a permission.
    #[error("etcdserver: permission not given")]
    PermissionNotGiven,
    /// The user lacks the permission.
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    /// UserRevokeRole of a role the user does not hold.
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    /// RoleRevokePermission of a permission the role does not hold.
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    /// Authenticate while auth is disabled.
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    /// An unknown or expired token.
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    /// Deleting root, its role, or revoking root's role while auth is enabled.
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    /// The store changed since the token was issued.
    #[error("etcdserver: revision of auth store is old")]
    OldRevision,
    /// Authenticate on a member with a JWT public key only (etcd answers its store's
    /// error as it is, with code Unknown).
    #[error("auth: token signing attempted with verify-only key")]
    VerifyOnly,
    /// Signing a JWT failed (code Unknown, as etcd's).
    #[error("{0}")]
    Signing(String),
}

impl AuthError {
    /// The auth store's own message for this error (`auth: ...`), which etcd's
    /// Defragment, Hash, HashKV and Snapshot answer as it is.
    pub fn store_message(&self) -> String {
        match self {
            AuthError::UserNotFound => "auth: user not found".into(),
            AuthError::RoleNotFound => "auth: role not found".into(),
            other => {
                let message = other.to_string();
                match message.strip_prefix("etcdserver: ") {
                    Some(rest) => format!("auth: {rest}"),
                    None => message,
                }
            }
        }
    }
}

/// A member's auth settings (etcd's flags).
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// --auth-token-ttl: how long a simple token lives unused.
    pub token_ttl: Duration,
    /// --bcrypt-cost.
    pub bcrypt_cost: u32,
    /// --auth-token jwt,...: the keys of JWT tokens (None: simple tokens).
    pub jwt: Option<Arc<jwt::JwtTokens>>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl: Duration::from_secs(300),
            bcrypt_cost: bcrypt::DEFAULT_COST,
            jwt: None,
        }
    }
}

/// A member's auth state, shared by its Applier (the store's writer) and its API layer.
#[derive(Debug)]
pub struct Auth {
    store: RwLock<AuthStore>,
    tokens: Mutex<tokens::SimpleTokens>,
    /// The member's settings.
    pub config: AuthConfig,
}

impl Auth {
    /// An empty, disabled store.
    pub fn new(config: AuthConfig) -> Auth {
        Auth {
            store: RwLock::default(),
            tokens: Mutex::new(tokens::SimpleTokens::new(config.token_ttl)),
            config,
        }
    }

    /// The store, for reading.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, AuthStore> {
        self.store
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The store, for the Applier's changes.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, AuthStore> {
        self.store
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simple tokens.
    pub fn tokens(&self) -> std::sync::MutexGuard<'_, tokens::SimpleTokens> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who a request is from: None while auth is disabled; with auth enabled, the user
    /// of `token` (an unknown or expired token fails), else the common name of the
    /// client's verified certificate, else nobody (Some(None)).
    pub fn info(
        &self,
        token: Option<&str>,
        common_name: Option<&str>,
    ) -> Result<Option<AuthInfo>, AuthError> {
        let store = self.read();
        if !store.enabled() {
            return Ok(None);
        }
        if let Some(token) = token {
            // grpc-gateway clients may send `Bearer <token>` (as etcd 3.5 accepts).
            let token = token.strip_prefix("Bearer ").unwrap_or(token);
            if let Some(jwt) = &self.config.jwt {
                // A JWT names its user and the store's revision when it was issued:
                // checks refuse it once the store has changed since.
                return jwt
                    .verify(token, unix_now())
                    .map(Some)
                    .ok_or(AuthError::InvalidAuthToken);
            }
            // A simple token names its user; the user's permissions are the store's
            // now (etcd's simple tokens answer the current revision).
            return self
                .tokens()
                .info(token, std::time::Instant::now())
                .map(|info| Some(store.info_for(&info.username)))
                .ok_or(AuthError::InvalidAuthToken);
        }
        Ok(common_name.map(|cn| store.info_for(cn)))
    }

    /// The token Authenticate answers for `info` (the user, at the store's revision
    /// when the Authenticate was applied): `simple_token`, which applying recorded on
    /// every member, or a JWT this member signs, which every member verifies.
    pub fn token_for(&self, simple_token: String, info: &AuthInfo) -> Result<String, AuthError> {
        match &self.config.jwt {
            Some(jwt) => jwt.sign(info, unix_now()),
            None => Ok(simple_token),
        }
    }

    /// Records a simple token applied on this member (nothing to do for JWTs, which
    /// are not tracked).
    pub fn assign_simple(&self, token: &str, info: AuthInfo) {
        if self.config.jwt.is_none() {
            self.tokens()
                .assign(token.to_owned(), info, std::time::Instant::now());
        }
    }

    /// Hashes a password with bcrypt at --bcrypt-cost (slow by design: call it off the
    /// async threads).
    pub fn hash_password(&self, password: &str) -> Result<String, AuthError> {
        bcrypt::hash(password, self.config.bcrypt_cost).map_err(|_| AuthError::AuthFailed)
    }

    /// Checks `name`'s password; the store's revision it was checked at. A user without
    /// a password cannot authenticate with one.
    pub fn check_password(&self, name: &str, password: &str) -> Result<u64, AuthError> {
        let (hash, revision) = {
            let store = self.read();
            if !store.enabled() {
                return Err(AuthError::AuthNotEnabled);
            }
            let hash = store.password_hash(name)?.unwrap_or_default();
            (hash.to_owned(), store.revision())
        };
        match bcrypt::verify(password, &hash) {
            Ok(true) => Ok(revision),
            _ => Err(AuthError::AuthFailed),
        }
    }
}

/// Now, in seconds since the Unix epoch: JWTs' `exp` is wall-clock time.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
