//! The auth store: whether auth is enabled, its revision, users and roles. It changes
//! only by applying committed requests (the Applier is its writer), so every member
//! holds the same store at the same applied index; it is recorded in the member's meta
//! keyspace with the batch that changed it, and so travels with snapshots.

use std::collections::BTreeMap;

use prost::Message as _;

use super::perms::{self, Access};
use super::{AuthError, AuthInfo, ROOT};
use crate::pb::authpb;
use crate::pb::etcdserverpb as pb;

/// The meta key the store is recorded under.
pub const AUTH_META: &[u8] = b"auth";

/// etcd's auth store.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthStore {
    enabled: bool,
    /// Raised by every change; a token names the revision it was issued at.
    revision: u64,
    /// Users by name; each user's roles are kept sorted.
    users: BTreeMap<String, authpb::User>,
    /// Roles by name; each role's permissions are kept sorted by key.
    roles: BTreeMap<String, authpb::Role>,
}

impl Default for AuthStore {
    fn default() -> Self {
        // etcd's store starts at revision 1: a request naming revision 0 has no user.
        AuthStore {
            enabled: false,
            revision: 1,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
        }
    }
}

impl AuthStore {
    /// Whether auth is enabled.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The store's revision.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The store as recorded in the meta keyspace.
    pub fn encode(&self) -> Vec<u8> {
        pb::AuthStoreState {
            enabled: self.enabled,
            revision: self.revision,
            users: self.users.values().cloned().collect(),
            roles: self.roles.values().cloned().collect(),
        }
        .encode_to_vec()
    }

    /// A store recorded by [`AuthStore::encode`].
    pub fn decode(bytes: &[u8]) -> Result<AuthStore, prost::DecodeError> {
        let state = pb::AuthStoreState::decode(bytes)?;
        Ok(AuthStore {
            enabled: state.enabled,
            revision: state.revision,
            users: state
                .users
                .into_iter()
                .map(|u| (String::from_utf8_lossy(&u.name).into_owned(), u))
                .collect(),
            roles: state
                .roles
                .into_iter()
                .map(|r| (String::from_utf8_lossy(&r.name).into_owned(), r))
                .collect(),
        })
    }

    fn user(&self, name: &str) -> Result<&authpb::User, AuthError> {
        self.users.get(name).ok_or(AuthError::UserNotFound)
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut authpb::User, AuthError> {
        self.users.get_mut(name).ok_or(AuthError::UserNotFound)
    }

    fn role_mut(&mut self, name: &str) -> Result<&mut authpb::Role, AuthError> {
        self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)
    }

    fn bump(&mut self) {
        self.revision += 1;
    }

    /// The bcrypt hash of `name`'s password (None: none is recorded). A user added
    /// without one may only authenticate by its certificate's common name.
    pub fn password_hash(&self, name: &str) -> Result<Option<&str>, AuthError> {
        let user = self.users.get(name).ok_or(AuthError::AuthFailed)?;
        if user.options.is_some_and(|o| o.no_password) {
            return Err(AuthError::NoPasswordUser);
        }
        if user.password.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(&user.password)
            .map(Some)
            .map_err(|_| AuthError::AuthFailed)
    }

    /// Whether `name` exists.
    pub fn has_user(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    fn is_root(&self, name: &str) -> bool {
        self.users
            .get(name)
            .is_some_and(|u| u.roles.iter().any(|r| r == ROOT))
    }

    // ---- Checks ----

    /// etcd's `IsAdminPermitted`: the user has the root role.
    pub fn check_admin(&self, info: Option<&AuthInfo>) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let name = info
            .map(|i| i.username.as_str())
            .filter(|n| !n.is_empty())
            .ok_or(AuthError::UserEmpty)?;
        if !self.users.contains_key(name) {
            return Err(AuthError::UserNotFound);
        }
        if !self.is_root(name) {
            return Err(AuthError::PermissionDenied);
        }
        Ok(())
    }

    /// etcd's `isOpPermitted`: the user's roles grant `access` on the key, or on all of
    /// [key, range_end).
    pub fn check(
        &self,
        info: Option<&AuthInfo>,
        access: Access,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let info = info
            .filter(|i| i.revision != 0 && !i.username.is_empty())
            .ok_or(AuthError::UserEmpty)?;
        if info.revision < self.revision {
            return Err(AuthError::OldRevision);
        }
        let user = self
            .users
            .get(&info.username)
            .ok_or(AuthError::PermissionDenied)?;
        if user.roles.iter().any(|r| r == ROOT) {
            return Ok(());
        }
        let granted = user
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| &r.key_permission);
        if perms::covers(granted, access, key, range_end) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// An authenticated user (or none when auth is disabled) as of now: a request
    /// without a token but with a verified client certificate is its common name's.
    pub fn info_for(&self, username: &str) -> AuthInfo {
        AuthInfo {
            username: username.to_owned(),
            revision: self.revision,
        }
    }

    // ---- Changes (applied through Raft) ----

