#!/usr/bin/env bash
# Stops the SLURM daemons that scripts/slurm_up.sh started (listed in $CEP_SLURM_DIR/started), and nothing else.
set -euo pipefail
STATE=${CEP_SLURM_DIR:-/var/tmp/cep-slurm}
[ -f "$STATE/started" ] || exit 0
pidfile() { case $1 in munged) echo /run/munge/munged.pid ;; *) echo "$STATE/$1.pid" ;; esac; }
for daemon in slurmd slurmctld munged; do  # the reverse of the start order
    grep -qx "$daemon" "$STATE/started" || continue
    file=$(pidfile "$daemon")
    pid=$(cat "$file" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done  # gone before a restart
        echo "slurm_down: stopped $daemon"
    fi
    sed -i "/^$daemon\$/d" "$STATE/started"
done
