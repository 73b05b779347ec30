#!/bin/sh
# Install yardstick's build and test dependencies: Debian 12 packages only.
# Runs apt-get directly as root, through sudo otherwise.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config clang \
  libopenblas-dev libsqlite3-dev libcjson-dev libpcre2-dev libcmocka-dev \
  wordnet-base \
  libopenmpi-dev openmpi-bin \
  chromium fonts-dejavu-core
