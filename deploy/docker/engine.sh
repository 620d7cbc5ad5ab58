#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs docker.io when dockerd is missing (with a
# policy-rc.d, so the package starts nothing), and starts dockerd by hand — these machines
# have no systemd — with the cgroupfs driver and no iptables (no firewall tools here). Its log
# is /var/log/aiwriter-dockerd.log. Needs root.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
if ! command -v dockerd >/dev/null; then
  created=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=yes; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  [ -n "$created" ] && rm -f /usr/sbin/policy-rc.d
fi
nohup dockerd --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs --iptables=false \
  >/var/log/aiwriter-dockerd.log 2>&1 &
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done
echo "dockerd did not answer within 30 s; /var/log/aiwriter-dockerd.log:" >&2
tail -20 /var/log/aiwriter-dockerd.log >&2
exit 1
