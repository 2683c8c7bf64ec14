#!/usr/bin/env bash
# Install the Debian packages the tests use, if missing: real Fashion-MNIST for its example,
# and the PostgreSQL server the storage tests start on loopback.
# Runs apt-get as root, through sudo when needed. Nothing is downloaded at test time, and the
# tests fail rather than skip when a package is missing.
set -euo pipefail

packages=(dataset-fashion-mnist postgresql chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq "${missing[@]}" \
    || { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq "${missing[@]}"; }
