//! The tools. Each translates its arguments into the proto request and
//! calls the matching [`crate::api::Api`] method with the caller's
//! credentials; scopes, tenancy and validation are the service's.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use super::Tools;
use super::args::{CreateArgs, IdArgs, ListArgs, OperationsArgs, RestoreArgs, VerifyArgs};
use super::reply::reply;

#[tool_router(vis = "pub(super)")]
impl Tools {
    /// Back up one database of a tenant, or all of them.
    #[tool(
        description = "Back up a tenant's Postgres database (or every database when `database` \
                       is omitted) with pg_dump; needs the backups:write scope."
    )]
    async fn create_backup(
        &self,
        Parameters(args): Parameters<CreateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.create_backup(&creds, args.into()).await)
    }

    #[tool(
        description = "List backups, newest first (one tenant's, or every tenant's for an admin); \
                       page_size (1-1000) pages through them, continued with the page_token the \
                       answer gives; needs backups:read.",
        annotations(read_only_hint = true)
    )]
    async fn list_backups(
        &self,
        Parameters(args): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.list_backups(&creds, args.into()).await)
    }

    #[tool(
        description = "Show one backup's record: size, SHA-256, location, last verification; \
                       needs backups:read.",
        annotations(read_only_hint = true)
    )]
    async fn get_backup(
        &self,
        Parameters(args): Parameters<IdArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.get_backup(&creds, args.into()).await)
    }

    #[tool(
        description = "Restore a backup into its tenant's Postgres (its own database, or \
                       `database`); `clean` drops objects first. Needs backups:write.",
        annotations(destructive_hint = true)
    )]
    async fn restore_backup(
        &self,
        Parameters(args): Parameters<RestoreArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.restore_backup(&creds, args.into()).await)
    }

    #[tool(
        description = "Prove a backup restores: restore it into a scratch database in another \
                       tenant's container (`target_username`) and check it. Needs backups:write."
    )]
    async fn verify_backup(
        &self,
        Parameters(args): Parameters<VerifyArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.verify_backup(&creds, args.into()).await)
    }

    #[tool(
        description = "Delete a backup's dump and record; needs backups:write.",
        annotations(destructive_hint = true, idempotent_hint = false)
    )]
    async fn delete_backup(
        &self,
        Parameters(args): Parameters<IdArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.delete_backup(&creds, args.into()).await)
    }

    #[tool(
        description = "List the creates, restores and verifies running now, with bytes so far \
                       (one tenant's, or every tenant's for an admin); needs backups:read.",
        annotations(read_only_hint = true)
    )]
    async fn list_operations(
        &self,
        Parameters(args): Parameters<OperationsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let creds = self.credentials(&ctx);
        reply(self.api.list_operations(&creds, args.into()).await)
    }
}
