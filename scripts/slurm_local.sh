#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests marked `slurm` (tests/test_slurm.py).
#
# For a Debian 12 machine (or container) where we are root and there is no systemd, as CI's:
# installs Debian's slurmctld, slurmd, slurm-client, slurmdbd, munge and mariadb-server, then
# starts munged, MariaDB, slurmdbd (accounting: submitit asks `sacct` whether a job died),
# slurmctld and slurmd with a slurm.conf naming this host, its CPUs and its memory, and waits
# until `sinfo` shows the node idle. Safe to run again: what runs and answers is left running,
# stale pid files are removed, a changed config restarts the daemons that read it.
#
#   scripts/slurm_local.sh          # bring the cluster up (or check that it is up)
#   scripts/slurm_local.sh stop     # stop the daemons it started
#
# The config suits a test machine, not a shared cluster: ProctrackType=proctrack/linuxproc and
# no cgroup plugins (in a container, cgroup plugins build their hierarchy outside the container's
# own cgroup), TaskPlugin=task/affinity (a job is bound to the CPUs it was granted),
# EnforcePartLimits=ALL (a request no node can satisfy fails at submission instead of pending
# forever), and a requeued job that may start again after about 12 s instead of SLURM's 2 minutes
# (see WAIT_REQUEUE below).
set -euo pipefail

CLUSTER=al
PARTITION=debug
ETC=/etc/slurm
LOG=/var/log/slurm
DB_PASSWORD=al-test-cluster # a local test database; MariaDB listens on localhost only
# Seconds a requeued job waits before it may start again: slurmctld sets a requeued job's begin
# time to now + the job credential's lifetime + 1, and that lifetime is AuthInfo=cred_expire
# (default 120 s, the 2-minute wait seen on a default cluster; slurmctld refuses values below 5 and
# falls back to 120). A credential is also refused by slurmd once older than that, so 10 leaves a
# loaded 2-core machine time to launch a job step. SchedulerParameters below then start the job
# within about 2 s of becoming eligible (the defaults try every 30-60 s): a requeue takes ~12 s.
WAIT_REQUEUE=10

say() { echo "slurm_local: $*"; }
die() {
	echo "slurm_local: error: $*" >&2
	exit 1
}

start_time=$(date +%s)
host=$(hostname -s)

# --- helpers -------------------------------------------------------------------------------

# running NAME PIDFILE: whether the process in PIDFILE is alive and is NAME; removes a stale file
running() {
	local name=$1 pidfile=$2 pid
	[[ -s $pidfile ]] || return 1
	pid=$(<"$pidfile")
	if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/comm ]] && [[ $(</proc/"$pid"/comm) == "$name" ]]; then
		return 0
	fi
	say "removing stale pid file $pidfile"
	rm -f "$pidfile"
	return 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every half second
wait_for() {
	local seconds=$1 what=$2
	shift 2
	local deadline=$(($(date +%s) + seconds))
	until "$@" >/dev/null 2>&1; do
		if (($(date +%s) >= deadline)); then
			die "$what did not come up within ${seconds}s; see $LOG/"
		fi
		sleep 0.5
	done
}

# stop_daemon NAME PIDFILE
stop_daemon() {
	local name=$1 pidfile=$2 pid
	if running "$name" "$pidfile"; then
		pid=$(<"$pidfile")
		say "stopping $name (pid $pid)"
		kill "$pid"
		for _ in $(seq 1 40); do
			[[ -d /proc/$pid ]] || break
			sleep 0.25
		done
		rm -f "$pidfile"
	fi
}

stop_all() {
	stop_daemon slurmd /run/slurmd.pid
	stop_daemon slurmctld /run/slurmctld.pid
	stop_daemon slurmdbd /run/slurmdbd.pid
}

if [[ ${1:-} == stop ]]; then
	stop_all
	stop_daemon munged /run/munge/munged.pid
	if [[ -x /etc/init.d/mariadb ]]; then
		service mariadb stop >/dev/null && say "stopped MariaDB"
	fi
	exit 0
fi

[[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts system daemons)"

# --- packages ------------------------------------------------------------------------------

packages=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	command -v apt-get >/dev/null || die "no apt-get here: install ${missing[*]} yourself"
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
else
	say "packages already installed"
fi

# --- munge ---------------------------------------------------------------------------------

if [[ ! -s /etc/munge/munge.key ]]; then
	say "creating /etc/munge/munge.key"
	mungekey --create --force
	chown munge:munge /etc/munge/munge.key
	chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if running munged /run/munge/munged.pid; then
	say "munged already running"
else
	say "starting munged"
	# --force: a socket left by a killed munged is replaced
	runuser -u munge -- /usr/sbin/munged --force
fi
wait_for 10 munged sh -c 'munge -n | unmunge'

# --- MariaDB and the accounting database ---------------------------------------------------

if mysqladmin ping >/dev/null 2>&1; then
	say "MariaDB already running"
else
	say "starting MariaDB"
	rm -f /run/mysqld/mysqld.pid
	service mariadb start >/dev/null
	wait_for 30 MariaDB mysqladmin ping
fi
mysql <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# --- config files --------------------------------------------------------------------------

install -d -o slurm -g slurm -m 0755 "$ETC" "$LOG" /var/lib/slurm/slurmctld /var/spool/slurmd

# write_config FILE MODE: stdin to FILE when it differs; returns 0 when FILE changed
write_config() {
	local file=$1 mode=$2 new
	new=$(mktemp)
	cat >"$new"
	if [[ -f $file ]] && cmp -s "$new" "$file"; then
		rm -f "$new"
		return 1
	fi
	install -o slurm -g slurm -m "$mode" "$new" "$file"
	rm -f "$new"
	say "wrote $file"
	return 0
}

# This node as slurmd sees it (CPUs, sockets, cores, threads, RealMemory in MB).
node_line=$(slurmd -C | head -n 1)
[[ $node_line == NodeName=* ]] || die "slurmd -C did not describe this node: $node_line"
node_line=${node_line/NodeName=$host /NodeName=$host NodeAddr=127.0.0.1 }

changed=0
write_config "$ETC/slurmdbd.conf" 0600 <<CONF && changed=1
# written by scripts/slurm_local.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
CONF

write_config "$ETC/slurm.conf" 0644 <<CONF && changed=1
# written by scripts/slurm_local.sh: a single-node test cluster on $host
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=$WAIT_REQUEUE
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
EnforcePartLimits=ALL
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
MpiDefault=none
$node_line State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

if ((changed)); then
	stop_all # daemons read their config at start
fi

# --- daemons -------------------------------------------------------------------------------

if running slurmdbd /run/slurmdbd.pid; then
	say "slurmdbd already running"
else
	say "starting slurmdbd"
	slurmdbd
fi
wait_for 30 slurmdbd sacctmgr -n show cluster

if running slurmctld /run/slurmctld.pid; then
	say "slurmctld already running"
else
	say "starting slurmctld"
	slurmctld
fi
wait_for 30 slurmctld scontrol ping

if running slurmd /run/slurmd.pid; then
	say "slurmd already running"
else
	say "starting slurmd"
	slurmd
fi
node_idle() { [[ $(sinfo -h -n "$host" -o %t) =~ ^(idle|mix|alloc) ]]; }
wait_for 30 "node $host" node_idle

# accounting rows carry the cluster; slurmctld registers it, but say so once if it has not
if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
	sacctmgr -i add cluster "$CLUSTER" >/dev/null
	say "registered cluster $CLUSTER with slurmdbd"
fi

say "up in $(($(date +%s) - start_time))s: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %t')"
