//! Authentication, as etcd enforces it once `auth enable` has run:
//!
//! * `every_rpc_checks_its_permission`: every RPC of every service, called with no token, an
//!   invalid token, a user lacking the permission, a user holding exactly it, and root. Each
//!   cell's expectation (success, or the exact gRPC code and message) is written here; the
//!   matrix is printed (`--nocapture`) and the test fails on any unauthorized success, any
//!   refused call that should pass, or any wrong code/message.
//! * `etcdctl_auth_commands_print_as_etcd`: `etcdctl user/role/auth ...` outputs, captured
//!   from etcd 3.4.23.
//! * `simple_token_expires_after_ttl_idle` and `simple_token_works_on_every_member`.
//! * `jwt_tokens_are_signed_claims_that_expire_and_go_stale`: `--auth-token jwt,...` (RS256).
//!
//! The expectations are those of etcd's release-3.5 branch (and release-3.4 from v3.4.44),
//! which closed several authorization holes that etcd 3.4.23 still has. When the server is
//! real etcd (`ETCD_TEST_BIN` set, i.e. 3.4.23 on this machine), the cells of rows marked
//! with `flaw_3423` may differ: they are shown as `~` and not counted. That is the only
//! special case; every other cell must match etcd 3.4.23 exactly.
//!
//! Raw calls go through tonic with this crate's generated types (`etcd_rs::pb`): the matrix
//! needs to send no token or a forged one and to see the exact status, which the etcd-client
//! crate hides (it authenticates on connect). The token tests use etcd-client's `with_user`.

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_rs::pb::authpb;
use etcd_rs::pb::etcdserverpb as pb;
use etcd_rs::pb::v3electionpb as elpb;
use etcd_rs::pb::v3lockpb as lockpb;
use pb::auth_client::AuthClient;
use pb::cluster_client::ClusterClient;
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::maintenance_client::MaintenanceClient;
use pb::watch_client::WatchClient;
use support::{Member, enable_auth_with_a_reader};
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Bounds each call of the matrix (a refused Campaign or Lock must not hang the test).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A token of the simple-token shape that the server never issued.
const FORGED_TOKEN: &str = "AAAAAAAAAAAAAAAA.1";
const ROOT_PASSWORD: &str = "rootpw";

/// Whether the server under test is real etcd (3.4.23 on this machine).
fn server_is_etcd() -> bool {
    std::env::var_os("ETCD_TEST_BIN").is_some()
}

// ---------------------------------------------------------------------------------------
// Outcomes and expectations
// ---------------------------------------------------------------------------------------

/// What a call did, as the client saw it.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    /// A gRPC error status.
    Err(Code, String),
    /// A watch created and at once canceled with this reason (how Watch refuses).
    Canceled(String),
    /// A server stream that ended with status OK before its first message (how Observe
    /// refuses: the election's range fails inside the server and the stream just ends).
    Ended,
}

impl Outcome {
    fn from_status(status: &Status) -> Outcome {
        Outcome::Err(status.code(), status.message().to_string())
    }

    fn short(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Err(code, msg) if msg.starts_with("auth:") => {
                format!("{}(raw)", *code as i32)
            }
            Outcome::Err(code, _) => format!("{}", *code as i32),
            Outcome::Canceled(_) => "cancel".into(),
            Outcome::Ended => "ended".into(),
        }
    }
}

/// What an RPC needs once auth is enabled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// Nothing: any caller, even without a token.
    Nothing,
    /// A valid token of any user.
    Token,
    /// An RBAC permission on keys (or, for UserGet/RoleGet, being that user / having that
    /// role), held by the row's `exact` user and not by its `lacking` user.
    Permission,
    /// The root role.
    Admin,
}

/// How a refusal looks for this RPC.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    /// A converted gRPC status: `etcdserver: ...` with its proper code.
    Grpc,
    /// The raw auth error: code Unknown, `auth: ...` (Maintenance Defragment, Hash, HashKV,
    /// Snapshot: etcd's authMaintenanceServer returns the auth package's error as is).
    RawAuth,
    /// A watch response with `created` and `canceled` set and the reason in `cancel_reason`
    /// (the stream itself opens even with a forged token).
    WatchCancel,
    /// Code Unknown with the `etcdserver: ...` message (Lock and Election: the server calls
    /// itself through etcd's in-process client, whose error has no gRPC status).
    Unknown,
    /// Observe: the stream ends, status OK, no message.
    StreamEnds,
}

/// The three ways auth refuses.
#[derive(Debug, Clone, Copy)]
enum Why {
    NoUser,
    BadToken,
    Denied,
}

fn refusal(style: Refusal, why: Why) -> Outcome {
    let (code, text) = match why {
        Why::NoUser => (Code::InvalidArgument, "user name is empty"),
        Why::BadToken => (Code::Unauthenticated, "invalid auth token"),
        Why::Denied => (Code::PermissionDenied, "permission denied"),
    };
    match style {
        Refusal::Grpc => Outcome::Err(code, format!("etcdserver: {text}")),
        Refusal::RawAuth => Outcome::Err(Code::Unknown, format!("auth: {text}")),
        // The reason is the Go status's text: `rpc error: code = <Name> desc = <message>`.
        Refusal::WatchCancel => Outcome::Canceled(format!(
            "rpc error: code = {} desc = etcdserver: {text}",
            match why {
                Why::NoUser => "InvalidArgument",
                Why::BadToken => "Unauthenticated",
                Why::Denied => "PermissionDenied",
            }
        )),
        Refusal::Unknown => Outcome::Err(Code::Unknown, format!("etcdserver: {text}")),
        Refusal::StreamEnds => Outcome::Ended,
    }
}

/// The users of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum User {
    /// READWRITE on `other/` only: authenticated, but lacks every permission below.
    Plain,
    /// READ on prefix `k/`.
    Reader,
    /// WRITE on prefix `k/`.
    Writer,
    /// READWRITE on prefix `k/`.
    Rw,
    /// WRITE on prefixes `k/` and `o/` (for leases with keys under `o/`).
    LeaseWriter,
    /// Role root.
    Root,
}

impl User {
    fn name(self) -> &'static str {
        match self {
            User::Plain => "plain",
            User::Reader => "reader",
            User::Writer => "writer",
            User::Rw => "rw",
            User::LeaseWriter => "leasewriter",
            User::Root => "root",
        }
    }
}

/// The columns of the matrix.
#[derive(Debug, Clone, Copy)]
enum Caller {
    NoToken,
    ForgedToken,
    Lacking,
    Exact,
    Root,
}

const CALLERS: [Caller; 5] = [
    Caller::NoToken,
    Caller::ForgedToken,
    Caller::Lacking,
    Caller::Exact,
    Caller::Root,
];

