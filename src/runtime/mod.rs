//! Runtime: how a command runs "inside a tenant's container". A tenant resolves
//! to a [`Target`]; the target turns an argv meant for the container into the
//! host argv of its container manager. Nothing here knows about Postgres.

mod env;
mod pace;
mod process;
mod resolve;

pub use env::SYSTEM_PATH;
pub use pace::Paced;
pub use process::{Finished, Running};
pub use resolve::{RuntimeConfig, TenantConfig, Tenants};

use serde::{Deserialize, Serialize};

/// The container managers we can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// `incus exec <container> -- argv`
    Incus,
    /// `lxc exec <container> -- argv` (same grammar as incus)
    Lxd,
    /// `docker exec -i <container> argv`
    Docker,
    /// `podman exec -i <container> argv`
    Podman,
    /// `kubectl exec -i [-n ns] <pod> [-c container] -- argv`
    Kubectl,
    /// `ip netns exec <namespace> argv`
    Netns,
    /// No container: argv runs on the daemon host (dev/staging).
    Host,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Self::Incus => "incus",
            Self::Lxd => "lxd",
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Kubectl => "kubectl",
            Self::Netns => "netns",
            Self::Host => "host",
        }
    }
}

/// A resolved place to run commands: one tenant's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub driver: Driver,
    /// Container, pod or namespace name (empty for `host`).
    pub container: String,
    /// Kubernetes namespace (kubectl only).
    pub namespace: Option<String>,
    /// Container inside the pod (kubectl only).
    pub pod_container: Option<String>,
    /// Directories searched first for the tools (netns/host only).
    pub tool_path: Option<String>,
    /// Hosts a request may name besides loopback TCP (netns/host only).
    pub allowed_hosts: Vec<String>,
}

impl Target {
    /// The host argv that runs `inner` inside this target with stdin attached.
    pub fn host_argv(&self, inner: &[String]) -> Vec<String> {
        let c = self.container.clone();
        let mut argv: Vec<String> = match self.driver {
            Driver::Incus => vec!["incus".into(), "exec".into(), c, "--".into()],
            Driver::Lxd => vec!["lxc".into(), "exec".into(), c, "--".into()],
            Driver::Docker => vec!["docker".into(), "exec".into(), "-i".into(), c],
            Driver::Podman => vec!["podman".into(), "exec".into(), "-i".into(), c],
            Driver::Kubectl => {
                let mut v = vec!["kubectl".into(), "exec".into(), "-i".into()];
                if let Some(ns) = &self.namespace {
                    v.extend(["-n".into(), ns.clone()]);
                }
                v.push(c);
                if let Some(pc) = &self.pod_container {
                    v.extend(["-c".into(), pc.clone()]);
                }
                v.push("--".into());
                v
            }
            Driver::Netns => vec!["ip".into(), "netns".into(), "exec".into(), c],
            Driver::Host => vec![],
        };
        argv.extend(inner.iter().cloned());
        argv
    }

    /// A stable description used to compare targets ("is this the same
    /// container?") and in messages.
    pub fn describe(&self) -> String {
        match self.driver {
            Driver::Host => "host".to_string(),
            Driver::Kubectl => format!(
                "kubectl:{}/{}/{}",
                self.namespace.as_deref().unwrap_or(""),
                self.container,
                self.pod_container.as_deref().unwrap_or("")
            ),
            d => format!("{}:{}", d.name(), self.container),
        }
    }

    /// Starts `inner` inside the target with all three stdio streams piped.
    ///
    /// # Errors
    /// Unavailable when the container manager's binary cannot be started.
    pub fn spawn(&self, inner: &[String]) -> crate::Result<Running> {
        let env = env::child_env(self.driver, self.tool_path.as_deref());
        Running::spawn(&self.host_argv(inner), &self.describe(), &env)
    }

    /// Whether this target runs its tools on the daemon host's filesystem,
    /// where a socket path or another address can reach outside the tenant.
    pub fn shares_host(&self) -> bool {
        matches!(self.driver, Driver::Netns | Driver::Host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(driver: Driver) -> Target {
        Target {
            driver,
            container: "alice-container".into(),
            namespace: None,
            pod_container: None,
            tool_path: None,
            allowed_hosts: Vec::new(),
        }
    }
    fn inner() -> Vec<String> {
        vec!["pg_dump".into(), "-Fc".into()]
    }

    #[test]
    fn incus_and_lxd_share_the_exec_grammar() {
        assert_eq!(
            t(Driver::Incus).host_argv(&inner()),
            ["incus", "exec", "alice-container", "--", "pg_dump", "-Fc"]
        );
        assert_eq!(
            t(Driver::Lxd).host_argv(&inner()),
            ["lxc", "exec", "alice-container", "--", "pg_dump", "-Fc"]
        );
    }

    #[test]
    fn docker_and_podman_attach_stdin() {
        assert_eq!(
            t(Driver::Docker).host_argv(&inner()),
            ["docker", "exec", "-i", "alice-container", "pg_dump", "-Fc"]
        );
        assert_eq!(
            t(Driver::Podman).host_argv(&inner()),
            ["podman", "exec", "-i", "alice-container", "pg_dump", "-Fc"]
        );
    }

    #[test]
    fn kubectl_with_and_without_namespace_and_container() {
        assert_eq!(
            t(Driver::Kubectl).host_argv(&inner()),
            [
                "kubectl",
                "exec",
                "-i",
                "alice-container",
                "--",
                "pg_dump",
                "-Fc"
            ]
        );
        let full = Target {
            namespace: Some("tenants".into()),
            pod_container: Some("db".into()),
            ..t(Driver::Kubectl)
        };
        assert_eq!(
            full.host_argv(&inner()),
            [
                "kubectl",
                "exec",
                "-i",
                "-n",
                "tenants",
                "alice-container",
                "-c",
                "db",
                "--",
                "pg_dump",
                "-Fc"
            ]
        );
        assert_eq!(full.describe(), "kubectl:tenants/alice-container/db");
    }

    #[test]
    fn netns_and_host() {
        assert_eq!(
            t(Driver::Netns).host_argv(&inner()),
            ["ip", "netns", "exec", "alice-container", "pg_dump", "-Fc"]
        );
        assert_eq!(t(Driver::Host).host_argv(&inner()), ["pg_dump", "-Fc"]);
        assert_eq!(t(Driver::Host).describe(), "host");
    }
}
