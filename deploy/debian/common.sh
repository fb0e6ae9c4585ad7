# Shared by the maintainer scripts of sluice-agent and sluice-collector: deploy/build-deb.sh puts
# this text where a script says #COMMON#. Plain POSIX sh, no debhelper.

# systemctl only where systemd is the running init (not in a container or chroot without it).
systemd_running() { [ -d /run/systemd/system ]; }

# The PIDs whose executable is $1, also after an upgrade replaced the file ("$1 (deleted)"): a
# program started by hand, without systemd, from this package's path.
pids_of() {
    for d in /proc/[0-9]*; do
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        case "$exe" in "$1" | "$1 (deleted)") printf '%s ' "${d#/proc/}" ;; esac
    done
}

# stop_program EXE NAME SECONDS: SIGTERM to every process of EXE, then wait up to SECONDS for
# them to end (the agent's stop is a final drain and the restore of kernel audit and auditd);
# SIGKILL after that.
stop_program() {
    pids=$(pids_of "$1")
    [ -n "$pids" ] || return 0
    echo "$2: stopping ${pids}(SIGTERM; waiting up to $3 s)"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    i=0
    while [ "$i" -lt "$(($3 * 10))" ]; do
        [ -n "$(pids_of "$1")" ] || return 0
        sleep 0.1
        i=$((i + 1))
    done
    pids=$(pids_of "$1")
    echo "$2: ${pids}still running after $3 s: SIGKILL" >&2
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

# start_unit UNIT PREVIOUS-VERSION (postinst configure, systemd running): enable it unless the
# administrator disabled it before (deb-systemd-helper keeps that state across upgrades and
# removal), then start it, or restart it after an upgrade. deb-systemd-invoke starts no disabled
# unit and honours policy-rc.d.
start_unit() {
    if deb-systemd-helper --quiet was-enabled "$1"; then
        deb-systemd-helper enable "$1" >/dev/null || true
    else
        deb-systemd-helper update-state "$1" >/dev/null || true
    fi
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then
        deb-systemd-invoke restart "$1" >/dev/null || true
    else
        deb-systemd-invoke start "$1" >/dev/null || true
    fi
}