/// Every RPC (and side path) of the matrix.
#[derive(Debug, Clone, Copy)]
enum Rpc {
    Range,
    Put,
    PutPrevKv,
    PutWithLease,
    DeleteRange,
    DeleteRangePrevKv,
    Txn,
    TxnNested,
    TxnPutPrevKv,
    TxnPutWithLease,
    Compact,
    Watch,
    LeaseGrant,
    LeaseRevoke,
    LeaseKeepAlive,
    LeaseTimeToLive,
    LeaseTimeToLiveKeys,
    LeaseLeases,
    MemberAdd,
    MemberRemove,
    MemberUpdate,
    MemberList,
    MemberPromote,
    AlarmGet,
    AlarmDeactivate,
    Status,
    Defragment,
    Hash,
    HashKv,
    Snapshot,
    MoveLeader,
    AuthStatus,
    AuthEnable,
    Authenticate,
    UserAdd,
    UserGet,
    UserList,
    UserDelete,
    UserChangePassword,
    UserGrantRole,
    UserRevokeRole,
    RoleAdd,
    RoleGet,
    RoleList,
    RoleDelete,
    RoleGrantPermission,
    RoleRevokePermission,
    Lock,
    Unlock,
    Campaign,
    Proclaim,
    Leader,
    Observe,
    Resign,
    /// Last: a success disables auth (the test enables it again and logs in anew).
    AuthDisable,
}

/// One row of the matrix.
struct Row {
    rpc: Rpc,
    need: Need,
    lacking: User,
    exact: User,
    refusal: Refusal,
    /// A non-auth error that still proves the call passed the auth check (e.g. promoting a
    /// learner that is not running).
    allowed_error: Option<&'static str>,
    /// Why etcd 3.4.23 differs (the etcd fix), if it does.
    flaw_3423: Option<&'static str>,
}

const fn row(rpc: Rpc, need: Need, lacking: User, exact: User) -> Row {
    Row {
        rpc,
        need,
        lacking,
        exact,
        refusal: Refusal::Grpc,
        allowed_error: None,
        flaw_3423: None,
    }
}

const fn raw(mut r: Row) -> Row {
    r.refusal = Refusal::RawAuth;
    r
}

const fn unknown(mut r: Row) -> Row {
    r.refusal = Refusal::Unknown;
    r
}

const fn flaw(mut r: Row, why: &'static str) -> Row {
    r.flaw_3423 = Some(why);
    r
}

fn rows() -> Vec<Row> {
    use Need::*;
    use Rpc::*;
    use User::*;
    let admin = |rpc| row(rpc, Admin, Plain, Root);
    vec![
        row(Range, Permission, Plain, Reader),
        row(Put, Permission, Reader, Writer),
        // prev_kv needs read too.
        row(PutPrevKv, Permission, Writer, Rw),
        // A lease carries write permission on every key already attached to it (o/leased).
        row(PutWithLease, Permission, Writer, LeaseWriter),
        row(DeleteRange, Permission, Reader, Writer),
        row(DeleteRangePrevKv, Permission, Writer, Rw),
        // Compare needs read, success Put needs write, failure Range needs read.
        row(Txn, Permission, Writer, Rw),
        flaw(
            row(TxnNested, Permission, Plain, Reader),
            "nested txn ops unchecked until v3.4.42 (012f44459)",
        ),
        flaw(
            row(TxnPutPrevKv, Permission, Writer, Rw),
            "Put prev_kv in a txn unchecked until v3.4.44 (0cb3ebb42)",
        ),
        flaw(
            row(TxnPutWithLease, Permission, Writer, LeaseWriter),
            "Put lease in a txn unchecked until v3.4.44 (0cb3ebb42)",
        ),
        flaw(
            admin(Compact),
            "Compact unchecked until v3.4.42 (81fcc3f9e)",
        ),
        Row {
            refusal: Refusal::WatchCancel,
            ..row(Watch, Permission, Plain, Reader)
        },
        flaw(
            row(LeaseGrant, Token, Plain, Plain),
            "no token needed until v3.4.42 (81fcc3f9e)",
        ),
        row(LeaseRevoke, Permission, Plain, Writer),
        flaw(
            row(LeaseKeepAlive, Permission, Plain, Writer),
            "keep-alive unchecked until v3.4.42 (81fcc3f9e)",
        ),
        flaw(
            row(LeaseTimeToLive, Token, Plain, Plain),
            "no token needed until v3.4.42 (81fcc3f9e)",
        ),
        flaw(
            row(LeaseTimeToLiveKeys, Permission, Plain, Reader),
            "attached key names shown to anyone until v3.4.26 (71e85e9de)",
        ),
        flaw(
            row(LeaseLeases, Permission, Plain, Reader),
            "unchecked until v3.4.42 (81fcc3f9e)",
        ),
        admin(MemberAdd),
        admin(MemberRemove),
        admin(MemberUpdate),
        flaw(
            row(MemberList, Token, Plain, Plain),
            "no token needed until v3.4.42/43 (81fcc3f9e, 084077d07)",
        ),
        Row {
            allowed_error: Some(
                "etcdserver: can only promote a learner member which is in sync with leader",
            ),
            ..admin(MemberPromote)
        },
        flaw(
            row(AlarmGet, Token, Plain, Plain),
            "no token needed until v3.4.42/43 (81fcc3f9e, 084077d07)",
        ),
        flaw(
            admin(AlarmDeactivate),
            "anyone could raise or clear alarms until v3.4.42 (81fcc3f9e)",
        ),
        flaw(
            row(Status, Token, Plain, Plain),
            "no token needed until v3.4.42 (81fcc3f9e; 3.5 c2f6dac8d: any user)",
        ),
        raw(admin(Defragment)),
        raw(admin(Hash)),
        raw(admin(HashKv)),
        raw(admin(Snapshot)),
        flaw(admin(MoveLeader), "unchecked until v3.4.42 (81fcc3f9e)"),
        flaw(admin(AuthStatus), "no AuthStatus RPC before 3.5"),
        admin(AuthEnable),
        flaw(
            row(Authenticate, Nothing, Plain, Plain),
            "a forged token fails Authenticate until 1fc259d65 (after 3.4.23)",
        ),
        admin(UserAdd),
        // Oneself (reader gets reader), or root.
        row(UserGet, Permission, Plain, Reader),
        admin(UserList),
        admin(UserDelete),
        // plain changes its own password: refused, only root may.
        admin(UserChangePassword),
        admin(UserGrantRole),
        admin(UserRevokeRole),
        admin(RoleAdd),
        // A role one holds (reader gets readrole), or root.
        row(RoleGet, Permission, Plain, Reader),
        admin(RoleList),
        admin(RoleDelete),
        admin(RoleGrantPermission),
        admin(RoleRevokePermission),
        // Lock and Campaign run a txn on `name/<lease>` and read/watch `name/`.
        unknown(row(Lock, Permission, Reader, Rw)),
        unknown(row(Unlock, Permission, Reader, Writer)),
        unknown(row(Campaign, Permission, Reader, Rw)),
        unknown(row(Proclaim, Permission, Reader, Rw)),
        unknown(row(Leader, Permission, Plain, Reader)),
        Row {
            refusal: Refusal::StreamEnds,
            ..row(Observe, Permission, Plain, Reader)
        },
        unknown(row(Resign, Permission, Reader, Rw)),
        admin(AuthDisable),
    ]
}

impl Row {
    fn user(&self, caller: Caller) -> Option<User> {
        match caller {
            Caller::NoToken | Caller::ForgedToken => None,
            Caller::Lacking => Some(self.lacking),
            Caller::Exact => Some(self.exact),
            Caller::Root => Some(User::Root),
        }
    }

