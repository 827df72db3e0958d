//! The Auth service's messages as JSON: enabling auth, Authenticate, and the user and
//! role calls. Beware etcd's field names, which differ from call to call: UserGrantRole
//! names its user `user` but UserRevokeRole `name`; RoleGet, RoleDelete and
//! RoleRevokePermission name the role `role` but RoleAdd and RoleGrantPermission `name`.
//! A permission is `{"permType":"READWRITE","key":..,"range_end":..}`, its type left
//! out when READ (the enum's 0).
//!
//! The requests' `hashedPassword` (etcd 3.5's) is not read: etcd 3.4 does not know it,
//! and the Auth service hashes the password it is given in any case.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::header;
use crate::pb::authpb;
use crate::pb::etcdserverpb as pb;

/// Go's type of `Permission.permType`, in jsonpb's error messages.
const PERMISSION_TYPE: &str = "authpb.Permission_Type";

/// An `AuthEnableRequest`: no fields, but the body must still be well-formed.
pub fn enable_request(_: &Fields<'_>) -> Result<pb::AuthEnableRequest, DecodeError> {
    Ok(pb::AuthEnableRequest {})
}

/// An `AuthDisableRequest`.
pub fn disable_request(_: &Fields<'_>) -> Result<pb::AuthDisableRequest, DecodeError> {
    Ok(pb::AuthDisableRequest {})
}

/// An `AuthStatusRequest` (etcd 3.5's call).
pub fn status_request(_: &Fields<'_>) -> Result<pb::AuthStatusRequest, DecodeError> {
    Ok(pb::AuthStatusRequest {})
}

/// An `AuthenticateRequest`.
pub fn authenticate_request(f: &Fields<'_>) -> Result<pb::AuthenticateRequest, DecodeError> {
    Ok(pb::AuthenticateRequest {
        name: f.string("name", "name")?,
        password: f.string("password", "password")?,
    })
}

fn user_add_options(f: Fields<'_>) -> Result<authpb::UserAddOptions, DecodeError> {
    Ok(authpb::UserAddOptions {
        no_password: f.boolean("no_password", "noPassword")?,
    })
}

/// An `AuthUserAddRequest`.
pub fn user_add_request(f: &Fields<'_>) -> Result<pb::AuthUserAddRequest, DecodeError> {
    Ok(pb::AuthUserAddRequest {
        name: f.string("name", "name")?,
        password: f.string("password", "password")?,
        options: f.message("options", "options", user_add_options)?,
        hashed_password: String::new(),
    })
}

/// An `AuthUserGetRequest`.
pub fn user_get_request(f: &Fields<'_>) -> Result<pb::AuthUserGetRequest, DecodeError> {
    Ok(pb::AuthUserGetRequest {
        name: f.string("name", "name")?,
    })
}

/// An `AuthUserListRequest`.
pub fn user_list_request(_: &Fields<'_>) -> Result<pb::AuthUserListRequest, DecodeError> {
    Ok(pb::AuthUserListRequest {})
}

/// An `AuthUserDeleteRequest`.
pub fn user_delete_request(f: &Fields<'_>) -> Result<pb::AuthUserDeleteRequest, DecodeError> {
    Ok(pb::AuthUserDeleteRequest {
        name: f.string("name", "name")?,
    })
}

/// An `AuthUserChangePasswordRequest`.
pub fn user_change_password_request(
    f: &Fields<'_>,
) -> Result<pb::AuthUserChangePasswordRequest, DecodeError> {
    Ok(pb::AuthUserChangePasswordRequest {
        name: f.string("name", "name")?,
        password: f.string("password", "password")?,
        hashed_password: String::new(),
    })
}

/// An `AuthUserGrantRoleRequest`: the user is `user`.
pub fn user_grant_role_request(
    f: &Fields<'_>,
) -> Result<pb::AuthUserGrantRoleRequest, DecodeError> {
    Ok(pb::AuthUserGrantRoleRequest {
        user: f.string("user", "user")?,
        role: f.string("role", "role")?,
    })
}

