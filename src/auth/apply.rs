//! The auth side of applying a committed request, without the actors: who may make it
//! (etcd's auth applier: admin calls need the root role; writes need write permission
//! on their keys, on the keys of a lease they attach to or revoke, and read permission
//! where they return previous values or compare), and the change an auth request makes
//! to the store. The Applier calls these with the store it holds; the fuzz targets with
//! one of their own.

use super::perms::Access;
use super::{AuthError, AuthInfo, AuthStore};
use crate::pb::etcdserverpb as pb;

/// What an applied auth request answers.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthAnswer {
    /// Done, nothing to report.
    Done,
    /// Authenticate: the simple token applied, and who it is for (the user, at the
    /// store's revision).
    Token {
        /// The simple token recorded (empty with JWT tokens).
        simple_token: String,
        /// The user and revision.
        info: AuthInfo,
    },
    /// UserGet's roles, UserList's users or RoleList's roles.
    Names(Vec<String>),
    /// RoleGet's permissions.
    Permissions(Vec<crate::pb::authpb::Permission>),
    /// AuthStatus.
    Status {
        /// Whether auth is enabled.
        enabled: bool,
        /// The store's revision.
        revision: u64,
    },
}

/// What applying an auth request does to the member's tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenChange {
    /// Nothing.
    Keep,
    /// Record this simple token for this user (Authenticate).
    Assign {
        /// The token.
        token: String,
        /// Its user, at the store's revision.
        info: AuthInfo,
    },
    /// Forget the user's tokens (deleted, or a new password).
    InvalidateUser(String),
    /// Forget every token (auth disabled).
    Clear,
}

/// Whether `request` may be applied, against the store as of its place in the log: a
/// client's request is checked for the user its header names (none: nobody); the
/// member's own proposals (lease expiry, alarms it raises) have no header, or say they
/// are internal, and are not checked. `lease_keys` lists the keys attached to a lease.
pub fn check_request(
    auth: &AuthStore,
    request: &pb::InternalRaftRequest,
    lease_keys: &dyn Fn(i64) -> Vec<Vec<u8>>,
) -> Result<(), AuthError> {
    let Some(header) = request.header.as_ref().filter(|h| !h.internal) else {
        return Ok(());
    };
    let info = (!header.username.is_empty()).then(|| AuthInfo {
        username: header.username.clone(),
        revision: header.auth_revision,
    });
    check_as(auth, request, info.as_ref(), lease_keys)
}

/// [`check_request`] for `info`.
fn check_as(
    auth: &AuthStore,
    request: &pb::InternalRaftRequest,
    info: Option<&AuthInfo>,
    lease_keys: &dyn Fn(i64) -> Vec<Vec<u8>>,
) -> Result<(), AuthError> {
    if !auth.enabled() {
        return Ok(());
    }
    let admin = kind(request) == Some(AuthKind::Admin)
        || request.alarm.is_some()
        || request.member_peer_urls.is_some();
    // (An alarm is proposed only to raise or clear one: listing them is local.)
    if admin {
        return auth.check_admin(info);
    }
    if let Some(get) = &request.auth_user_get {
        // A user may read its own roles.
        if info.is_some_and(|i| i.username == get.name) {
            return Ok(());
        }
        return auth.check_admin(info);
    }
    if let Some(get) = &request.auth_role_get {
        // A user may read the permissions of its own roles.
        if info.is_some_and(|i| auth.has_role(&i.username, &get.role)) {
            return Ok(());
        }
        return auth.check_admin(info);
    }
    let lease_keys = |id: i64| -> Result<(), AuthError> {
        for key in lease_keys(id) {
            auth.check(info, Access::Write, &key, b"")?;
        }
        Ok(())
    };
    if let Some(put) = &request.put {
        return check_put(auth, info, put, &lease_keys);
    }
    if let Some(delete) = &request.delete_range {
        return check_delete(auth, info, delete);
    }
    if let Some(txn) = &request.txn {
        return check_txn(auth, info, txn, &lease_keys);
    }
    // etcd 3.4 checked neither a compaction nor a lease grant; its later releases
    // (and etcd-rs) want the root role for one, and a user for the other.
    if request.compaction.is_some() {
        return auth.check_admin(info);
    }
    if request.lease_grant.is_some() {
        return info.map(|_| ()).ok_or(AuthError::UserEmpty);
    }
    if let Some(revoke) = &request.lease_revoke {
        info.ok_or(AuthError::UserEmpty)?;
        return lease_keys(revoke.id);
    }
    Ok(())
}

/// Applies an auth request to `auth` (None: `request` is of another kind): its answer,
/// and what it does to the member's tokens.
pub fn apply_request(
    auth: &mut AuthStore,
    request: &pb::InternalRaftRequest,
) -> Option<Result<(AuthAnswer, TokenChange), AuthError>> {
    apply(auth, request).transpose()
}

