//! The Auth service, and who a client's request is from.
//!
//! Every auth request goes through Raft, as in etcd, and is checked as it is applied
//! (admin calls need the root role). Passwords are hashed with bcrypt before they are
//! proposed, so the raft log never holds one; Authenticate checks the password on the
//! member that received it, then proposes the new token so that every member knows it.

use tonic::{Request, Response, Status};

use super::status::{auth_status, status};
use crate::auth::apply::AuthAnswer;
use crate::auth::{AuthError, AuthInfo};
use crate::pb::etcdserverpb::{self as pb, auth_server::Auth};
use crate::server::applier::AppliedResponse;
use crate::server::handle::MemberHandle;

/// The metadata key clients send their token under.
const TOKEN_KEY: &str = "token";
/// grpc-gateway's name for it (the JSON gateway's `Authorization` header).
const AUTHORIZATION_KEY: &str = "authorization";

/// How many times Authenticate checks a password again when the auth store changed
/// between the check and the token's proposal.
const AUTHENTICATE_ATTEMPTS: usize = 3;

/// What a request says of its client: its token, and the common name of its verified
/// client certificate.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// The token of the `token` metadata (or `authorization`, grpc-gateway's).
    pub token: Option<String>,
    /// The common name of the client's verified certificate.
    pub common_name: Option<String>,
}

impl Credentials {
    /// The credentials `request` carries. A token that is not text is no valid token.
    pub fn of<T>(request: &Request<T>) -> Credentials {
        let metadata = request.metadata();
        let token = metadata
            .get(TOKEN_KEY)
            .or_else(|| metadata.get(AUTHORIZATION_KEY))
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
        Credentials {
            token,
            common_name: crate::api::client_common_name(request.extensions()),
        }
    }

    /// Who they name on `member`: None while auth is disabled; else the user of the
    /// token (an unknown or expired token fails with etcd's "invalid auth token"), or
    /// the certificate's common name, or nobody.
    pub fn user(&self, member: &MemberHandle) -> Result<Option<AuthInfo>, Status> {
        member
            .auth
            .info(self.token.as_deref(), self.common_name.as_deref())
            .map_err(|e| auth_status(&e))
    }
}

/// Who `request` is from, if an admin (a user with the root role; anyone while auth is
/// disabled), as etcd asks of maintenance and membership calls.
pub fn admin<T>(member: &MemberHandle, request: &Request<T>) -> Result<Option<AuthInfo>, Status> {
    let user = caller(member, request)?;
    member
        .auth
        .read()
        .check_admin(user.as_ref())
        .map_err(|e| auth_status(&e))?;
    Ok(user)
}

/// Who `request` is from, if anyone (anyone at all while auth is disabled): the calls
/// etcd serves to every user (MemberList, Status, listing alarms, lease calls; etcd 3.4
/// served them without a token).
pub fn authenticated<T>(
    member: &MemberHandle,
    request: &Request<T>,
) -> Result<Option<AuthInfo>, Status> {
    let user = caller(member, request)?;
    if user.is_none() && member.auth.read().enabled() {
        return Err(auth_status(&AuthError::UserEmpty));
    }
    Ok(user)
}

/// [`admin`], refusing as etcd's Defragment, Hash, HashKV and Snapshot do: the auth
/// store's own message, with code Unknown.
pub fn admin_unconverted<T>(member: &MemberHandle, request: &Request<T>) -> Result<(), Status> {
    let credentials = Credentials::of(request);
    let user = member
        .auth
        .info(
            credentials.token.as_deref(),
            credentials.common_name.as_deref(),
        )
        .map_err(|e| Status::unknown(e.store_message()))?;
    member
        .auth
        .read()
        .check_admin(user.as_ref())
        .map_err(|e| Status::unknown(e.store_message()))
}

/// `message` as a request to another member on behalf of a client with `credentials`:
/// it carries the client's token.
pub fn forwarded<T>(credentials: &Credentials, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = credentials
        .token
        .as_deref()
        .and_then(|t| t.parse::<tonic::metadata::MetadataValue<_>>().ok())
    {
        request.metadata_mut().insert(TOKEN_KEY, token);
    }
    request
}

/// Who `request` is from (see [`Credentials::user`]).
pub fn caller<T>(member: &MemberHandle, request: &Request<T>) -> Result<Option<AuthInfo>, Status> {
    Credentials::of(request).user(member)
}

/// etcd's Auth service on one member.
pub struct AuthService {
    member: MemberHandle,
}

impl AuthService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> AuthService {
        AuthService { member }
    }

    /// Proposes `request` as the caller of `from`; the applied answer.
    async fn propose<T>(
        &self,
        from: &Request<T>,
        request: pb::InternalRaftRequest,
    ) -> Result<AuthAnswer, Status> {
        let user = caller(&self.member, from)?;
        match self
            .member
            .propose_as(request, user.as_ref())
            .await
            .map_err(status)?
        {
            AppliedResponse::Auth(answer) => Ok(answer),
            _ => Err(Status::internal(
                "etcd-rs: the applier answered a request of another kind",
            )),
        }
    }

    fn header(&self) -> Option<pb::ResponseHeader> {
        Some(self.member.header(self.member.applied().revision))
    }

    /// bcrypt's hash of `password`, computed off the async threads.
    async fn hash(&self, password: String) -> Result<String, Status> {
        let auth = self.member.auth.clone();
        tokio::task::spawn_blocking(move || auth.hash_password(&password))
            .await
            .map_err(|_| Status::internal("etcd-rs: hashing the password failed"))?
            .map_err(|e| auth_status(&e))
    }
}

