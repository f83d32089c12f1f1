#!/usr/bin/env bash
# Brings up a one-node SLURM on this machine from Debian's packages (slurm-wlm, munge): munged, slurmctld and
# slurmd with a slurm.conf for this host (its CPUs and memory from `slurmd -C`). Idempotent: quick when SLURM
# already answers. What it starts is listed in $CEP_SLURM_DIR/started; scripts/slurm_down.sh stops only that.
# Usage: scripts/slurm_up.sh [--install]   (--install: apt-get install slurm-wlm munge when they are missing)
# Exit status 0: srun works here; otherwise one line on stderr says why not (the slurm tests then skip).
set -euo pipefail
STATE=${CEP_SLURM_DIR:-/var/tmp/cep-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by cep_lightning scripts/slurm_up.sh"

fail() { echo "slurm_up: $*" >&2; exit 1; }
node_ready() { sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

if command -v sinfo >/dev/null && node_ready; then echo "slurm_up: already up ($(sinfo -h -o '%N %c CPUs %T'))"; exit 0; fi
[ "$(id -u)" = 0 ] || fail "needs root to start munged, slurmctld and slurmd"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [ "${1:-}" = --install ] && command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed (--install: apt-get install them)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 \
        || fail "apt-get install -y slurm-wlm munge failed"
fi
mkdir -p "$STATE/ctld" "$STATE/d"
touch "$STATE/started"
started() { grep -qx "$1" "$STATE/started" || echo "$1" >>"$STATE/started"; }

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
    started munged
fi

if [ ! -f "$CONF" ] || grep -qxF "$MARK" "$CONF"; then
    HOST=$(hostname -s)
    NODE=$(slurmd -C | head -1)  # NodeName=<host> CPUs=... RealMemory=...
    cat >"$CONF".tmp <<CONF
$MARK
ClusterName=cep
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
$NODE State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
    mv "$CONF".tmp "$CONF"
fi

if ! scontrol ping 2>/dev/null | grep -q UP; then
    slurmctld || fail "slurmctld did not start (see $STATE/slurmctld.log)"
    started slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    slurmd || fail "slurmd did not start (see $STATE/slurmd.log)"
    started slurmd
fi
for _ in $(seq 60); do
    node_ready && { echo "slurm_up: up ($(sinfo -h -o '%N %c CPUs %T'))"; exit 0; }
    sinfo -h -o %T 2>/dev/null | grep -qE '^(down|drain)' && scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
    sleep 0.5
done
fail "the node did not become idle in 30 s (see $STATE/slurmctld.log and $STATE/slurmd.log)"