/// An `AuthUserRevokeRoleRequest`: the user is `name`.
pub fn user_revoke_role_request(
    f: &Fields<'_>,
) -> Result<pb::AuthUserRevokeRoleRequest, DecodeError> {
    Ok(pb::AuthUserRevokeRoleRequest {
        name: f.string("name", "name")?,
        role: f.string("role", "role")?,
    })
}

/// An `AuthRoleAddRequest`: the role is `name`.
pub fn role_add_request(f: &Fields<'_>) -> Result<pb::AuthRoleAddRequest, DecodeError> {
    Ok(pb::AuthRoleAddRequest {
        name: f.string("name", "name")?,
    })
}

/// An `AuthRoleGetRequest`: the role is `role`.
pub fn role_get_request(f: &Fields<'_>) -> Result<pb::AuthRoleGetRequest, DecodeError> {
    Ok(pb::AuthRoleGetRequest {
        role: f.string("role", "role")?,
    })
}

/// An `AuthRoleListRequest`.
pub fn role_list_request(_: &Fields<'_>) -> Result<pb::AuthRoleListRequest, DecodeError> {
    Ok(pb::AuthRoleListRequest {})
}

/// An `AuthRoleDeleteRequest`: the role is `role`.
pub fn role_delete_request(f: &Fields<'_>) -> Result<pb::AuthRoleDeleteRequest, DecodeError> {
    Ok(pb::AuthRoleDeleteRequest {
        role: f.string("role", "role")?,
    })
}

fn permission(f: Fields<'_>) -> Result<authpb::Permission, DecodeError> {
    Ok(authpb::Permission {
        perm_type: f.enumeration("permType", "permType", PERMISSION_TYPE, |name| {
            authpb::permission::Type::from_str_name(name).map(|v| v as i32)
        })?,
        key: f.bytes("key", "key")?,
        range_end: f.bytes("range_end", "rangeEnd")?,
    })
}

/// An `AuthRoleGrantPermissionRequest`: the role is `name`, the permission `perm`.
pub fn role_grant_permission_request(
    f: &Fields<'_>,
) -> Result<pb::AuthRoleGrantPermissionRequest, DecodeError> {
    Ok(pb::AuthRoleGrantPermissionRequest {
        name: f.string("name", "name")?,
        perm: f.message("perm", "perm", permission)?,
    })
}

/// An `AuthRoleRevokePermissionRequest`: the role is `role`, the range `key` and
/// `range_end` (bytes, so base64).
pub fn role_revoke_permission_request(
    f: &Fields<'_>,
) -> Result<pb::AuthRoleRevokePermissionRequest, DecodeError> {
    Ok(pb::AuthRoleRevokePermissionRequest {
        role: f.string("role", "role")?,
        key: f.bytes("key", "key")?,
        range_end: f.bytes("range_end", "rangeEnd")?,
    })
}

/// A response holding only its header (most of the Auth calls answer one).
pub fn header_response(h: Option<&pb::ResponseHeader>) -> String {
    Object::new().message("header", h.map(header)).finish()
}

/// An `AuthStatusResponse`.
pub fn status_response(r: &pb::AuthStatusResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .boolean("enabled", r.enabled)
        .uint64("authRevision", r.auth_revision)
        .finish()
}

/// An `AuthenticateResponse`.
pub fn authenticate_response(r: &pb::AuthenticateResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .string("token", &r.token)
        .finish()
}

/// An `AuthUserGetResponse`.
pub fn user_get_response(r: &pb::AuthUserGetResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .strings("roles", &r.roles)
        .finish()
}

/// An `AuthUserListResponse`.
pub fn user_list_response(r: &pb::AuthUserListResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .strings("users", &r.users)
        .finish()
}

/// An `AuthRoleGetResponse`.
pub fn role_get_response(r: &pb::AuthRoleGetResponse) -> String {
    let perms = r
        .perm
        .iter()
        .map(|p| {
            Object::new()
                .enumeration("permType", p.perm_type, |v| {
                    authpb::permission::Type::try_from(v)
                        .ok()
                        .map(|t| t.as_str_name())
                })
                .bytes("key", &p.key)
                .bytes("range_end", &p.range_end)
                .finish()
        })
        .collect();
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("perm", perms)
        .finish()
}

