#!/usr/bin/env bash
# A private libvirtd and virtlogd for the integration tests, safe on a real host: nothing
# under /etc is edited, the system's libvirtd (if any) is neither used nor stopped, and only
# the processes started here are stopped, by the PIDs recorded here.
#
# The daemons run in a private mount namespace (unshare --mount --propagation private) where
# temporary directories are bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/log/libvirt and /var/cache/libvirt. The private qemu.conf runs QEMU as root; the other
# top-level config files are copied from the real /etc/libvirt first. libvirtd's sockets are
# in ROOT/sock, which is not mounted over, so the tests (outside the namespace) reach it as
#   qemu+unix:///system?socket=ROOT/sock/libvirt-sock
#
#   libvirtd.sh start          start both; prints ROOT (the URI is in ROOT/uri)
#   libvirtd.sh restart ROOT   start libvirtd again in ROOT's namespace (after it was killed)
#   libvirtd.sh stop ROOT      stop ROOT's QEMU processes (by their pid files), libvirtd and
#                              virtlogd (by their recorded PIDs), each with a bounded wait,
#                              then remove ROOT
#   libvirtd.sh host-state     print /etc/libvirt's hash and the libvirtd/virtlogd PIDs
#                              running now (all foreign when called before start)
#   libvirtd.sh host-check FILE  exit 1 (saying why) unless /etc/libvirt still has the hash in
#                              FILE (from host-state) and every PID in FILE still runs
#
# SNAPGOV_LIBVIRTD_ENV (start, restart): NAME=VALUE words put in libvirtd's environment only
# (not virtlogd's, not the caller's), e.g. a test's LD_PRELOAD shim.
set -euo pipefail

die() { echo "libvirtd.sh: $*" >&2; exit 1; }

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# ours ROOT PID: PID is alive and lives in ROOT's private mount namespace (so a PID that was
# reused by an unrelated process is never signalled).
ours() {
  local ns
  [[ $2 =~ ^[0-9]+$ ]] || return 1
  alive "$2" || return 1
  ns=$(readlink "/proc/$2/ns/mnt" 2>/dev/null) || return 1
  [[ $ns == "$(cat "$1/mntns")" ]]
}

# stop_pid ROOT PID: SIGTERM, at most 10 s for it to go, then SIGKILL and at most 5 s more.
stop_pid() {
  local i
  ours "$1" "$2" || return 0
  kill -TERM "$2" 2>/dev/null || true
  for i in $(seq 1 50); do alive "$2" || return 0; sleep 0.2; done
  echo "libvirtd.sh: PID $2 ignored SIGTERM for 10 s; SIGKILL" >&2
  if ours "$1" "$2"; then kill -KILL "$2" 2>/dev/null || true; fi
  for i in $(seq 1 25); do alive "$2" || return 0; sleep 0.2; done
  echo "libvirtd.sh: PID $2 is still there after SIGKILL" >&2
  return 1
}

pid_in() { [[ -s $1 ]] && tr -dc '0-9' < "$1"; }

# wait_answer ROOT: at most 60 s for libvirtd to answer on its socket (the first start
# probes QEMU's capabilities).
wait_answer() {
  local i
  for i in $(seq 1 120); do
    if virsh -c "$(cat "$1/uri")" version >/dev/null 2>&1; then return 0; fi
    ours "$1" "$(pid_in "$1/libvirtd.pid")" || [[ $i -lt 10 ]] ||
      die "libvirtd exited during startup; see $1/log/libvirtd.log"
    sleep 0.5
  done
  die "libvirtd did not answer within 60 s; see $1/log/libvirtd.log"
}

# record_mntns ROOT: writes the mount namespace of ROOT's virtlogd (at most 2 s for its pid
# file) to ROOT/mntns, by which ours() and stop know ROOT's processes. Fails when virtlogd is
# gone or not in a private namespace.
record_mntns() {
  local i ns
  for i in $(seq 1 10); do [[ -n $(pid_in "$1/virtlogd.pid") ]] && break; sleep 0.2; done
  ns=$(readlink "/proc/$(pid_in "$1/virtlogd.pid")/ns/mnt" 2>/dev/null) || return 1
  [[ $ns != "$(readlink /proc/self/ns/mnt)" ]] || return 1
  echo "$ns" > "$1/mntns"
}

