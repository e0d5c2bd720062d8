#!/usr/bin/env bash
# System packages the tests need on Debian/Ubuntu: Xvfb and the X11/GL
# libraries that Qt 6's xcb platform plugin loads, and exiftool, the
# independent reader that proves exports carry no metadata. Installs only
# what is missing; without root it prints the command instead.
set -euo pipefail

packages=(
  xvfb xauth
  libgl1 libegl1 libglx-mesa0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
  libxcb-xinerama0 libxcb-xkb1 libxcb-shape0
  libimage-exiftool-perl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "Missing system packages (${missing[*]}) and no apt-get: install Xvfb and Qt's X11 libraries by hand." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
