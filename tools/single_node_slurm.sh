#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the cluster tests and for trying the profile.
#
#   tools/single_node_slurm.sh install   # Debian's slurm-wlm and munge, when missing (root, apt-get)
#   tools/single_node_slurm.sh start     # install if needed, write the configuration, start the daemons
#   tools/single_node_slurm.sh stop      # stop the daemons this script started
#   tools/single_node_slurm.sh status    # exit 0 when the node accepts jobs
#
# The node is this machine as `slurmd -C` reads it (CPUs, memory) plus one declared GPU (a gres with
# no device behind it, so GPU requests can be scheduled and checked without a GPU). There is no
# accounting database: job status comes from `squeue`, and MinJobAge keeps finished jobs visible to it
# for ten minutes. Process tracking is proctrack/linuxproc (no cgroups needed in containers).
#
# It refuses to overwrite a slurm.conf it did not write, so it is safe to run on a real cluster node
# by mistake.
set -euo pipefail

CONF_DIR=${SLURM_CONF_DIR:-/etc/slurm}
STATE_DIR=${SLURM_STATE_DIR:-/var/lib/interpflow-slurm}
MARKER="# written by interpflow tools/single_node_slurm.sh"

log() { echo "single_node_slurm: $*" >&2; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        log "slurm is not installed and cannot be installed here (needs root and apt-get)."
        log "Install slurm-wlm and munge with your package manager, then run: $0 start"
        exit 2
    fi
    log "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    if [[ -f $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARKER" "$CONF_DIR/slurm.conf"; then
        log "$CONF_DIR/slurm.conf exists and was not written by this script; leaving it alone."
        log "Stop here, or move it aside to use the single-node test cluster."
        exit 3
    fi
    local node host
    host=$(hostname -s)
    # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
    node=$(slurmd -C | head -n 1)
    mkdir -p "$CONF_DIR" "$STATE_DIR"/{ctld,d} /var/log/slurm /run/munge
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARKER
ClusterName=interpflow
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
ReturnToService=2
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$node Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$CONF_DIR/gres.conf" <<EOF
$MARKER
NodeName=$host Name=gpu Count=1 File=/dev/null
EOF
}

start_munge() {
    if pgrep -x munged >/dev/null; then return 0; fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
    else
        /usr/sbin/munged --force
    fi
    touch "$STATE_DIR/munged.started"
}

wait_for_node() {
    for _ in $(seq 60); do
        if sinfo --noheader --states=idle,mixed,allocated --format=%N 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 1
    done
    log "the node did not come up; last lines of the logs:"
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    return 1
}

start() {
    install
    write_config
    start_munge
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    wait_for_node
    log "up: $(sinfo --noheader --format='%P %N %c CPUs %m MB %G')"
}

stop() {
    for daemon in slurmd slurmctld; do
        local pidfile=$STATE_DIR/$daemon.pid
        if [[ -s $pidfile ]]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    for _ in $(seq 20); do
        pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
        sleep 0.5
    done
    if [[ -f $STATE_DIR/munged.started ]]; then
        pkill -x munged || true
        rm -f "$STATE_DIR/munged.started"
    fi
}

status() {
    sinfo --noheader --states=idle,mixed,allocated --format=%N 2>/dev/null | grep -q .
}

case ${1:-} in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 {install|start|stop|status}" >&2
        exit 64
        ;;
esac