# wait_pidfile FILE: at most 10 s for a daemon's pid file.
wait_pidfile() {
  local i
  for i in $(seq 1 50); do [[ -n $(pid_in "$1") ]] && return 0; sleep 0.2; done
  die "no PID in $1 after 10 s"
}

start_libvirtd_cmd() { # the command line that starts libvirtd for ROOT
  local env=""
  [[ -z ${SNAPGOV_LIBVIRTD_ENV:-} ]] || env="env $SNAPGOV_LIBVIRTD_ENV "
  echo "${env}libvirtd -d -f '$1/etc/libvirtd.conf' -p '$1/libvirtd.pid'"
}

etc_hash() {
  {
    find /etc/libvirt -printf '%y %m %u %g %p\n' 2>/dev/null | LC_ALL=C sort
    find /etc/libvirt -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 -r sha256sum
  } | sha256sum | cut -d' ' -f1
}

case "${1:-}" in
start)
  [[ $(id -u) -eq 0 ]] || die "needs root"
  for tool in unshare nsenter libvirtd virtlogd virsh; do
    command -v "$tool" >/dev/null || die "$tool is missing"
  done
  root=$(mktemp -d /tmp/snapgov-libvirt-XXXXXX)
  # A start that fails half-way stops what it started and removes ROOT.
  trap '[[ -n ${started:-} ]] || "$0" stop "$root" >&2 || true' EXIT
  mkdir -p "$root"/{etc,run,lib,log,cache,sock} "$root"/etc/{qemu,nwfilter,secrets}
  # The top-level config files only: domains, networks and filters of the host stay out.
  find /etc/libvirt -maxdepth 1 -type f -name '*.conf' -exec cp -p {} "$root/etc/" \;
  strip() { # strip FILE KEY...: drop the keys this script sets
    local file=$1 re; shift
    re=$(IFS='|'; echo "$*")
    touch "$file"
    sed -i -E "/^[[:space:]]*($re)[[:space:]]*=/d" "$file"
  }
  # namespaces = []: QEMU stays in the private namespace, where stop recognises it.
  strip "$root/etc/qemu.conf" user group swtpm_user swtpm_group namespaces
  cat >> "$root/etc/qemu.conf" <<'CONF'
namespaces = []
user = "root"
group = "root"
swtpm_user = "root"
swtpm_group = "root"
CONF
  strip "$root/etc/libvirtd.conf" unix_sock_dir unix_sock_group unix_sock_ro_perms \
    unix_sock_rw_perms unix_sock_admin_perms auth_unix_ro auth_unix_rw log_outputs \
    listen_tls listen_tcp
  cat >> "$root/etc/libvirtd.conf" <<CONF
