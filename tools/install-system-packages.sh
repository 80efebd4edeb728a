#!/usr/bin/env bash
# Debian packages: what Sherpa needs to build from source (PyPI has no wheel for every
# platform), and the third-party tools the tests check the products with: HEASARC's
# fitsverify, SAO funtools (funcnts) and Chromium for the HTML report.
set -euo pipefail
need=()
for pkg in bison flex libfftw3-dev pkg-config fitsverify funtools chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
