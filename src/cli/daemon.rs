//! `containarium daemon`: load the config (file, then env/flags), build the
//! service, bind the listeners, serve until SIGTERM/SIGINT, then drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::auth::{Authenticator, jwt};
use crate::config::Config;
use crate::server;
use crate::service::BackupService;

/// Where the config and the JWT secret come from (shared with `token mint`).
#[derive(Debug, Clone, clap::Args)]
pub struct SecretArgs {
    /// TOML config file.
    #[arg(long, env = "CONTAINARIUM_CONFIG")]
    pub config: Option<PathBuf>,
    /// File holding the JWT secret (≥ 32 bytes). The secret itself can also
    /// come from the CONTAINARIUM_JWT_SECRET environment variable, never a flag.
    #[arg(long, env = "CONTAINARIUM_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// The config file's contents, or the defaults. Reads only.
    pub fn config(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(p) => Ok(Config::load(p)?),
            None => Ok(Config::default()),
        }
    }

    /// The JWT secret (env, then `--jwt-secret-file`, then the config's file
    /// or inline value) and the longest token lifetime allowed.
    pub fn load(&self) -> anyhow::Result<(String, u64)> {
        let config = self.config()?;
        let secret = secret(&config, self.jwt_secret_file.as_ref())?.context(
            "no JWT secret: set CONTAINARIUM_JWT_SECRET, --jwt-secret-file, or [auth] jwt-secret-file in the config",
        )?;
        Ok((secret, config.auth.max_token_ttl_secs))
    }
}

/// The JWT secret by precedence; `None` when none is configured anywhere.
pub fn secret(config: &Config, file_flag: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    if let Ok(s) = std::env::var("CONTAINARIUM_JWT_SECRET")
        && !s.is_empty()
    {
        return Ok(Some(s));
    }
    if let Some(p) = file_flag.or(config.auth.jwt_secret_file.as_ref()) {
        let s = std::fs::read_to_string(p)
            .with_context(|| format!("reading the JWT secret file {}", p.display()))?;
        return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(config
        .auth
        .jwt_secret
        .as_ref()
        .map(|s| s.expose().to_string()))
}

/// Serve BackupService over gRPC, REST and MCP.
///
/// Settings come from the config file, then environment variables, then
/// flags (later wins). Tenants are declared in the config file:
///
///   [runtime]            # default driver and container name template
///   driver = "incus"
///   container = "{tenant}-container"
///   [tenants.alice]      # uses the defaults
///   [tenants.bob]
///   driver = "netns"
///   container = "ns-bob"
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    secret: SecretArgs,
    /// Backup directory (dumps, sidecars, audit log).
    #[arg(long, env = "CONTAINARIUM_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// gRPC listen address [default: 0.0.0.0:50051].
    #[arg(long, env = "CONTAINARIUM_GRPC_LISTEN")]
    grpc_listen: Option<SocketAddr>,
    /// HTTP listen address for REST, MCP and /healthz [default: 0.0.0.0:8080].
    #[arg(long, env = "CONTAINARIUM_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Dumps/restores running at once.
    #[arg(long, env = "CONTAINARIUM_MAX_CONCURRENT")]
    max_concurrent: Option<usize>,
    /// Seconds SIGTERM waits for running operations.
    #[arg(long, env = "CONTAINARIUM_SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: Option<u64>,
    /// DEVELOPMENT ONLY: accept every request as the operator, without a
    /// token. Refused unless every listener is on a loopback address.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    print_config: bool,
    /// Log format on stderr.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "CONTAINARIUM_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl Args {
    /// The effective config: file, then env/flags.
    fn effective(&self) -> anyhow::Result<Config> {
        let mut c = self.secret.config()?;
        if let Some(d) = &self.backup_dir {
            c.backup_dir.clone_from(d);
        }
        if let Some(a) = self.grpc_listen {
            c.server.grpc_listen = a;
        }
        if let Some(a) = self.http_listen {
            c.server.http_listen = a;
        }
        if let Some(n) = self.max_concurrent {
            c.max_concurrent = n;
        }
        if let Some(g) = self.shutdown_grace_secs {
            c.shutdown_grace_secs = g;
        }
        if let Some(f) = &self.secret.jwt_secret_file {
            c.auth.jwt_secret_file = Some(f.clone());
        }
        crate::config::apply_bucket_env(&mut c.gcs, &mut c.s3, &|k| std::env::var(k).ok())?;
        Ok(c)
    }

    fn authenticator(&self, config: &Config) -> anyhow::Result<Authenticator> {
        if self.insecure_no_auth {
            let loopback = config.server.grpc_listen.ip().is_loopback()
                && config.server.http_listen.ip().is_loopback();
            anyhow::ensure!(
                loopback,
                "--insecure-no-auth is refused: every listener must be on a loopback address \
                 (grpc {}, http {})",
                config.server.grpc_listen,
                config.server.http_listen
            );
            tracing::warn!(
                "!!! AUTHENTICATION IS DISABLED (--insecure-no-auth): every caller acts as the operator !!!"
            );
            eprintln!(
                "WARNING: authentication is disabled (--insecure-no-auth); loopback only, never in production"
            );
            return Ok(Authenticator::Disabled);
        }
        let secret = secret(config, None)?.context(
            "no JWT secret: set CONTAINARIUM_JWT_SECRET, --jwt-secret-file or [auth] jwt-secret-file \
             (or --insecure-no-auth for a loopback-only dev daemon)",
        )?;
        Ok(Authenticator::Jwt(jwt::Keys::new(secret.as_bytes())?))
    }

    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.effective()?;
        if self.print_config {
            print!("{}", toml::to_string(&config)?);
            return Ok(ExitCode::SUCCESS);
        }
        init_logging(self.log_format);
        crate::fault::init_from_env()?;
        let auth = self.authenticator(&config)?;
        let service = BackupService::new(&config, auth)?;
        let recovering = std::time::Instant::now();
        let recovery = service.recover().await?;
        tracing::info!(
            ms = recovering.elapsed().as_millis(),
            "start-up recovery done"
        );
        if !recovery.unresolved.is_empty() {
            tracing::warn!(unresolved = ?recovery.unresolved, "recovery left these as they are");
        }
        for leftover in service.catalog().sweep_leftovers(&recovery.kept)? {
            tracing::info!(file = %leftover.display(), "removed a leftover of an interrupted operation");
        }
        let grpc = TcpListener::bind(config.server.grpc_listen)
            .await
            .with_context(|| format!("binding gRPC on {}", config.server.grpc_listen))?;
        let http = TcpListener::bind(config.server.http_listen)
            .await
            .with_context(|| format!("binding HTTP on {}", config.server.http_listen))?;
        tracing::info!(
            grpc = %grpc.local_addr()?,
            http = %http.local_addr()?,
            backup_dir = %config.backup_dir.display(),
            tenants = config.tenants.len(),
            "containarium daemon listening"
        );
        let options = server::Options::from_config(&config)?;
        server::serve(service, grpc, http, options, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    }
}

fn init_logging(format: LogFormat) {
    // rmcp logs whole requests (passwords included) at debug: never below info.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONTAINARIUM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .add_directive(
            crate::mcp::LOG_DIRECTIVE
                .parse()
                .expect("a valid directive"),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
