#!/usr/bin/env bash
# System packages the tests use: an OpenSSH server (tests start their own on 127.0.0.1),
# Debian's ffmpeg/ffprobe (independent checks of the videos) and Debian's chromium (the report
# page is checked in it, headless, driven by playwright). Installs what is missing when run as
# root with apt-get; otherwise says what is missing (the tests that need it then skip).
set -euo pipefail
need=()
command -v sshd > /dev/null 2>&1 || [[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ffprobe > /dev/null 2>&1 || need+=(ffmpeg)
command -v chromium > /dev/null 2>&1 || need+=(chromium)
[[ ${#need[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
else
  echo "missing system packages: ${need[*]} (tests that need them are skipped)" >&2
fi
