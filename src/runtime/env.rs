//! The environment a child process starts from: cleared, then only what it
//! needs. On `netns` and `host` the tools run directly under the daemon, so
//! an inherited `PG*` variable or root's `~/.pgpass` would quietly point them
//! at (or log them into) something outside the tenant; container managers
//! keep their own configuration variables and never forward any of it inside.

use super::Driver;

/// The search path of tools on `netns` and `host` (the daemon's own `PATH`
/// is not trusted to mean the same thing for every tenant).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables a container manager may need to find its daemon and config.
const MANAGER_VARS: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "LANG"];
const MANAGER_PREFIXES: &[&str] = &[
    "LC_",
    "XDG_",
    "DOCKER_",
    "CONTAINER_",
    "CONTAINERS_",
    "KUBE",
    "INCUS_",
    "LXD_",
];

/// The complete environment of a child run for `driver`; `tool_path` is the
/// tenant's `tool-path` (netns/host only), searched before [`SYSTEM_PATH`].
pub fn child_env(driver: Driver, tool_path: Option<&str>) -> Vec<(String, String)> {
    child_env_from(driver, tool_path, std::env::vars())
}

fn child_env_from(
    driver: Driver,
    tool_path: Option<&str>,
    inherited: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    match driver {
        Driver::Netns | Driver::Host => {
            let path = match tool_path.filter(|p| !p.is_empty()) {
                Some(p) => format!("{p}:{SYSTEM_PATH}"),
                None => SYSTEM_PATH.to_string(),
            };
            // libpq finds ~/.pgpass through the passwd entry, not $HOME:
            // only naming another file stops root's from being read.
            vec![
                ("PATH".into(), path),
                ("PGPASSFILE".into(), "/dev/null".into()),
            ]
        }
        _ => inherited
            .filter(|(k, _)| {
                MANAGER_VARS.contains(&k.as_str())
                    || MANAGER_PREFIXES.iter().any(|p| k.starts_with(p))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> impl Iterator<Item = (String, String)> {
        [
            ("PATH", "/opt/x:/usr/bin"),
            ("HOME", "/root"),
            ("PGHOST", "/run/bob"),
            ("PGPASSWORD", "root-secret"),
            ("LXD_DIR", "/var/lib/lxd-test"),
            ("CONTAINERS_CONF", "/etc/c.conf"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
    }

    #[test]
    fn netns_and_host_get_a_fixed_path_and_no_pgpass() {
        for d in [Driver::Netns, Driver::Host] {
            let env = child_env_from(d, None, vars());
            assert_eq!(
                env,
                [
                    ("PATH".to_string(), SYSTEM_PATH.to_string()),
                    ("PGPASSFILE".to_string(), "/dev/null".to_string())
                ]
            );
        }
        let env = child_env_from(Driver::Netns, Some("/usr/lib/postgresql/15/bin"), vars());
        assert_eq!(
            env[0].1,
            format!("/usr/lib/postgresql/15/bin:{SYSTEM_PATH}")
        );
    }

    #[test]
    fn managers_keep_their_config_but_no_pg_or_cloud_secrets() {
        let env = child_env_from(Driver::Lxd, Some("/ignored"), vars());
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["PATH", "HOME", "LXD_DIR", "CONTAINERS_CONF"]);
        assert_eq!(env[0].1, "/opt/x:/usr/bin");
    }
}