    /// The outcome the facts say this cell must have.
    fn expected(&self, caller: Caller) -> Outcome {
        match (caller, self.need) {
            (_, Need::Nothing) => Outcome::Ok,
            (Caller::NoToken, _) => refusal(self.refusal, Why::NoUser),
            (Caller::ForgedToken, _) => refusal(self.refusal, Why::BadToken),
            (Caller::Lacking, Need::Token) => Outcome::Ok,
            (Caller::Lacking, _) => refusal(self.refusal, Why::Denied),
            (Caller::Exact | Caller::Root, _) => Outcome::Ok,
        }
    }

    /// Whether `actual` is what this cell must do.
    fn matches(&self, caller: Caller, actual: &Outcome) -> bool {
        let expected = self.expected(caller);
        if expected == Outcome::Ok {
            if let (Some(allowed), Outcome::Err(_, msg)) = (self.allowed_error, actual) {
                return msg == allowed;
            }
        }
        *actual == expected
    }
}

// ---------------------------------------------------------------------------------------
// The environment: one member with auth enabled, its users and their tokens
// ---------------------------------------------------------------------------------------

struct Env {
    member: Member,
    channel: Channel,
    member_id: u64,
    tokens: Mutex<HashMap<User, String>>,
    unique: AtomicU64,
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("token", token.parse().expect("token is ASCII"));
    }
    request
}

fn perm(kind: authpb::permission::Type, key: &str, range_end: &str) -> authpb::Permission {
    authpb::Permission {
        perm_type: kind as i32,
        key: key.as_bytes().to_vec(),
        range_end: range_end.as_bytes().to_vec(),
    }
}

fn password(user: User) -> String {
    if user == User::Root {
        ROOT_PASSWORD.to_string()
    } else {
        format!("{}pw", user.name())
    }
}

