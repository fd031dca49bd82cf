#!/usr/bin/env bash
# Install or upgrade a StreetSense agent on an edge box from a config bundle, then check
# it is healthy; on failure the previous config is restored and the agent restarted.
#
# usage: deploy/rollout.sh [--local] <user@box|-> <bundle.tar.gz> [package: wheel or source dir]
#   The bundle holds agent.yaml and optionally agent.env (secrets) and extra files (masks).
#   --local runs the box side on this machine (for a lab box, or the tests).
# Environment: STREETSENSE_ETC (default /etc/streetsense), STREETSENSE_READY_URL
#   (default http://127.0.0.1:9180/readyz), STREETSENSE_READY_TIMEOUT (s, default 90),
#   STREETSENSE_RESTART_CMD (default: systemctl restart streetsense-agent),
#   STREETSENSE_SKIP_INSTALL=1 to change only the config.
set -euo pipefail

local_mode=0
if [ "${1:-}" = "--local" ]; then local_mode=1; shift; fi
target=${1:?usage: rollout.sh [--local] <user@box|-> <bundle.tar.gz> [package]}
bundle=${2:?usage: rollout.sh [--local] <user@box|-> <bundle.tar.gz> [package]}
package=${3:-$(cd "$(dirname "$0")/.." && pwd)}
here=$(cd "$(dirname "$0")" && pwd)
streetsense=${STREETSENSE_BIN:-streetsense}

# 1. Refuse a bad bundle before touching the box.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$bundle" -C "$work"
[ -f "$work/agent.yaml" ] || { echo "bundle has no agent.yaml" >&2; exit 2; }
if [ -f "$work/agent.env" ]; then set -a; . "$work/agent.env"; set +a; fi
"$streetsense" config check "$work/agent.yaml" || { echo "bundle config is invalid: nothing changed" >&2; exit 2; }

box_side() {
  # Runs on the box: install, swap config with a backup, restart, wait for readiness.
  local etc=${STREETSENSE_ETC:-/etc/streetsense}
  local ready_url=${STREETSENSE_READY_URL:-http://127.0.0.1:9180/readyz}
  local timeout=${STREETSENSE_READY_TIMEOUT:-90}
  local restart=${STREETSENSE_RESTART_CMD:-systemctl restart streetsense-agent}
  local new=$1 pkg=$2
  if [ -z "${STREETSENSE_SKIP_INSTALL:-}" ]; then "$here/install.sh" agent "$pkg"; fi
  mkdir -p "$etc"
  [ -f "$etc/agent.yaml" ] && cp -p "$etc/agent.yaml" "$etc/agent.yaml.prev"
  [ -f "$etc/agent.env" ] && cp -p "$etc/agent.env" "$etc/agent.env.prev"
  cp "$new/agent.yaml" "$etc/agent.yaml"
  [ -f "$new/agent.env" ] && cp "$new/agent.env" "$etc/agent.env"
  $restart
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    if python3 -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=3).status == 200 else 1)" "$ready_url" 2>/dev/null; then
      echo "agent healthy after rollout"
      return 0
    fi
    sleep 1
  done
  echo "agent not ready after ${timeout}s: rolling back" >&2
  if [ -f "$etc/agent.yaml.prev" ]; then cp -p "$etc/agent.yaml.prev" "$etc/agent.yaml"; fi
  if [ -f "$etc/agent.env.prev" ]; then cp -p "$etc/agent.env.prev" "$etc/agent.env"; fi
  $restart || true
  return 1
}

if [ $local_mode -eq 1 ]; then
  box_side "$work" "$package"
else
  remote_dir=/tmp/streetsense-rollout.$$
  ssh "$target" "mkdir -p $remote_dir"
  scp -q -r "$work" "$here" "$target:$remote_dir/"
  scp -q -r "$package" "$target:$remote_dir/package"
  ssh -t "$target" "sudo bash -c 'cd $remote_dir && $(declare -f box_side); here=$remote_dir/$(basename "$here"); box_side $remote_dir/$(basename "$work") $remote_dir/package'; rc=\$?; rm -rf $remote_dir; exit \$rc"
fi
