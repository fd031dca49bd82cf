#!/usr/bin/env bash
# Install the Debian packages the tests and the demo use, when they are missing.
# Real parts, not mocks: mosquitto, ffmpeg, GStreamer's RTSP server, Prometheus, socat.
set -euo pipefail

packages=(
  mosquitto mosquitto-clients ffmpeg socat
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  prometheus snmp snmptrapd
)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
