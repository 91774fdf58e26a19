#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (run by `npm test` before anything else).
# As root on a fresh Debian machine it installs them; otherwise it names the exact apt-get command.
set -euo pipefail

# package → a file it provides (what the tests actually call)
declare -A needed=(
  [chromium]=/usr/bin/chromium
  [dcmtk]=/usr/bin/dcmdump
  [libgdcm-tools]=/usr/bin/gdcmconv
  [dicom3tools]=/usr/bin/dciodvfy
  [orthanc]=/usr/sbin/Orthanc
  # The plugin (.so) is not executable: check the folder only this package creates.
  [orthanc-dicomweb]=/usr/share/doc/orthanc-dicomweb
  # The BullMQ job engine's tests start their own Redis (server/src/jobs/bullmq-jobs.int.test.ts).
  [redis-server]=/usr/bin/redis-server
)

missing=()
for package in "${!needed[@]}"; do
  [ -x "${needed[$package]}" ] || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "ensure-system-deps: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # Keep packages with daemons (orthanc, redis) from starting system services: tests start their own.
  created_policy=false
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$created_policy" = true ]; then rm -f /usr/sbin/policy-rc.d; fi
  echo "ensure-system-deps: installed ${missing[*]}"
else
  echo "ensure-system-deps: the tests need Debian packages that are not installed: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