    /// AuthEnable: needs a root user with the root role.
    pub fn enable(&mut self) -> Result<(), AuthError> {
        if self.enabled {
            return Ok(());
        }
        let root = self.users.get(ROOT).ok_or(AuthError::RootUserNotExist)?;
        if !root.roles.iter().any(|r| r == ROOT) {
            return Err(AuthError::RootRoleNotExist);
        }
        // As in etcd, enabling does not change the revision.
        self.enabled = true;
        Ok(())
    }

    /// AuthDisable.
    pub fn disable(&mut self) {
        if self.enabled {
            self.enabled = false;
            self.bump();
        }
    }

    /// UserAdd, with the password already hashed (empty for `no_password`).
    pub fn user_add(
        &mut self,
        name: &str,
        hashed_password: &str,
        no_password: bool,
    ) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(AuthError::UserAlreadyExist);
        }
        let user = authpb::User {
            name: name.as_bytes().to_vec(),
            password: if no_password {
                Vec::new()
            } else {
                hashed_password.as_bytes().to_vec()
            },
            roles: Vec::new(),
            options: Some(authpb::UserAddOptions { no_password }),
        };
        self.users.insert(name.to_owned(), user);
        self.bump();
        Ok(())
    }

    /// UserDelete (not root's while auth is enabled).
    pub fn user_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.users.remove(name).ok_or(AuthError::UserNotFound)?;
        self.bump();
        Ok(())
    }

    /// UserChangePassword, with the new password already hashed.
    pub fn user_change_password(
        &mut self,
        name: &str,
        hashed_password: &str,
    ) -> Result<(), AuthError> {
        let user = self.user_mut(name)?;
        user.password = hashed_password.as_bytes().to_vec();
        if let Some(options) = &mut user.options {
            options.no_password = false;
        }
        self.bump();
        Ok(())
    }

    /// UserGrantRole: the role must exist, but for root (as in etcd).
    pub fn user_grant_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if role != ROOT && !self.roles.contains_key(role) {
            // etcd looks the user up first.
            self.user(name)?;
            return Err(AuthError::RoleNotFound);
        }
        let user = self.user_mut(name)?;
        if let Err(at) = user.roles.binary_search_by(|r| r.as_str().cmp(role)) {
            user.roles.insert(at, role.to_owned());
            self.bump();
        }
        Ok(())
    }

    /// UserRevokeRole (not root's root role while auth is enabled).
    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT && role == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let user = self.user_mut(name)?;
        let at = user
            .roles
            .iter()
            .position(|r| r == role)
            .ok_or(AuthError::RoleNotGranted)?;
        user.roles.remove(at);
        self.bump();
        Ok(())
    }

    /// UserGet: the user's roles.
    pub fn user_get(&self, name: &str) -> Result<Vec<String>, AuthError> {
        Ok(self.user(name)?.roles.clone())
    }

    /// UserList.
    pub fn user_list(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// RoleAdd.
    pub fn role_add(&mut self, name: &str) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        self.roles.insert(
            name.to_owned(),
            authpb::Role {
                name: name.as_bytes().to_vec(),
                key_permission: Vec::new(),
            },
        );
        self.bump();
        Ok(())
    }

    /// RoleDelete: also revoked from every user (not root while auth is enabled).
    pub fn role_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.roles.remove(name).ok_or(AuthError::RoleNotFound)?;
        for user in self.users.values_mut() {
            user.roles.retain(|r| r != name);
        }
        self.bump();
        Ok(())
    }

    /// RoleGet: the role's permissions.
    pub fn role_get(&self, name: &str) -> Result<Vec<authpb::Permission>, AuthError> {
        self.roles
            .get(name)
            .map(|r| r.key_permission.clone())
            .ok_or(AuthError::RoleNotFound)
    }

    /// RoleList.
    pub fn role_list(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// RoleGrantPermission: a permission on the same key and range end is replaced.
    pub fn role_grant_permission(
        &mut self,
        name: &str,
        perm: Option<&authpb::Permission>,
    ) -> Result<(), AuthError> {
        let perm = perm.ok_or(AuthError::PermissionNotGiven)?.clone();
        // An empty range (an end at or below the key; "\0" is no end) is refused.
        if !perm.range_end.is_empty() && perm.range_end != [0] && perm.key >= perm.range_end {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let role = self.role_mut(name)?;
        let found = role
            .key_permission
            .binary_search_by(|p| (&p.key, &p.range_end).cmp(&(&perm.key, &perm.range_end)));
        match found {
            Ok(at) => role.key_permission[at].perm_type = perm.perm_type,
            Err(at) => role.key_permission.insert(at, perm),
        }
        self.bump();
        Ok(())
    }

    /// RoleRevokePermission: the permission on exactly this key and range end.
    pub fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        let role = self.role_mut(name)?;
        let at = role
            .key_permission
            .iter()
            .position(|p| p.key == key && p.range_end == range_end)
            .ok_or(AuthError::PermissionNotGranted)?;
        role.key_permission.remove(at);
        self.bump();
        Ok(())
    }

    /// Whether `name` holds `role` (a user may read its own roles' permissions).
    pub fn has_role(&self, name: &str, role: &str) -> bool {
        self.users
            .get(name)
            .is_some_and(|u| u.roles.iter().any(|r| r == role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::authpb::permission::Type;

    fn info(store: &AuthStore, name: &str) -> AuthInfo {
        store.info_for(name)
    }

    fn enabled_with_reader() -> AuthStore {
        let mut store = AuthStore::default();
        store.user_add(ROOT, "hash", false).unwrap();
        store.user_grant_role(ROOT, ROOT).unwrap();
        store.user_add("alice", "hash", false).unwrap();
        store.role_add("reader").unwrap();
        store
            .role_grant_permission(
                "reader",
                Some(&authpb::Permission {
                    perm_type: Type::Read as i32,
                    key: b"a".to_vec(),
                    range_end: b"b".to_vec(),
                }),
            )
            .unwrap();
        store.user_grant_role("alice", "reader").unwrap();
        store.enable().unwrap();
        store
    }

    #[test]
    fn enabling_needs_root_with_the_root_role() {
        let mut store = AuthStore::default();
        assert_eq!(store.enable(), Err(AuthError::RootUserNotExist));
        store.user_add(ROOT, "hash", false).unwrap();
        assert_eq!(store.enable(), Err(AuthError::RootRoleNotExist));
        // root's role need not exist as a role.
        store.user_grant_role(ROOT, ROOT).unwrap();
        store.enable().unwrap();
        assert!(store.enabled());
        assert_eq!(store.user_delete(ROOT), Err(AuthError::InvalidAuthMgmt));
        assert_eq!(
            store.user_revoke_role(ROOT, ROOT),
            Err(AuthError::InvalidAuthMgmt)
        );
    }

    #[test]
    fn checks_follow_roles_and_revisions() {
        let mut store = enabled_with_reader();
        let alice = info(&store, "alice");
        let root = info(&store, ROOT);
        assert_eq!(store.check(Some(&alice), Access::Read, b"a1", b""), Ok(()));
        assert_eq!(
            store.check(Some(&alice), Access::Write, b"a1", b""),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(
            store.check(Some(&alice), Access::Read, b"a", b"c"),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(store.check(Some(&root), Access::Write, b"z", b"\0"), Ok(()));
        assert_eq!(
            store.check(None, Access::Read, b"a1", b""),
            Err(AuthError::UserEmpty)
        );
        assert_eq!(
            store.check_admin(Some(&alice)),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(store.check_admin(Some(&root)), Ok(()));
        // Any change makes earlier tokens' revisions old.
        store.role_add("other").unwrap();
        assert_eq!(
            store.check(Some(&alice), Access::Read, b"a1", b""),
            Err(AuthError::OldRevision)
        );
        // Deleting the role takes it from its users.
        store.role_delete("reader").unwrap();
        let alice = info(&store, "alice");
        assert_eq!(
            store.check(Some(&alice), Access::Read, b"a1", b""),
            Err(AuthError::PermissionDenied)
        );
        assert!(store.user_get("alice").unwrap().is_empty());
    }

    #[test]
    fn management_errors_are_etcds() {
        let mut store = enabled_with_reader();
        assert_eq!(
            store.user_add("alice", "", false),
            Err(AuthError::UserAlreadyExist)
        );
        assert_eq!(store.user_add("", "", false), Err(AuthError::UserEmpty));
        assert_eq!(store.role_add("reader"), Err(AuthError::RoleAlreadyExist));
        assert_eq!(store.role_add(""), Err(AuthError::RoleEmpty));
        assert_eq!(
            store.user_grant_role("bob", "reader"),
            Err(AuthError::UserNotFound)
        );
        assert_eq!(
            store.user_grant_role("alice", "nobody"),
            Err(AuthError::RoleNotFound)
        );
        assert_eq!(
            store.user_revoke_role("alice", "nobody"),
            Err(AuthError::RoleNotGranted)
        );
        assert_eq!(
            store.role_revoke_permission("reader", b"a", b""),
            Err(AuthError::PermissionNotGranted)
        );
        store.role_revoke_permission("reader", b"a", b"b").unwrap();
        assert!(store.role_get("reader").unwrap().is_empty());
        assert_eq!(store.role_get("x"), Err(AuthError::RoleNotFound));
        assert_eq!(
            store.role_grant_permission("reader", None),
            Err(AuthError::PermissionNotGiven)
        );
        let backwards = authpb::Permission {
            perm_type: Type::Read as i32,
            key: b"b".to_vec(),
            range_end: b"a".to_vec(),
        };
        assert_eq!(
            store.role_grant_permission("reader", Some(&backwards)),
            Err(AuthError::InvalidAuthMgmt)
        );
    }

    #[test]
    fn the_store_round_trips_through_its_record() {
        let store = enabled_with_reader();
        assert_eq!(AuthStore::decode(&store.encode()).unwrap(), store);
    }
}
