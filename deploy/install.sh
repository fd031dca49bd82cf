#!/usr/bin/env bash
# Install or upgrade StreetSense on a Debian box.
#   venv under /opt/streetsense/venv, config under /etc/streetsense, state under /var/lib/streetsense.
# usage: sudo deploy/install.sh agent|adapter [wheel-or-source-dir]
# Idempotent: re-running upgrades the package and keeps config and state.
set -euo pipefail

role=${1:?usage: install.sh agent|adapter [wheel-or-source-dir]}
source=${2:-$(cd "$(dirname "$0")/.." && pwd)}
case $role in agent) extra=edge ;; adapter) extra=broker ;; *) echo "role must be agent or adapter" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }

prefix=${STREETSENSE_PREFIX:-/opt/streetsense}
etc=${STREETSENSE_ETC:-/etc/streetsense}
state=${STREETSENSE_STATE:-/var/lib/streetsense}
unit_dir=${STREETSENSE_UNIT_DIR:-/etc/systemd/system}
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${STREETSENSE_SKIP_APT:-}" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv ffmpeg >/dev/null
fi
id streetsense >/dev/null 2>&1 || useradd --system --home-dir "$state" --shell /usr/sbin/nologin streetsense
install -d -m 0755 "$prefix"
install -d -m 0750 -o root -g streetsense "$etc"
install -d -m 0750 -o streetsense -g streetsense "$state"

[ -x "$prefix/venv/bin/python" ] || python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --upgrade pip
"$prefix/venv/bin/pip" install -q --upgrade "${source}[${extra}]"

example="$here/../config/${role}.example.yaml"
if [ ! -f "$etc/${role}.yaml" ] && [ -f "$example" ]; then
  install -m 0640 -o root -g streetsense "$example" "$etc/${role}.yaml"
  echo "installed an example config at $etc/${role}.yaml: edit it before starting"
fi
[ -f "$etc/${role}.env" ] || install -m 0640 -o root -g streetsense /dev/null "$etc/${role}.env"

install -m 0644 "$here/systemd/streetsense-${role}.service" "$unit_dir/streetsense-${role}.service"
if [ -z "${STREETSENSE_NO_SYSTEMCTL:-}" ]; then
  systemctl daemon-reload
  systemctl enable "streetsense-${role}.service"
fi
echo "installed streetsense ${role} into $prefix/venv"