impl Env {
    /// Starts a member, creates the users and roles with auth disabled, enables auth and
    /// logs every user in.
    async fn start() -> Env {
        let member = Member::start(&[]);
        let channel = Channel::from_shared(member.client_url())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut auth = AuthClient::new(channel.clone());
        use authpb::permission::Type::{Read, Readwrite, Write};
        let roles: [(&str, Vec<authpb::Permission>); 6] = [
            ("otherrole", vec![perm(Readwrite, "other/", "other0")]),
            ("readrole", vec![perm(Read, "k/", "k0")]),
            ("writerole", vec![perm(Write, "k/", "k0")]),
            ("rwrole", vec![perm(Readwrite, "k/", "k0")]),
            ("owriterole", vec![perm(Write, "o/", "o0")]),
            ("root", vec![]),
        ];
        for (name, perms) in roles {
            auth.role_add(pb::AuthRoleAddRequest { name: name.into() })
                .await
                .expect("role add");
            for p in perms {
                auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest {
                    name: name.into(),
                    perm: Some(p),
                })
                .await
                .expect("grant permission");
            }
        }
        let users: [(User, &[&str]); 6] = [
            (User::Plain, &["otherrole"]),
            (User::Reader, &["readrole"]),
            (User::Writer, &["writerole"]),
            (User::Rw, &["rwrole"]),
            (User::LeaseWriter, &["writerole", "owriterole"]),
            (User::Root, &["root"]),
        ];
        for (user, user_roles) in users {
            auth.user_add(pb::AuthUserAddRequest {
                name: user.name().into(),
                password: password(user),
                ..Default::default()
            })
            .await
            .expect("user add");
            for role in user_roles {
                auth.user_grant_role(pb::AuthUserGrantRoleRequest {
                    user: user.name().into(),
                    role: role.to_string(),
                })
                .await
                .expect("grant role");
            }
        }
        let status = MaintenanceClient::new(channel.clone())
            .status(pb::StatusRequest {})
            .await
            .expect("status")
            .into_inner();
        let env = Env {
            member,
            channel,
            member_id: status.header.expect("header").member_id,
            tokens: Mutex::new(HashMap::new()),
            unique: AtomicU64::new(0),
        };
        env.enable_and_login().await;
        env
    }

    async fn enable_and_login(&self) {
        AuthClient::new(self.channel.clone())
            .auth_enable(pb::AuthEnableRequest {})
            .await
            .expect("auth enable");
        let mut tokens = HashMap::new();
        for user in [
            User::Plain,
            User::Reader,
            User::Writer,
            User::Rw,
            User::LeaseWriter,
            User::Root,
        ] {
            tokens.insert(user, self.login(user.name(), &password(user)).await);
        }
        *self.tokens.lock().expect("tokens") = tokens;
    }

    async fn login(&self, name: &str, password: &str) -> String {
        AuthClient::new(self.channel.clone())
            .authenticate(pb::AuthenticateRequest {
                name: name.into(),
                password: password.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("authenticate {name}: {e}"))
            .into_inner()
            .token
    }

    fn token(&self, user: User) -> String {
        self.tokens.lock().expect("tokens")[&user].clone()
    }

    fn root(&self) -> Option<String> {
        Some(self.token(User::Root))
    }

    fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.unique.fetch_add(1, Ordering::Relaxed))
    }

    fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone())
    }
    fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone())
    }
    fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel.clone())
    }
    fn maint(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel.clone())
    }
    fn auth(&self) -> AuthClient<Channel> {
        AuthClient::new(self.channel.clone())
    }
    fn lock(&self) -> lockpb::lock_client::LockClient<Channel> {
        lockpb::lock_client::LockClient::new(self.channel.clone())
    }
    fn election(&self) -> elpb::election_client::ElectionClient<Channel> {
        elpb::election_client::ElectionClient::new(self.channel.clone())
    }

    // Root-side fixtures.

    async fn root_put(&self, key: &str, lease: i64) -> i64 {
        let put = pb::PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease,
            ..Default::default()
        };
        self.kv()
            .put(with_token(put, self.root().as_deref()))
            .await
            .expect("root put")
            .into_inner()
            .header
            .expect("header")
            .revision
    }

    async fn root_lease(&self) -> i64 {
        let grant = pb::LeaseGrantRequest { ttl: 600, id: 0 };
        self.lease()
            .lease_grant(with_token(grant, self.root().as_deref()))
            .await
            .expect("root lease grant")
            .into_inner()
            .id
    }

    async fn root_lease_with_key(&self, key: &str) -> i64 {
        let id = self.root_lease().await;
        self.root_put(key, id).await;
        id
    }

    async fn root_revoke(&self, id: i64) {
        let _ = self
            .lease()
            .lease_revoke(with_token(
                pb::LeaseRevokeRequest { id },
                self.root().as_deref(),
            ))
            .await;
    }

    async fn root_revoke_all_leases(&self) {
        let leases = self
            .lease()
            .lease_leases(with_token(
                pb::LeaseLeasesRequest {},
                self.root().as_deref(),
            ))
            .await
            .expect("root leases")
            .into_inner()
            .leases;
        for lease in leases {
            self.root_revoke(lease.id).await;
        }
    }

    async fn root_add_learner(&self) -> u64 {
        let url = format!("http://127.0.0.1:{}", support::cluster::free_port());
        let add = pb::MemberAddRequest {
            peer_ur_ls: vec![url],
            is_learner: true,
        };
        self.cluster()
            .member_add(with_token(add, self.root().as_deref()))
            .await
            .expect("root member add")
            .into_inner()
            .member
            .expect("member")
            .id
    }

    async fn root_remove_member(&self, id: u64) {
        let _ = self
            .cluster()
            .member_remove(with_token(
                pb::MemberRemoveRequest { id },
                self.root().as_deref(),
            ))
            .await;
    }

    async fn root_add_user(&self, name: &str) {
        let add = pb::AuthUserAddRequest {
            name: name.into(),
            password: "p".into(),
            ..Default::default()
        };
        self.auth()
            .user_add(with_token(add, self.root().as_deref()))
            .await
            .expect("root user add");
    }

    async fn root_add_role(&self, name: &str) {
        self.auth()
            .role_add(with_token(
                pb::AuthRoleAddRequest { name: name.into() },
                self.root().as_deref(),
            ))
            .await
            .expect("root role add");
    }

    /// Root campaigns on `name` with a fresh lease: (lease, leader key).
    async fn root_campaign(&self, name: &str) -> (i64, elpb::LeaderKey) {
        let lease = self.root_lease().await;
        let campaign = elpb::CampaignRequest {
            name: name.into(),
            lease,
            value: b"root".to_vec(),
        };
        let leader = self
            .election()
            .campaign(with_token(campaign, self.root().as_deref()))
            .await
            .expect("root campaign")
            .into_inner()
            .leader
            .expect("leader key");
        (lease, leader)
    }

    // The calls.

    async fn call(&self, rpc: Rpc, token: Option<&str>) -> Outcome {
        match tokio::time::timeout(CALL_TIMEOUT, self.call_unbounded(rpc, token)).await {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(outcome)) => outcome,
            Err(_) => Outcome::Err(Code::DeadlineExceeded, "test: no answer".into()),
        }
    }

    /// Sets up what the call needs (as root), makes the call with `token`, and cleans up.
    async fn call_unbounded(&self, rpc: Rpc, token: Option<&str>) -> Result<(), Outcome> {
        let st = |s: Status| Outcome::from_status(&s);
        let kv_put = |key: &str, lease: i64, prev_kv: bool| pb::PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease,
            prev_kv,
            ..Default::default()
        };
        let op_put = |put: pb::PutRequest| pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(put)),
        };
        let op_range = |key: &str| pb::RequestOp {
            request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
                key: key.into(),
                ..Default::default()
            })),
        };
        match rpc {
            Rpc::Range => {
                let range = pb::RangeRequest {
                    key: "k/a".into(),
                    ..Default::default()
                };
                self.kv()
                    .range(with_token(range, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Put | Rpc::PutPrevKv => {
                let put = kv_put("k/a", 0, matches!(rpc, Rpc::PutPrevKv));
                self.kv().put(with_token(put, token)).await.map_err(st)?;
            }
            Rpc::PutWithLease | Rpc::TxnPutWithLease => {
                let lease = self.root_lease_with_key("o/leased").await;
                let put = kv_put("k/a", lease, false);
                let result = if matches!(rpc, Rpc::PutWithLease) {
                    self.kv().put(with_token(put, token)).await.map(drop)
                } else {
                    let txn = pb::TxnRequest {
                        success: vec![op_put(put)],
                        ..Default::default()
                    };
                    self.kv().txn(with_token(txn, token)).await.map(drop)
                };
                self.root_revoke(lease).await;
                result.map_err(st)?;
            }
            Rpc::DeleteRange | Rpc::DeleteRangePrevKv => {
                let delete = pb::DeleteRangeRequest {
                    key: "k/a".into(),
                    range_end: "k/b".into(),
                    prev_kv: matches!(rpc, Rpc::DeleteRangePrevKv),
                };
                self.kv()
                    .delete_range(with_token(delete, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Txn => {
                let txn = pb::TxnRequest {
                    compare: vec![pb::Compare {
                        result: pb::compare::CompareResult::Equal as i32,
                        target: pb::compare::CompareTarget::Version as i32,
                        key: "k/a".into(),
                        range_end: vec![],
                        target_union: Some(pb::compare::TargetUnion::Version(0)),
                    }],
                    success: vec![op_put(kv_put("k/a", 0, false))],
                    failure: vec![op_range("k/b")],
                };
                self.kv().txn(with_token(txn, token)).await.map_err(st)?;
            }
            Rpc::TxnNested => {
                let inner = pb::TxnRequest {
                    success: vec![op_range("k/a")],
                    ..Default::default()
                };
                let txn = pb::TxnRequest {
                    success: vec![pb::RequestOp {
                        request: Some(pb::request_op::Request::RequestTxn(inner)),
                    }],
                    ..Default::default()
                };
                self.kv().txn(with_token(txn, token)).await.map_err(st)?;
            }
            Rpc::TxnPutPrevKv => {
                let txn = pb::TxnRequest {
                    success: vec![op_put(kv_put("k/a", 0, true))],
                    ..Default::default()
                };
                self.kv().txn(with_token(txn, token)).await.map_err(st)?;
            }
            Rpc::Compact => {
                let revision = self.root_put("k/compact", 0).await;
                let compact = pb::CompactionRequest {
                    revision,
                    physical: false,
                };
                self.kv()
                    .compact(with_token(compact, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Watch => {
                let create = pb::WatchRequest {
                    request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                        pb::WatchCreateRequest {
                            key: "k/a".into(),
                            ..Default::default()
                        },
                    )),
                };
                let requests = tokio_stream::iter(vec![create]).chain(tokio_stream::pending());
                let mut responses = WatchClient::new(self.channel.clone())
                    .watch(with_token(requests, token))
                    .await
                    .map_err(st)?
                    .into_inner();
                let first = responses
                    .message()
                    .await
                    .map_err(st)?
                    .ok_or_else(|| Outcome::Err(Code::Unknown, "test: watch ended".into()))?;
                if first.canceled {
                    return Err(Outcome::Canceled(first.cancel_reason));
                }
            }
            Rpc::LeaseGrant => {
                let grant = pb::LeaseGrantRequest { ttl: 600, id: 0 };
                let id = self
                    .lease()
                    .lease_grant(with_token(grant, token))
                    .await
                    .map_err(st)?
                    .into_inner()
                    .id;
                self.root_revoke(id).await;
            }
            Rpc::LeaseRevoke => {
                let id = self.root_lease_with_key("k/leased").await;
                let result = self
                    .lease()
                    .lease_revoke(with_token(pb::LeaseRevokeRequest { id }, token))
                    .await;
                self.root_revoke(id).await;
                result.map_err(st)?;
            }
            Rpc::LeaseKeepAlive => {
                let id = self.root_lease_with_key("k/leased").await;
                let result = self.keep_alive_once(id, token).await;
                self.root_revoke(id).await;
                result?;
            }
            Rpc::LeaseTimeToLive | Rpc::LeaseTimeToLiveKeys => {
                let id = self.root_lease_with_key("k/leased").await;
                let ttl = pb::LeaseTimeToLiveRequest {
                    id,
                    keys: matches!(rpc, Rpc::LeaseTimeToLiveKeys),
                };
                let result = self
                    .lease()
                    .lease_time_to_live(with_token(ttl, token))
                    .await;
                self.root_revoke(id).await;
                result.map_err(st)?;
            }
            Rpc::LeaseLeases => {
                self.root_revoke_all_leases().await;
                let id = self.root_lease_with_key("k/leased").await;
                let result = self
                    .lease()
                    .lease_leases(with_token(pb::LeaseLeasesRequest {}, token))
                    .await;
                self.root_revoke(id).await;
                result.map_err(st)?;
            }
            Rpc::MemberAdd => {
                let url = format!("http://127.0.0.1:{}", support::cluster::free_port());
                let add = pb::MemberAddRequest {
                    peer_ur_ls: vec![url],
                    is_learner: true,
                };
                let added = self
                    .cluster()
                    .member_add(with_token(add, token))
                    .await
                    .map_err(st)?;
                let id = added.into_inner().member.expect("member").id;
                self.root_remove_member(id).await;
            }
            Rpc::MemberRemove | Rpc::MemberPromote => {
                let id = self.root_add_learner().await;
                let result = if matches!(rpc, Rpc::MemberRemove) {
                    let remove = pb::MemberRemoveRequest { id };
                    self.cluster()
                        .member_remove(with_token(remove, token))
                        .await
                        .map(drop)
                } else {
                    let promote = pb::MemberPromoteRequest { id };
                    self.cluster()
                        .member_promote(with_token(promote, token))
                        .await
                        .map(drop)
                };
                self.root_remove_member(id).await;
                result.map_err(st)?;
            }
            Rpc::MemberUpdate => {
                let update = pb::MemberUpdateRequest {
                    id: self.member_id,
                    peer_ur_ls: vec![self.member.peer_url()],
                };
                self.cluster()
                    .member_update(with_token(update, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::MemberList => {
                let list = pb::MemberListRequest::default();
                self.cluster()
                    .member_list(with_token(list, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::AlarmGet | Rpc::AlarmDeactivate => {
                let (action, alarm) = if matches!(rpc, Rpc::AlarmGet) {
                    (pb::alarm_request::AlarmAction::Get, pb::AlarmType::None)
                } else {
                    (
                        pb::alarm_request::AlarmAction::Deactivate,
                        pb::AlarmType::Nospace,
                    )
                };
                let request = pb::AlarmRequest {
                    action: action as i32,
                    member_id: self.member_id,
                    alarm: alarm as i32,
                };
                self.maint()
                    .alarm(with_token(request, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Status => {
                self.maint()
                    .status(with_token(pb::StatusRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Defragment => {
                self.maint()
                    .defragment(with_token(pb::DefragmentRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Hash => {
                self.maint()
                    .hash(with_token(pb::HashRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::HashKv => {
                self.maint()
                    .hash_kv(with_token(pb::HashKvRequest { revision: 0 }, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Snapshot => {
                let mut chunks = self
                    .maint()
                    .snapshot(with_token(pb::SnapshotRequest {}, token))
                    .await
                    .map_err(st)?
                    .into_inner();
                chunks
                    .message()
                    .await
                    .map_err(st)?
                    .ok_or_else(|| Outcome::Err(Code::Unknown, "test: no snapshot".into()))?;
            }
            Rpc::MoveLeader => {
                let request = pb::MoveLeaderRequest {
                    target_id: self.member_id,
                };
                self.maint()
                    .move_leader(with_token(request, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::AuthStatus => {
                self.auth()
                    .auth_status(with_token(pb::AuthStatusRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::AuthEnable => {
                self.auth()
                    .auth_enable(with_token(pb::AuthEnableRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::AuthDisable => {
                self.auth()
                    .auth_disable(with_token(pb::AuthDisableRequest {}, token))
                    .await
                    .map_err(st)?;
                self.enable_and_login().await;
            }
            Rpc::Authenticate => {
                let request = pb::AuthenticateRequest {
                    name: "plain".into(),
                    password: password(User::Plain),
                };
                self.auth()
                    .authenticate(with_token(request, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::UserAdd => {
                let add = pb::AuthUserAddRequest {
                    name: self.unique("newuser"),
                    password: "p".into(),
                    ..Default::default()
                };
                self.auth()
                    .user_add(with_token(add, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::UserGet => {
                let get = pb::AuthUserGetRequest {
                    name: "reader".into(),
                };
                self.auth()
                    .user_get(with_token(get, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::UserList => {
                self.auth()
                    .user_list(with_token(pb::AuthUserListRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::UserDelete => {
                let name = self.unique("deluser");
                self.root_add_user(&name).await;
                self.auth()
                    .user_delete(with_token(pb::AuthUserDeleteRequest { name }, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::UserChangePassword => {
                // plain's own password, set to what it already is.
                let change = pb::AuthUserChangePasswordRequest {
                    name: "plain".into(),
                    password: password(User::Plain),
                    ..Default::default()
                };
                self.auth()
                    .user_change_password(with_token(change, token))
                    .await
                    .map_err(st)?;
                // A password change ends the user's tokens.
                let fresh = self.login("plain", &password(User::Plain)).await;
                self.tokens
                    .lock()
                    .expect("tokens")
                    .insert(User::Plain, fresh);
            }
            Rpc::UserGrantRole | Rpc::UserRevokeRole => {
                let user = self.unique("roleuser");
                self.root_add_user(&user).await;
                if matches!(rpc, Rpc::UserGrantRole) {
                    let grant = pb::AuthUserGrantRoleRequest {
                        user,
                        role: "readrole".into(),
                    };
                    self.auth()
                        .user_grant_role(with_token(grant, token))
                        .await
                        .map_err(st)?;
                } else {
                    let grant = pb::AuthUserGrantRoleRequest {
                        user: user.clone(),
                        role: "readrole".into(),
                    };
                    self.auth()
                        .user_grant_role(with_token(grant, self.root().as_deref()))
                        .await
                        .expect("root grant role");
                    let revoke = pb::AuthUserRevokeRoleRequest {
                        name: user,
                        role: "readrole".into(),
                    };
                    self.auth()
                        .user_revoke_role(with_token(revoke, token))
                        .await
                        .map_err(st)?;
                }
            }
            Rpc::RoleAdd => {
                let add = pb::AuthRoleAddRequest {
                    name: self.unique("newrole"),
                };
                self.auth()
                    .role_add(with_token(add, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::RoleGet => {
                let get = pb::AuthRoleGetRequest {
                    role: "readrole".into(),
                };
                self.auth()
                    .role_get(with_token(get, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::RoleList => {
                self.auth()
                    .role_list(with_token(pb::AuthRoleListRequest {}, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::RoleDelete => {
                let role = self.unique("delrole");
                self.root_add_role(&role).await;
                self.auth()
                    .role_delete(with_token(pb::AuthRoleDeleteRequest { role }, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::RoleGrantPermission | Rpc::RoleRevokePermission => {
                let role = self.unique("permrole");
                self.root_add_role(&role).await;
                let grant = |name: String| pb::AuthRoleGrantPermissionRequest {
                    name,
                    perm: Some(perm(authpb::permission::Type::Read, "g/", "g0")),
                };
                if matches!(rpc, Rpc::RoleGrantPermission) {
                    self.auth()
                        .role_grant_permission(with_token(grant(role), token))
                        .await
                        .map_err(st)?;
                } else {
                    self.auth()
                        .role_grant_permission(with_token(
                            grant(role.clone()),
                            self.root().as_deref(),
                        ))
                        .await
                        .expect("root grant permission");
                    let revoke = pb::AuthRoleRevokePermissionRequest {
                        role,
                        key: "g/".into(),
                        range_end: "g0".into(),
                    };
                    self.auth()
                        .role_revoke_permission(with_token(revoke, token))
                        .await
                        .map_err(st)?;
                }
            }
            Rpc::Lock => {
                let lease = self.root_lease().await;
                let lock = lockpb::LockRequest {
                    name: "k/lock".into(),
                    lease,
                };
                let result = self.lock().lock(with_token(lock, token)).await;
                self.root_revoke(lease).await;
                result.map_err(st)?;
            }
            Rpc::Unlock => {
                let lease = self.root_lease().await;
                let lock = lockpb::LockRequest {
                    name: "k/lock".into(),
                    lease,
                };
                let key = self
                    .lock()
                    .lock(with_token(lock, self.root().as_deref()))
                    .await
                    .expect("root lock")
                    .into_inner()
                    .key;
                let result = self
                    .lock()
                    .unlock(with_token(lockpb::UnlockRequest { key }, token))
                    .await;
                self.root_revoke(lease).await;
                result.map_err(st)?;
            }
            Rpc::Campaign => {
                let lease = self.root_lease().await;
                let campaign = elpb::CampaignRequest {
                    name: "k/elec".into(),
                    lease,
                    value: b"v".to_vec(),
                };
                let result = self.election().campaign(with_token(campaign, token)).await;
                self.root_revoke(lease).await;
                result.map_err(st)?;
            }
            Rpc::Proclaim | Rpc::Resign | Rpc::Leader | Rpc::Observe => {
                let (lease, leader) = self.root_campaign("k/elec").await;
                let result = self.election_call(rpc, leader, token).await;
                self.root_revoke(lease).await;
                result?;
            }
        }
        Ok(())
    }

    async fn keep_alive_once(&self, id: i64, token: Option<&str>) -> Result<(), Outcome> {
        let st = |s: Status| Outcome::from_status(&s);
        let requests = tokio_stream::iter(vec![pb::LeaseKeepAliveRequest { id }])
            .chain(tokio_stream::pending());
        let mut responses = self
            .lease()
            .lease_keep_alive(with_token(requests, token))
            .await
            .map_err(st)?
            .into_inner();
        responses
            .message()
            .await
            .map_err(st)?
            .ok_or_else(|| Outcome::Err(Code::Unknown, "test: keep-alive ended".into()))?;
        Ok(())
    }

    async fn election_call(
        &self,
        rpc: Rpc,
        leader: elpb::LeaderKey,
        token: Option<&str>,
    ) -> Result<(), Outcome> {
        let st = |s: Status| Outcome::from_status(&s);
        let mut election = self.election();
        match rpc {
            Rpc::Proclaim => {
                let proclaim = elpb::ProclaimRequest {
                    leader: Some(leader),
                    value: b"w".to_vec(),
                };
                election
                    .proclaim(with_token(proclaim, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Resign => {
                let resign = elpb::ResignRequest {
                    leader: Some(leader),
                };
                election
                    .resign(with_token(resign, token))
                    .await
                    .map_err(st)?;
            }
            Rpc::Leader => {
                let request = elpb::LeaderRequest { name: leader.name };
                election
                    .leader(with_token(request, token))
                    .await
                    .map_err(st)?;
            }
            _ => {
                let request = elpb::LeaderRequest { name: leader.name };
                let mut leaders = election
                    .observe(with_token(request, token))
                    .await
                    .map_err(st)?
                    .into_inner();
                leaders.message().await.map_err(st)?.ok_or(Outcome::Ended)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_checks_its_permission() {
    let env = Env::start().await;
    let etcd = server_is_etcd();
    let mut unauthorized_successes = Vec::new();
    let mut wrong = Vec::new();
    let mut tolerated = 0;
    println!(
        "{:<22} {:<6} | {:<10} {:<10} {:<16} {:<16} {:<8}",
        "RPC", "needs", "no token", "forged", "lacking", "exact", "root"
    );
    for row in rows() {
        let mut cells = Vec::new();
        for caller in CALLERS {
            let token = match caller {
                Caller::NoToken => None,
                Caller::ForgedToken => Some(FORGED_TOKEN.to_string()),
                _ => Some(env.token(row.user(caller).expect("a user"))),
            };
            let actual = env.call(row.rpc, token.as_deref()).await;
            let expected = row.expected(caller);
            let mut mark = "";
            if !row.matches(caller, &actual) {
                if etcd && row.flaw_3423.is_some() {
                    mark = "~";
                    tolerated += 1;
                } else {
                    mark = "!";
                    let what = format!(
                        "{:?} as {caller:?} ({}): expected {expected:?}, got {actual:?}",
                        row.rpc,
                        row.user(caller).map_or("-", User::name),
                    );
                    if actual == Outcome::Ok {
                        unauthorized_successes.push(what);
                    } else {
                        wrong.push(what);
                    }
                }
            }
            let who = row
                .user(caller)
                .filter(|_| matches!(caller, Caller::Lacking | Caller::Exact))
                .map_or(String::new(), |u| format!(" {}", u.name()));
            cells.push(format!("{}{mark}{who}", actual.short()));
        }
        println!(
            "{:<22} {:<6} | {:<10} {:<10} {:<16} {:<16} {:<8}{}",
            format!("{:?}", row.rpc),
            format!("{:?}", row.need),
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            row.flaw_3423
                .filter(|_| etcd)
                .map_or(String::new(), |f| format!("  [3.4.23: {f}]")),
        );
    }
    println!(
        "codes: ok, 3 InvalidArgument (user name is empty), 16 Unauthenticated (invalid auth \
         token), 7 PermissionDenied, N(raw) = code N with an `auth: ...` message, cancel = \
         watch canceled; ! = wrong, ~ = a known etcd 3.4.23 flaw ({tolerated} cells)"
    );
    for line in &wrong {
        println!("WRONG: {line}");
    }
    for line in &unauthorized_successes {
        println!("UNAUTHORIZED SUCCESS: {line}");
    }
    assert_eq!(
        unauthorized_successes.len(),
        0,
        "unauthorized successes: {unauthorized_successes:#?}"
    );
    assert!(
        wrong.is_empty(),
        "cells refused when they should succeed, or refused with the wrong status: {wrong:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// etcdctl
// ---------------------------------------------------------------------------------------

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `Error: ...` line etcdctl prints on stderr (after clientv3's JSON warnings).
fn error_line(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.starts_with("Error:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The auth store is part of the member's durable state: users, roles, permissions and
/// the enabled flag survive a kill -9 (tokens do not, as in etcd).
#[test]
fn auth_survives_a_restart() {
    let mut member = Member::start(&[]);
    let run = |member: &Member, args: &[&str]| {
        let output = member.etcdctl(args);
        (
            output.status.success(),
            stdout(&output),
            error_line(&output),
        )
    };
    enable_auth_with_a_reader(&member);
    member.restart();
    let (ok, _, error) = run(&member, &["get", "pub/a"]);
    assert!(!ok, "auth is still enabled after the restart");
    assert_eq!(error, "Error: etcdserver: user name is empty");
    assert_eq!(
        run(
            &member,
            &["--user=alice:alicepw", "get", "pub/a", "--print-value-only"]
        )
        .1,
        "1\n"
    );
    let (ok, _, error) = run(&member, &["--user=alice:alicepw", "put", "pub/a", "2"]);
    assert!(!ok);
    assert_eq!(error, "Error: etcdserver: permission denied");
    assert_eq!(
        run(&member, &["--user=root:rootpw", "user", "get", "alice"]).1,
        "User: alice\nRoles: reader\n"
    );
}

#[test]
fn etcdctl_auth_commands_print_as_etcd() {
    let member = Member::start(&[]);
    let ok = |args: &[&str], expected: &str| {
        let output = member.etcdctl(args);
        assert!(
            output.status.success(),
            "etcdctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout(&output), expected, "etcdctl {args:?}");
    };
    let fails = |args: &[&str], expected: &str| {
        let output = member.etcdctl(args);
        assert!(!output.status.success(), "etcdctl {args:?} succeeded");
        assert_eq!(error_line(&output), expected, "etcdctl {args:?}");
    };
    let root = "--user=root:rootpw";
    let u1 = "--user=u1:u1pw";

    fails(
        &["auth", "enable"],
        "Error: etcdserver: root user does not exist",
    );
    ok(&["user", "add", "root:rootpw"], "User root created\n");
    // No role root yet: etcdctl adds it, grants it to root and enables.
    ok(&["auth", "enable"], "Authentication Enabled\n");
    fails(&["auth", "enable"], "Error: etcdserver: user name is empty");
    ok(&[root, "auth", "enable"], "Authentication Enabled\n");
    ok(&[root, "user", "add", "u1:u1pw"], "User u1 created\n");
    fails(
        &[root, "user", "add", "u1:x"],
        "Error: etcdserver: user name already exists",
    );
    ok(&[root, "role", "add", "r1"], "Role r1 created\n");
    fails(
        &[root, "role", "add", "r1"],
        "Error: etcdserver: role name already exists",
    );
    ok(
        &[root, "role", "grant-permission", "r1", "readwrite", "k1"],
        "Role r1 updated\n",
    );
    ok(
        &[
            root,
            "role",
            "grant-permission",
            "--prefix",
            "r1",
            "read",
            "p/",
        ],
        "Role r1 updated\n",
    );
    ok(
        &[root, "role", "grant-permission", "r1", "write", "a", "c"],
        "Role r1 updated\n",
    );
    ok(
        &[
            root,
            "role",
            "grant-permission",
            "--from-key",
            "r1",
            "read",
            "z",
        ],
        "Role r1 updated\n",
    );
    ok(
        &[root, "user", "grant-role", "u1", "r1"],
        "Role r1 is granted to user u1\n",
    );
    fails(
        &[root, "user", "grant-role", "u1", "nope"],
        "Error: etcdserver: role name not found",
    );
    ok(&[u1, "put", "k1", "v1"], "OK\n");
    ok(&[u1, "get", "k1"], "k1\nv1\n");
    ok(&[u1, "get", "--prefix", "p/"], "");
    ok(&[u1, "put", "b", "v"], "OK\n");
    fails(&[u1, "get", "b"], "Error: etcdserver: permission denied");
    fails(
        &[u1, "put", "k2", "v"],
        "Error: etcdserver: permission denied",
    );
    fails(&["get", "k1"], "Error: etcdserver: user name is empty");
    fails(
        &["--user=u1:bad", "get", "k1"],
        "Error: etcdserver: authentication failed, invalid user ID or password",
    );
    ok(&[u1, "user", "get", "u1"], "User: u1\nRoles: r1\n");
    fails(
        &[u1, "user", "get", "root"],
        "Error: etcdserver: permission denied",
    );
    fails(
        &[u1, "user", "list"],
        "Error: etcdserver: permission denied",
    );
    ok(&[root, "user", "get", "u1"], "User: u1\nRoles: r1\n");
    let r1 = "Role r1\nKV Read:\n\tk1\n\t[p/, p0) (prefix p/)\n\t[z, <open ended>\nKV Write:\n\t[a, c)\n\tk1\n";
    ok(&[root, "role", "get", "r1"], r1);
    ok(&[u1, "role", "get", "r1"], r1);
    ok(&[root, "user", "list"], "root\nu1\n");
    ok(&[root, "role", "list"], "r1\nroot\n");
    ok(
        &[root, "role", "revoke-permission", "r1", "a", "c"],
        "Permission of range [a, c) is revoked from role r1\n",
    );
    fails(
        &[root, "role", "revoke-permission", "r1", "zz"],
        "Error: etcdserver: permission is not granted to the role",
    );
    ok(
        &[root, "user", "revoke-role", "u1", "r1"],
        "Role r1 is revoked from user u1\n",
    );
    fails(
        &[root, "user", "revoke-role", "u1", "r1"],
        "Error: etcdserver: role is not granted to the user",
    );
    fails(
        &[root, "user", "delete", "root"],
        "Error: etcdserver: invalid auth management",
    );
    fails(
        &[root, "role", "delete", "root"],
        "Error: etcdserver: invalid auth management",
    );
    ok(&[root, "role", "delete", "r1"], "Role r1 deleted\n");
    ok(&[root, "user", "delete", "u1"], "User u1 deleted\n");
    ok(
        &[root, "user", "add", "np", "--no-password"],
        "User np created\n",
    );
    ok(&[root, "user", "get", "np"], "User: np\nRoles:\n");
    ok(&[root, "auth", "disable"], "Authentication Disabled\n");
    ok(&["get", "k1"], "k1\nv1\n");
}

// ---------------------------------------------------------------------------------------
// Simple tokens
// ---------------------------------------------------------------------------------------

/// `--auth-token-ttl` in seconds for the token tests.
const TOKEN_TTL_S: u64 = 2;

/// Adds root (role root) and enables auth through etcdctl on `endpoint`.
fn enable_auth_with_root(endpoint: &str) {
    for args in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"][..],
        &["auth", "enable"][..],
    ] {
        let output = support::etcdctl_at(endpoint, args, b"");
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

async fn authenticate(endpoint: &str) -> String {
    let channel = Channel::from_shared(endpoint.to_string())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    AuthClient::new(channel)
        .authenticate(pb::AuthenticateRequest {
            name: "root".into(),
            password: ROOT_PASSWORD.into(),
        })
        .await
        .expect("authenticate")
        .into_inner()
        .token
}

async fn range_with(endpoint: &str, token: &str) -> Outcome {
    let channel = Channel::from_shared(endpoint.to_string())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let range = pb::RangeRequest {
        key: "k".into(),
        ..Default::default()
    };
    match KvClient::new(channel)
        .range(with_token(range, Some(token)))
        .await
    {
        Ok(_) => Outcome::Ok,
        Err(status) => Outcome::from_status(&status),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_token_expires_after_ttl_idle() {
    let ttl = TOKEN_TTL_S.to_string();
    let member = Member::start(&["--auth-token-ttl", &ttl]);
    enable_auth_with_root(&member.client_url());
    let url = member.client_url();
    let token = authenticate(&url).await;
    // The simple token's shape: 16 letters, a dot, the raft index of its Authenticate.
    let (prefix, index) = token.split_once('.').expect("a dot in the token");
    assert!(
        prefix.len() == 16 && prefix.chars().all(|c| c.is_ascii_alphabetic()),
        "token {token}"
    );
    assert!(index.parse::<u64>().is_ok(), "token {token}");

    // Used within the TTL, again and again: each use renews it.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(TOKEN_TTL_S * 1000 / 2)).await;
        assert_eq!(range_with(&url, &token).await, Outcome::Ok, "token in use");
    }
    // Idle for longer than the TTL (plus the keeper's 1 s resolution and a margin).
    tokio::time::sleep(Duration::from_secs(TOKEN_TTL_S + 3)).await;
    assert_eq!(
        range_with(&url, &token).await,
        Outcome::Err(
            Code::Unauthenticated,
            "etcdserver: invalid auth token".into()
        ),
        "an idle token must expire"
    );

    // etcd-client logs in with `with_user` and works.
    let options = etcd_client::ConnectOptions::new().with_user("root", ROOT_PASSWORD);
    let mut client = etcd_client::Client::connect([url.as_str()], Some(options))
        .await
        .expect("etcd-client connects as root");
    client.put("k", "v", None).await.expect("put as root");
    let got = client.get("k", None).await.expect("get as root");
    assert_eq!(got.kvs()[0].value(), b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_token_works_on_every_member() {
    let cluster = support::cluster::Cluster::start(3, "auth-tokens");
    let urls = cluster.urls();
    enable_auth_with_root(&urls[0]);
    let token = authenticate(&urls[0]).await;
    for url in &urls {
        // A member learns the token when it applies the Authenticate entry.
        let mut outcome = range_with(url, &token).await;
        for _ in 0..50 {
            if outcome == Outcome::Ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            outcome = range_with(url, &token).await;
        }
        assert_eq!(outcome, Outcome::Ok, "token from member 0 on {url}");
    }
}

// ---------------------------------------------------------------------------------------
// JWT tokens
// ---------------------------------------------------------------------------------------

/// `ttl=` of the JWT test, in seconds.
const JWT_TTL_S: u64 = 2;

/// A directory of its own for `name`'s key files.
fn key_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("auth-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a key directory");
    dir
}

/// Runs `openssl args` in `dir` (the key pairs the test needs).
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The header and claims of a JWT, read without checking its signature.
fn jwt_parts(token: &str) -> (jsonwebtoken::Header, serde_json::Value) {
    let header = jsonwebtoken::decode_header(token)
        .unwrap_or_else(|e| panic!("token {token} is no JWT: {e}"));
    let mut validation = jsonwebtoken::Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(b""),
        &validation,
    )
    .unwrap_or_else(|e| panic!("token {token} has no JSON claims: {e}"))
    .claims;
    (header, claims)
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_are_signed_claims_that_expire_and_go_stale() {
    let dir = key_dir("jwt");
    openssl(&dir, &["genrsa", "-out", "server.pem", "2048"]);
    openssl(
        &dir,
        &["rsa", "-in", "server.pem", "-pubout", "-out", "server.pub"],
    );
    openssl(&dir, &["genrsa", "-out", "stranger.pem", "2048"]);
    let spec = format!(
        "jwt,pub-key={},priv-key={},sign-method=RS256,ttl={JWT_TTL_S}s",
        dir.join("server.pub").display(),
        dir.join("server.pem").display()
    );
    let member = Member::start(&["--auth-token", &spec]);
    let url = member.client_url();
    enable_auth_with_root(&url);

    // etcdctl authenticates and uses its token.
    let root = "--user=root:rootpw";
    let output = member.etcdctl(&[root, "put", "k", "v"]);
    assert_eq!(
        stdout(&output),
        "OK\n",
        "put as root: {}",
        error_line(&output)
    );
    let output = member.etcdctl(&[root, "get", "k"]);
    assert_eq!(
        stdout(&output),
        "k\nv\n",
        "get as root: {}",
        error_line(&output)
    );

    // The token is a JWT: RS256, with etcd's three claims.
    let before = unix_now_s();
    let token = authenticate(&url).await;
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256, "token {token}");
    assert_eq!(claims["username"], "root", "claims {claims}");
    let revision = claims["revision"]
        .as_u64()
        .unwrap_or_else(|| panic!("no unsigned revision in {claims}"));
    assert!(revision >= 1, "claims {claims}");
    let exp = claims["exp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no exp in {claims}"));
    assert!(
        (before + JWT_TTL_S..=unix_now_s() + JWT_TTL_S).contains(&exp),
        "exp {exp} is not issue time + {JWT_TTL_S} s"
    );
    assert_eq!(range_with(&url, &token).await, Outcome::Ok, "a fresh JWT");

    // The same claims signed with another key are refused.
    let stranger = std::fs::read(dir.join("stranger.pem")).expect("key");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&stranger).expect("an RSA key"),
    )
    .expect("signed");
    let invalid = Outcome::Err(
        Code::Unauthenticated,
        "etcdserver: invalid auth token".into(),
    );
    assert_eq!(
        range_with(&url, &forged).await,
        invalid,
        "another key's JWT"
    );

    // Unused, it still expires after its ttl (no sliding TTL; `exp` has 1 s resolution).
    tokio::time::sleep(Duration::from_secs(JWT_TTL_S + 2)).await;
    assert_eq!(range_with(&url, &token).await, invalid, "an expired JWT");

    // A change of the auth store makes earlier tokens stale; etcdctl logs in again.
    let token = authenticate(&url).await;
    assert_eq!(range_with(&url, &token).await, Outcome::Ok, "a fresh JWT");
    let output = member.etcdctl(&[root, "role", "add", "r1"]);
    assert_eq!(
        stdout(&output),
        "Role r1 created\n",
        "{}",
        error_line(&output)
    );
    assert_eq!(
        range_with(&url, &token).await,
        Outcome::Err(
            Code::InvalidArgument,
            "etcdserver: revision of auth store is old".into()
        ),
        "a JWT issued before a role change"
    );
    let (_, fresh) = jwt_parts(&authenticate(&url).await);
    assert!(
        fresh["revision"].as_u64() > Some(revision),
        "{fresh} after {claims}"
    );
    let output = member.etcdctl(&[root, "get", "k"]);
    assert_eq!(
        stdout(&output),
        "k\nv\n",
        "get as root: {}",
        error_line(&output)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_token_works_on_every_member() {
    let dir = key_dir("jwt-cluster");
    openssl(&dir, &["genrsa", "-out", "server.pem", "2048"]);
    openssl(
        &dir,
        &["rsa", "-in", "server.pem", "-pubout", "-out", "server.pub"],
    );
    let spec = format!(
        "jwt,pub-key={},priv-key={},sign-method=RS256",
        dir.join("server.pub").display(),
        dir.join("server.pem").display()
    );
    let cluster = support::cluster::Cluster::start_with(3, "auth-jwt", &["--auth-token", &spec]);
    let urls = cluster.urls();
    enable_auth_with_root(&urls[0]);
    let token = authenticate(&urls[1]).await;
    for url in &urls {
        // Nothing to learn: every member verifies the signature. (A member that has not
        // yet applied the auth change may still see auth disabled; give it a moment.)
        let mut outcome = range_with(url, &token).await;
        for _ in 0..50 {
            if outcome == Outcome::Ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            outcome = range_with(url, &token).await;
        }
        assert_eq!(outcome, Outcome::Ok, "token from member 1 on {url}");
    }
    std::fs::remove_dir_all(dir).ok();
}