/// An `AuthRoleListResponse`.
pub fn role_list_response(r: &pb::AuthRoleListResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .strings("roles", &r.roles)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::super::jsonpb::fields;
    use super::*;

    #[test]
    fn reads_each_calls_names_as_etcd_declares_them() {
        let grant = user_grant_role_request(&fields(r#"{"user":"u","role":"r","name":"x"}"#));
        assert_eq!(
            grant.unwrap(),
            pb::AuthUserGrantRoleRequest {
                user: "u".into(),
                role: "r".into()
            }
        );
        let revoke = user_revoke_role_request(&fields(r#"{"name":"u","role":"r","user":"x"}"#));
        assert_eq!(revoke.unwrap().name, "u");
        let add = user_add_request(&fields(
            r#"{"name":"u","password":"p","options":{"noPassword":true}}"#,
        ))
        .unwrap();
        assert!(add.options.is_some_and(|o| o.no_password));
        let revoke = role_revoke_permission_request(&fields(
            r#"{"role":"r","key":"YQ==","rangeEnd":"Yg=="}"#,
        ))
        .unwrap();
        assert_eq!(
            (revoke.key, revoke.range_end),
            (b"a".to_vec(), b"b".to_vec())
        );
    }

    #[test]
    fn reads_a_permission_and_refuses_an_unknown_type_as_jsonpb_does() {
        let grant = role_grant_permission_request(&fields(
            r#"{"name":"r","perm":{"permType":"READWRITE","key":"Zm9v","range_end":"Zm9w"}}"#,
        ))
        .unwrap();
        let perm = grant.perm.unwrap();
        assert_eq!(perm.perm_type, authpb::permission::Type::Readwrite as i32);
        assert_eq!(
            (perm.key, perm.range_end),
            (b"foo".to_vec(), b"fop".to_vec())
        );
        // Captured from etcd 3.4.23.
        assert_eq!(
            role_grant_permission_request(&fields(r#"{"name":"r","perm":{"permType":"BAD"}}"#))
                .unwrap_err(),
            r#"unknown value "BAD" for enum authpb.Permission_Type"#
        );
        assert_eq!(
            role_revoke_permission_request(&fields(r#"{"role":"r","key":"b"}"#)).unwrap_err(),
            "illegal base64 data at input byte 0"
        );
    }

    #[test]
    fn writes_a_role_get_response_as_etcd_does() {
        let perm = |perm_type: authpb::permission::Type, key: &[u8], range_end: &[u8]| {
            authpb::Permission {
                perm_type: perm_type as i32,
                key: key.to_vec(),
                range_end: range_end.to_vec(),
            }
        };
        let response = pb::AuthRoleGetResponse {
            header: Some(pb::ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 1,
                raft_term: 2,
            }),
            perm: vec![
                perm(authpb::permission::Type::Read, b"a", b""),
                perm(authpb::permission::Type::Write, b"b", b""),
                perm(authpb::permission::Type::Readwrite, b"foo", b"fop"),
            ],
        };
        // etcd 3.4.23's answer (READ, the enum's 0, is left out).
        assert_eq!(
            role_get_response(&response),
            r#"{"header":{"cluster_id":"1","member_id":"2","revision":"1","raft_term":"2"},"perm":[{"key":"YQ=="},{"permType":"WRITE","key":"Yg=="},{"permType":"READWRITE","key":"Zm9v","range_end":"Zm9w"}]}"#
        );
    }

    #[test]
    fn writes_the_auth_revision_as_a_string() {
        let response = pb::AuthStatusResponse {
            header: None,
            enabled: true,
            auth_revision: 7,
        };
        assert_eq!(
            status_response(&response),
            r#"{"enabled":true,"authRevision":"7"}"#
        );
    }
}