unix_sock_dir = "$root/sock"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
  strip "$root/etc/virtlogd.conf" log_outputs
  echo 'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"' >> "$root/etc/virtlogd.conf"
  # A copy of the host's QEMU capabilities cache (read only) spares a probe of several
  # seconds; libvirtd probes again if it does not fit.
  if [[ -d /var/cache/libvirt/qemu/capabilities ]]; then
    mkdir -p "$root/cache/qemu"
    cp -a /var/cache/libvirt/qemu/capabilities "$root/cache/qemu/" 2>/dev/null || true
  fi
  echo "qemu+unix:///system?socket=$root/sock/libvirt-sock" > "$root/uri"
  mounts=""
  # A privileged libvirtd 9.0 looks up its built-in QEMU user and group (libvirt-qemu) before
  # it reads qemu.conf, and fails without them. libvirt-daemon-system creates them; without it
  # (a --no-install-recommends install), the namespace gets copies of /etc/passwd and
  # /etc/group that add them. The host's files are not changed.
  if ! getent passwd libvirt-qemu >/dev/null || ! getent group libvirt-qemu >/dev/null ||
     ! getent group kvm >/dev/null; then
    cp /etc/passwd "$root/passwd"
    cp /etc/group "$root/group"
    getent group libvirt-qemu >/dev/null || echo "libvirt-qemu:x:64055:" >> "$root/group"
    getent group kvm >/dev/null || echo "kvm:x:64056:" >> "$root/group"
    getent passwd libvirt-qemu >/dev/null ||
      echo "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin" \
        >> "$root/passwd"
    mounts+="mount --bind '$root/passwd' /etc/passwd; mount --bind '$root/group' /etc/group; "
  fi
  for pair in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt \
              cache:/var/cache/libvirt; do
    # A missing mount point (libvirt not fully installed) is created empty.
    [[ -d ${pair#*:} ]] || mkdir -p "${pair#*:}"
    mounts+="mount --bind '$root/${pair%%:*}' '${pair#*:}'; "
  done
  if ! unshare --mount --propagation private bash -c "set -e; $mounts
    virtlogd -d -f '$root/etc/virtlogd.conf' -p '$root/virtlogd.pid'
    $(start_libvirtd_cmd "$root")"; then
    # virtlogd may run already: its namespace lets the clean-up (stop) find and stop it.
    record_mntns "$root" || true
    die "could not start the daemons; see $root/log"
  fi
  wait_pidfile "$root/virtlogd.pid"
  wait_pidfile "$root/libvirtd.pid"
  record_mntns "$root" || die "virtlogd is gone, or not in a private namespace"
  ours "$root" "$(pid_in "$root/libvirtd.pid")" || die "libvirtd is not in the namespace"
  wait_answer "$root"
  started=yes
  echo "$root"
  ;;
restart)
  root=${2:?usage: libvirtd.sh restart ROOT}
  vpid=$(pid_in "$root/virtlogd.pid")
  ours "$root" "$vpid" || die "virtlogd of $root is gone: cannot enter its namespace"
  ! ours "$root" "$(pid_in "$root/libvirtd.pid")" || die "libvirtd of $root still runs"
  nsenter --target "$vpid" --mount -- bash -c "$(start_libvirtd_cmd "$root")"
  wait_pidfile "$root/libvirtd.pid"
  wait_answer "$root"
  ;;
stop)
  root=${2:?usage: libvirtd.sh stop ROOT}
  [[ -f $root/uri && $root == /tmp/snapgov-libvirt-* ]] || die "$root is not a ROOT of start"
  rc=0
  if [[ -f $root/mntns ]]; then
    # QEMU first, while libvirtd still runs and can see them go. driver.pid is libvirtd's.
    for f in "$root"/run/qemu/*.pid; do
      [[ -e $f && $(basename "$f") != driver.pid ]] || continue
      pid=$(pid_in "$f")
      # The QEMU of that domain: its command line names the guest.
      tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null |
        grep -q "^guest=$(basename "$f" .pid)," || continue
      stop_pid "$root" "$pid" || rc=1
    done
    stop_pid "$root" "$(pid_in "$root/libvirtd.pid")" || rc=1
    stop_pid "$root" "$(pid_in "$root/virtlogd.pid")" || rc=1
  fi
  rm -rf "$root"
  exit $rc
  ;;
host-state)
  echo "etc $(etc_hash)"
  # Zombies are left out: a daemon that just exited (a previous test's) is not running.
  for p in $(pgrep -x libvirtd || true) $(pgrep -x virtlogd || true); do
    alive "$p" && echo "pid $p $(cat "/proc/$p/comm" 2>/dev/null)"
  done
  true
  ;;
host-check)
  file=${2:?usage: libvirtd.sh host-check FILE}
  rc=0
  [[ $(awk '$1=="etc"{print $2}' "$file") == "$(etc_hash)" ]] ||
    { echo "/etc/libvirt changed during the test" >&2; rc=1; }
  while read -r kind pid comm; do
    [[ $kind == pid ]] || continue
    if ! alive "$pid" || [[ $(cat "/proc/$pid/comm" 2>/dev/null) != "$comm" ]]; then
      echo "$comm (PID $pid), running before the test, is gone" >&2
      rc=1
    fi
  done < "$file"
  exit $rc
  ;;
*)
  die "usage: libvirtd.sh start | restart ROOT | stop ROOT | host-state | host-check FILE"
  ;;
esac
