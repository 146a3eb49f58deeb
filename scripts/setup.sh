#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian 12 machine that
# has only the Rust toolchain: Postgres 15 (server binaries for the test
# tenants, clients for the daemon), iproute2 (network namespaces), systemd
# (systemd-analyze, for the deploy units), chromium and its WebDriver (the
# status page test), age and zstd (hand restores of encrypted or zstd
# dumps), and a
# Python venv (under .venv, ignored by git) for the real MCP client.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (tests create network namespaces and Postgres clusters)" >&2
  exit 1
fi

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
command -v pg_dump >/dev/null || need+=(postgresql-client-15)
command -v ip >/dev/null || need+=(iproute2)
command -v runuser >/dev/null || need+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# systemd-analyze checks the units under deploy/systemd (tests/cli/deploy.rs).
command -v systemd-analyze >/dev/null || need+=(systemd)
# A real browser for the status page test (tests/daemon/ui.rs).
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# The CLIs a dump restores with by hand (tests prove the README's commands).
command -v age >/dev/null || need+=(age)
command -v zstd >/dev/null || need+=(zstd)
# ssh-keygen: an ssh-ed25519 key as an age recipient (tests/pipeline/stages.rs).
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# The shells whose completions tests/cli/commands.rs loads.
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup.sh: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster of its own; tests never use it.
id postgres >/dev/null

if [ -f scripts/requirements.txt ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  if ! cmp -s scripts/requirements.txt .venv/.installed 2>/dev/null; then
    .venv/bin/pip install -q -r scripts/requirements.txt
    cp scripts/requirements.txt .venv/.installed
  fi
fi