fn names(answer: AuthAnswer) -> Vec<String> {
    match answer {
        AuthAnswer::Names(names) => names,
        _ => Vec::new(),
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_enable: Some(pb::AuthEnableRequest {}),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthEnableResponse {
            header: self.header(),
        }))
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_disable: Some(pb::AuthDisableRequest {}),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthDisableResponse {
            header: self.header(),
        }))
    }

    async fn auth_status(
        &self,
        request: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_status: Some(pb::AuthStatusRequest {}),
            ..Default::default()
        };
        let (enabled, auth_revision) = match self.propose(&request, internal).await? {
            AuthAnswer::Status { enabled, revision } => (enabled, revision),
            _ => (false, 0),
        };
        Ok(Response::new(pb::AuthStatusResponse {
            header: self.header(),
            enabled,
            auth_revision,
        }))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let pb::AuthenticateRequest { name, password } = request.into_inner();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let auth = self.member.auth.clone();
            let (user, secret) = (name.clone(), password.clone());
            let checked = tokio::task::spawn_blocking(move || auth.check_password(&user, &secret))
                .await
                .map_err(|_| Status::internal("etcd-rs: checking the password failed"))?
                .map_err(|e| auth_status(&e))?;
            // With JWTs, no simple token: this member signs one once the entry is
            // applied (as etcd's, whose JWT provider makes no prefix).
            let token = if self.member.auth.config.jwt.is_some() {
                String::new()
            } else {
                let prefix = crate::auth::tokens::SimpleTokens::random_prefix().map_err(|e| {
                    Status::internal(format!("etcd-rs: no randomness for a token: {e}"))
                })?;
                // etcd's form, `<random>.<raft index>`: the random part makes it unique
                // and unguessable, the index is only informative.
                format!("{prefix}.{}", self.member.applied().index.0 + 1)
            };
            let internal = pb::InternalRaftRequest {
                authenticate: Some(pb::InternalAuthenticateRequest {
                    name: name.clone(),
                    checked_revision: checked,
                    simple_token: token,
                }),
                ..Default::default()
            };
            match self.member.propose(internal).await {
                Ok(AppliedResponse::Auth(AuthAnswer::Token { simple_token, info })) => {
                    let token = self
                        .member
                        .auth
                        .token_for(simple_token, &info)
                        .map_err(|e| auth_status(&e))?;
                    return Ok(Response::new(pb::AuthenticateResponse {
                        header: self.header(),
                        token,
                    }));
                }
                Err(crate::server::handle::ApiError::Auth(AuthError::OldRevision))
                    if attempts < AUTHENTICATE_ATTEMPTS => {}
                Err(e) => return Err(status(e)),
                Ok(_) => {
                    return Err(Status::internal(
                        "etcd-rs: the applier answered a request of another kind",
                    ));
                }
            }
        }
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> Result<Response<pb::AuthUserAddResponse>, Status> {
        let mut add = request.get_ref().clone();
        if add.name.is_empty() {
            return Err(auth_status(&AuthError::UserEmpty));
        }
        let no_password = add.options.is_some_and(|o| o.no_password);
        add.hashed_password = if no_password {
            String::new()
        } else {
            self.hash(std::mem::take(&mut add.password)).await?
        };
        add.password.clear();
        let internal = pb::InternalRaftRequest {
            auth_user_add: Some(add),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthUserAddResponse {
            header: self.header(),
        }))
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_user_get: Some(request.get_ref().clone()),
            ..Default::default()
        };
        let roles = names(self.propose(&request, internal).await?);
        Ok(Response::new(pb::AuthUserGetResponse {
            header: self.header(),
            roles,
        }))
    }

    async fn user_list(
        &self,
        request: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_user_list: Some(pb::AuthUserListRequest {}),
            ..Default::default()
        };
        let users = names(self.propose(&request, internal).await?);
        Ok(Response::new(pb::AuthUserListResponse {
            header: self.header(),
            users,
        }))
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_user_delete: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthUserDeleteResponse {
            header: self.header(),
        }))
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        let mut change = request.get_ref().clone();
        change.hashed_password = self.hash(std::mem::take(&mut change.password)).await?;
        let internal = pb::InternalRaftRequest {
            auth_user_change_password: Some(change),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthUserChangePasswordResponse {
            header: self.header(),
        }))
    }

    async fn user_grant_role(
        &self,
        request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<pb::AuthUserGrantRoleResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_user_grant_role: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthUserGrantRoleResponse {
            header: self.header(),
        }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<pb::AuthUserRevokeRoleResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_user_revoke_role: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthUserRevokeRoleResponse {
            header: self.header(),
        }))
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> Result<Response<pb::AuthRoleAddResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_role_add: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthRoleAddResponse {
            header: self.header(),
        }))
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_role_get: Some(request.get_ref().clone()),
            ..Default::default()
        };
        let perm = match self.propose(&request, internal).await? {
            AuthAnswer::Permissions(perm) => perm,
            _ => Vec::new(),
        };
        Ok(Response::new(pb::AuthRoleGetResponse {
            header: self.header(),
            perm,
        }))
    }

    async fn role_list(
        &self,
        request: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_role_list: Some(pb::AuthRoleListRequest {}),
            ..Default::default()
        };
        let roles = names(self.propose(&request, internal).await?);
        Ok(Response::new(pb::AuthRoleListResponse {
            header: self.header(),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_role_delete: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthRoleDeleteResponse {
            header: self.header(),
        }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<pb::AuthRoleGrantPermissionResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_role_grant_permission: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthRoleGrantPermissionResponse {
            header: self.header(),
        }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<pb::AuthRoleRevokePermissionResponse>, Status> {
        let internal = pb::InternalRaftRequest {
            auth_role_revoke_permission: Some(request.get_ref().clone()),
            ..Default::default()
        };
        self.propose(&request, internal).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse {
            header: self.header(),
        }))
    }
}
