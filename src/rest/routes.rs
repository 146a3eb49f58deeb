//! Every REST route, once. The router is built from this table and so is the
//! OpenAPI document; a unit test checks it against the proto's RPCs, so a new
//! RPC without a route (or a route naming no RPC) fails the build's tests
//! with a message saying what to add here.

/// An HTTP method the REST surface uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn lower(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Delete => "delete",
        }
    }
}

/// One route: grpc-gateway style, `{field}` path segments bind request fields.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: Method,
    /// axum and OpenAPI share the `{id}` template syntax.
    pub path: &'static str,
    /// The `BackupService` RPC this route calls (its proto name).
    pub rpc: &'static str,
    /// POST: the whole request message is the JSON body (path fields win).
    /// GET/DELETE: every other request field is a query parameter.
    pub body: bool,
}

const fn route(method: Method, path: &'static str, rpc: &'static str) -> Route {
    Route {
        method,
        path,
        rpc,
        body: matches!(method, Method::Post),
    }
}

/// The REST mapping of `containarium.v1.BackupService`.
pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/backups", "CreateBackup"),
    route(Method::Get, "/v1/backups", "ListBackups"),
    route(Method::Get, "/v1/backups/{id}", "GetBackup"),
    route(Method::Delete, "/v1/backups/{id}", "DeleteBackup"),
    route(Method::Post, "/v1/backups/{id}/restore", "RestoreBackup"),
    route(Method::Post, "/v1/backups/{id}/verify", "VerifyBackup"),
    route(Method::Post, "/v1/backups:prune", "PruneBackups"),
    route(Method::Get, "/v1/backups:check", "CheckBackups"),
    route(Method::Post, "/v1/backups:rebuildIndex", "RebuildIndex"),
];

impl Route {
    /// The `{name}` segments of the path.
    pub fn path_fields(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('/').filter_map(|seg| {
            seg.strip_prefix('{')
                .and_then(|s| s.split_once('}'))
                .map(|(name, _)| name)
        })
    }
}

/// The route of `rpc`.
pub fn of(rpc: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.rpc == rpc)
}