/// [`apply_request`], with the request's kind and its failure the other way round.
fn apply(
    auth: &mut AuthStore,
    request: &pb::InternalRaftRequest,
) -> Result<Option<(AuthAnswer, TokenChange)>, AuthError> {
    let mut tokens = TokenChange::Keep;
    let answer = if request.auth_enable.is_some() {
        auth.enable()?;
        AuthAnswer::Done
    } else if request.auth_disable.is_some() {
        auth.disable();
        tokens = TokenChange::Clear;
        AuthAnswer::Done
    } else if request.auth_status.is_some() {
        AuthAnswer::Status {
            enabled: auth.enabled(),
            revision: auth.revision(),
        }
    } else if let Some(a) = &request.authenticate {
        if !auth.enabled() {
            return Err(AuthError::AuthNotEnabled);
        }
        if !auth.has_user(&a.name) {
            return Err(AuthError::AuthFailed);
        }
        // The password was checked against this revision: a change since (a new
        // password, a deleted user) makes the proposer check again.
        if a.checked_revision != auth.revision() {
            return Err(AuthError::OldRevision);
        }
        let info = auth.info_for(&a.name);
        tokens = TokenChange::Assign {
            token: a.simple_token.clone(),
            info: info.clone(),
        };
        AuthAnswer::Token {
            simple_token: a.simple_token.clone(),
            info,
        }
    } else if let Some(r) = &request.auth_user_add {
        let no_password = r.options.is_some_and(|o| o.no_password);
        auth.user_add(&r.name, &r.hashed_password, no_password)?;
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_user_delete {
        auth.user_delete(&r.name)?;
        tokens = TokenChange::InvalidateUser(r.name.clone());
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_user_change_password {
        auth.user_change_password(&r.name, &r.hashed_password)?;
        tokens = TokenChange::InvalidateUser(r.name.clone());
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_user_grant_role {
        auth.user_grant_role(&r.user, &r.role)?;
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_user_revoke_role {
        auth.user_revoke_role(&r.name, &r.role)?;
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_user_get {
        AuthAnswer::Names(auth.user_get(&r.name)?)
    } else if request.auth_user_list.is_some() {
        AuthAnswer::Names(auth.user_list())
    } else if request.auth_role_list.is_some() {
        AuthAnswer::Names(auth.role_list())
    } else if let Some(r) = &request.auth_role_add {
        auth.role_add(&r.name)?;
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_role_delete {
        auth.role_delete(&r.role)?;
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_role_get {
        AuthAnswer::Permissions(auth.role_get(&r.role)?)
    } else if let Some(r) = &request.auth_role_grant_permission {
        auth.role_grant_permission(&r.name, r.perm.as_ref())?;
        AuthAnswer::Done
    } else if let Some(r) = &request.auth_role_revoke_permission {
        auth.role_revoke_permission(&r.role, &r.key, &r.range_end)?;
        AuthAnswer::Done
    } else {
        return Ok(None);
    };
    Ok(Some((answer, tokens)))
}

/// Who may make an auth request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// Users with the root role (etcd's `needAdminPermission`).
    Admin,
    /// Anyone (Authenticate), or a user about itself (UserGet, RoleGet).
    Other,
}

/// The kind of an auth request (None: another request).
pub fn kind(request: &pb::InternalRaftRequest) -> Option<AuthKind> {
    let r = request;
    if r.authenticate.is_some() || r.auth_user_get.is_some() || r.auth_role_get.is_some() {
        return Some(AuthKind::Other);
    }
    let admin = r.auth_enable.is_some()
        || r.auth_disable.is_some()
        || r.auth_status.is_some()
        || r.auth_user_add.is_some()
        || r.auth_user_delete.is_some()
        || r.auth_user_change_password.is_some()
        || r.auth_user_grant_role.is_some()
        || r.auth_user_revoke_role.is_some()
        || r.auth_user_list.is_some()
        || r.auth_role_add.is_some()
        || r.auth_role_delete.is_some()
        || r.auth_role_grant_permission.is_some()
        || r.auth_role_revoke_permission.is_some()
        || r.auth_role_list.is_some();
    admin.then_some(AuthKind::Admin)
}

/// A put's permissions: write on its key, read if it returns the previous value, write
/// on every key of the lease it attaches to.
fn check_put(
    auth: &AuthStore,
    info: Option<&AuthInfo>,
    put: &pb::PutRequest,
    lease_keys: &dyn Fn(i64) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    auth.check(info, Access::Write, &put.key, b"")?;
    if put.prev_kv {
        auth.check(info, Access::Read, &put.key, b"")?;
    }
    if put.lease != 0 {
        lease_keys(put.lease)?;
    }
    Ok(())
}

/// A delete's permissions: write on its range, read if it returns the deleted pairs.
fn check_delete(
    auth: &AuthStore,
    info: Option<&AuthInfo>,
    delete: &pb::DeleteRangeRequest,
) -> Result<(), AuthError> {
    if delete.prev_kv {
        auth.check(info, Access::Read, &delete.key, &delete.range_end)?;
    }
    auth.check(info, Access::Write, &delete.key, &delete.range_end)
}

/// A txn's permissions: read on what it compares, and each operation's of both
/// branches, nested txns included.
fn check_txn(
    auth: &AuthStore,
    info: Option<&AuthInfo>,
    txn: &pb::TxnRequest,
    lease_keys: &dyn Fn(i64) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    for compare in &txn.compare {
        auth.check(info, Access::Read, &compare.key, &compare.range_end)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(pb::request_op::Request::RequestRange(range)) => {
                auth.check(info, Access::Read, &range.key, &range.range_end)?;
            }
            Some(pb::request_op::Request::RequestPut(put)) => {
                check_put(auth, info, put, lease_keys)?;
            }
            Some(pb::request_op::Request::RequestDeleteRange(delete)) => {
                check_delete(auth, info, delete)?;
            }
            Some(pb::request_op::Request::RequestTxn(nested)) => {
                check_txn(auth, info, nested, lease_keys)?;
            }
            None => {}
        }
    }
    Ok(())
}
