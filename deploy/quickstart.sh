#!/usr/bin/env bash
# Sluice quickstart: build, start a local collector (SQLite) and the agent shipping to it, and
# show the agent's figures live. Ctrl-C (or SIGTERM) stops both and puts the host back as it
# was: kernel audit settings and rules, and auditd if it was running.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir="$repo/.quickstart"
port=7443
build=1
duration=0

usage() {
  cat <<EOF
usage: sudo deploy/quickstart.sh [--no-build] [--dir DIR] [--port PORT] [--duration SECONDS]

Builds sluice-agent and sluice-collector (self-contained, deploy/publish.sh), starts
sluice-collector with an SQLite store on 127.0.0.1:PORT and sluice-agent with the default
settings and rules, shipping to it, and shows the agent's figures every second.
Ctrl-C stops both and restores the host (kernel audit settings, rules, auditd).

  --no-build          use the publish already in DIR/publish
  --dir DIR           working directory: publish, config, token, spool, state, store, logs
                      (default: .quickstart in the repository)
  --port PORT         collector port on 127.0.0.1 (default 7443)
  --duration SECONDS  stop by itself after SECONDS (default: run until Ctrl-C)
  -h, --help          this text

Needs root (the agent takes over kernel audit), Linux with kernel audit, and the .NET 10 SDK
to build. Missing system packages are installed with apt-get where possible.
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
    --port) port=${2:?--port needs a number}; shift 2 ;;
    --duration) duration=${2:?--duration needs a number of seconds}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "quickstart: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] \
  || { echo "quickstart: --port '$port': expected a TCP port, 1-65535" >&2; exit 2; }
[[ "$duration" =~ ^[0-9]+$ ]] || { echo "quickstart: --duration '$duration': expected whole seconds" >&2; exit 2; }

say() { echo "quickstart: $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

# ---------------------------------------------------------------- what this machine needs
[ "$(id -u)" = 0 ] || die "needs root: the agent takes over kernel audit (CAP_AUDIT_CONTROL). Run: sudo $0 $*"
[ "$(uname -s)" = Linux ] || die "needs Linux (kernel audit); this is $(uname -s)"
[ -e /proc/self/loginuid ] || die "this kernel has no audit support (CONFIG_AUDIT/CONFIG_AUDITSYSCALL): /proc/self/loginuid is missing"

missing=()
command -v setsid >/dev/null && command -v flock >/dev/null || missing+=(util-linux)
command -v sha256sum >/dev/null && command -v base64 >/dev/null || missing+=(coreutils)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    say "installing ${missing[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing: ${missing[*]} (no apt-get here: install them with the system's package manager)"
  fi
fi

find_dotnet() {
  # sudo resets PATH, so look where the SDK installers put it too.
  local home=""
  [ -n "${SUDO_USER:-}" ] && home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
  for d in "$(command -v dotnet || true)" ${DOTNET_ROOT:+"$DOTNET_ROOT/dotnet"} /usr/share/dotnet/dotnet /usr/lib/dotnet/dotnet \
           /usr/local/share/dotnet/dotnet ${home:+"$home/.dotnet/dotnet"} /root/.dotnet/dotnet; do
    if [ -n "$d" ] && [ -x "$d" ] && "$d" --list-sdks 2>/dev/null | grep -q '^10\.'; then
      echo "$d"; return 0
    fi
  done
  return 1
}

pub="$dir/publish"
if [ "$build" = 1 ]; then
  if ! dotnet=$(find_dotnet); then
    if command -v apt-get >/dev/null && apt-cache show dotnet-sdk-10.0 >/dev/null 2>&1; then
      say "installing dotnet-sdk-10.0 (apt-get)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dotnet-sdk-10.0 >/dev/null
      dotnet=$(find_dotnet) || die "dotnet-sdk-10.0 was installed but no .NET 10 SDK is found"
    else
      die "missing: the .NET 10 SDK (no 'dotnet' with a 10.x SDK in PATH, \$DOTNET_ROOT, /usr/share/dotnet or ~/.dotnet, and no dotnet-sdk-10.0 apt package).
  Install it: https://learn.microsoft.com/dotnet/core/install/linux, e.g.
    curl -sSL https://dot.net/v1/dotnet-install.sh | bash -s -- --channel 10.0 --install-dir /usr/share/dotnet
  or run with --no-build on an existing publish (deploy/publish.sh --out $pub)."
    fi
  fi
  mkdir -p "$dir"
  "$repo/deploy/publish.sh" --out "$pub" --dotnet "$dotnet"
fi
agent_bin="$pub/agent/sluice-agent"
collector_bin="$pub/collector/sluice-collector"
[ -x "$agent_bin" ] && [ -x "$collector_bin" ] \
  || die "no publish in $pub (expected $agent_bin and $collector_bin): run without --no-build, or deploy/publish.sh --out $pub"

# ---------------------------------------------------------------- one user of kernel audit at a time
# The Sluice kernel tests and benchmarks take this lock; so does this script. A caller that
# already holds it (a test running this script) sets KERNEL_AUDIT_LOCK to an empty string.
lock=${KERNEL_AUDIT_LOCK-/run/lock/sluice-kernel-audit-tests.lock}
if [ -n "$lock" ]; then
  mkdir -p "$(dirname "$lock")"
  exec 9>"$lock"
  if ! flock -n 9; then
    say "waiting for $lock (another Sluice program, e.g. the kernel tests, is using kernel audit)"
    flock 9
  fi
fi

# ---------------------------------------------------------------- layout, config and token
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
store="sqlite:$dir/collector.db"
sock="$dir/agent.sock"
agent_id="quickstart-$(hostname -s | tr -c 'A-Za-z0-9._:\n-' '-')"
token_file="$dir/agent.token"
(umask 077
 # A fresh token each run: the agent keeps it in a 0600 file, the collector only its digest.
 head -c 33 /dev/urandom | base64 | tr '+/' '-_' > "$token_file"
 printf '# AGENT_ID sha256:HEX of its token (sluice-collector serve --tokens)\n%s sha256:%s\n' \
   "$agent_id" "$(tr -d '\n' < "$token_file" | sha256sum | cut -d' ' -f1)" > "$dir/collector.tokens")
cat > "$dir/agent.json" <<EOF
{
  // Written by deploy/quickstart.sh: the defaults of config/agent.json, except that state,
  // spool and status socket live in $dir and events go to the local collector.
  // Rules: /etc/sluice/audit.rules if installed, else the built-in baseline (config/audit.rules).
  "AgentId": "$agent_id",
  "StateDirectory": "$dir/state",
  "Sink": { "Type": "Collector" },
  "Spool": { "Directory": "$dir/spool" },
  "Shipping": {
    "CollectorUrl": "http://127.0.0.1:$port",
    // Plain h2c is acceptable on loopback only; a real deployment uses https:// (TLS).
    "AllowInsecureTransport": true,
    "TokenFile": "$token_file",
    "QuarantineDirectory": "$dir/quarantine"
  },
  "Status": { "Socket": "$sock" }
}
EOF

# ---------------------------------------------------------------- stop everything, whatever happened
collector_pid="" agent_pid="" watch_pid="" sleeper="" auditd_before="" rc=0 cleaned=0 dashboard="" started=""
auditd_running() { # any process named auditd (procps may be absent on a fresh machine)
  local f
  for f in /proc/[0-9]*/comm; do [ "$(cat "$f" 2>/dev/null)" = auditd ] && return 0; done
  return 1
}
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop_pid() { # pid seconds name
  local pid=$1 secs=$2 name=$3 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
  say "$name (pid $pid) did not stop within ${secs}s after SIGTERM: killing it"
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}
agent_exit() { # the agent's exit code, once it has been reaped
  wait "$agent_pid" 2>/dev/null
}

cleanup() {
  [ "$cleaned" = 1 ] && return
  cleaned=1
  trap '' INT TERM
  set +e
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  if [ -n "$watch_pid" ]; then kill -TERM "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
  echo
  if alive "$agent_pid"; then
    say "stopping the agent: final drain, spool, give kernel audit back (log: $dir/agent.log)"
    # The agent's own stop restores settings, rules and auditd; allow for restarting auditd.
    if ! stop_pid "$agent_pid" 120 sluice-agent; then
      "$agent_bin" restore --config "$dir/agent.json" || rc=1
    fi
  fi
  if [ -n "$agent_pid" ]; then
    local code=0
    agent_exit || code=$?
    if [ "$code" != 0 ] && [ "$code" != 143 ]; then
      say "sluice-agent exited with $code; the end of its log:"; tail -n 20 "$dir/agent.log" | sed 's/^/  /'
      rc=1
    fi
    grep -E 'Totals:|Host restored|Restore' "$dir/agent.log" | sed 's/^/  agent: /' || true
  fi
  # The kernel state file is removed once the host is restored; one left behind means it was not.
  if [ -f "$dir/state/kernel-state.json" ]; then
    say "the agent did not finish restoring the host; retrying from $dir/state/kernel-state.json"
    "$agent_bin" restore --config "$dir/agent.json" || rc=1
  fi
  if alive "$collector_pid"; then
    say "stopping the collector"
    stop_pid "$collector_pid" 30 sluice-collector || true
  fi
  [ -n "$collector_pid" ] && { wait "$collector_pid" 2>/dev/null || true; }
  if [ "$auditd_before" = yes ]; then
    if auditd_running; then say "auditd was running before, and is running again"
    else say "auditd was running before and is NOT running now: start it with 'service auditd start'"; rc=1; fi
  fi
  if [ -n "$collector_pid" ] && [ -f "$dir/collector.db" ]; then
    echo
    say "what the collector stored ($store):"
    "$collector_bin" stats --store "$store" 2>&1 | sed 's/^/  /' || true
    cat <<EOF

The data stays in $dir:
  store    $dir/collector.db (SQLite; the tables are described in src/Sluice.Collector/README.md)
  logs     $dir/agent.log  $dir/collector.log
  spool    $dir/spool: events of the last drain not yet acknowledged; the next run sends them
Query it:
  $collector_bin stats --store $store
  $collector_bin stats --store $store --json
  $collector_bin export --store $store --out events.jsonl
  $collector_bin report --store $store --from $started --to now --out $dir/report.html
  sqlite3 $dir/collector.db "select key, count(*) from events group by key"   (if sqlite3 is installed)
Dashboard: $dashboard/ while a collector serves this store, e.g.
  $collector_bin serve --listen 127.0.0.1:$port --store $store --tokens $dir/collector.tokens
EOF
  fi
}
trap 'cleanup; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- start the collector, then the agent
if auditd_running; then auditd_before=yes; say "auditd is running: the agent stops it now and starts it again at the end"; fi
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "127.0.0.1:$port is in use: pick another port with --port"
fi

say "starting sluice-collector on 127.0.0.1:$port, store $dir/collector.db"
# Own sessions (setsid): Ctrl-C reaches this script only, which then stops the agent first
# (its last batches still reach the collector) and the collector after it.
setsid "$collector_bin" serve --listen "127.0.0.1:$port" --store "$store" --tokens "$dir/collector.tokens" \
  >"$dir/collector.log" 2>&1 9>&- &
collector_pid=$!
for ((i = 0; i < 300; i++)); do
  grep -q 'listening on' "$dir/collector.log" 2>/dev/null && break
  alive "$collector_pid" || { cat "$dir/collector.log" >&2; die "sluice-collector exited at start"; }
  sleep 0.1
done
grep -q 'listening on' "$dir/collector.log" || die "sluice-collector did not start listening within 30s (log: $dir/collector.log)"
# The dashboard is served on the collector's own address (the collector logs it).
dashboard=$(sed -n 's/^sluice-collector: dashboard at \([^ ]*\).*/\1/p' "$dir/collector.log" | head -n 1)
dashboard=${dashboard%/}
dashboard=${dashboard:-http://127.0.0.1:$port}
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
say "dashboard: $dashboard/ (while this runs)"

say "starting sluice-agent (config $dir/agent.json)"
setsid "$agent_bin" run --config "$dir/agent.json" >"$dir/agent.log" 2>&1 9>&- &
agent_pid=$!
for ((i = 0; i < 600; i++)); do
  [ -S "$sock" ] && break
  if ! alive "$agent_pid"; then
    code=0; agent_exit || code=$?; agent_pid=""
    tail -n 30 "$dir/agent.log" >&2
    die "sluice-agent exited at start with code $code (2 bad config, 3 bad rules, 4 not permitted); log: $dir/agent.log"
  fi
  sleep 0.1
done
[ -S "$sock" ] || die "sluice-agent did not open its status socket $sock within 60s (log: $dir/agent.log)"
grep -E 'rules|Registered' "$dir/agent.log" | sed 's/^/  agent: /' || true
if [ "$duration" -gt 0 ]; then
  say "running for ${duration}s; Ctrl-C stops earlier. Figures every second:"
else
  say "running; Ctrl-C stops both and restores the host. Figures every second:"
fi

# ---------------------------------------------------------------- live figures until Ctrl-C, --duration, or a crash
"$agent_bin" status --watch --socket "$sock" 9>&- &
watch_pid=$!
start=$SECONDS
while :; do
  if ! alive "$agent_pid"; then say "sluice-agent stopped by itself (log: $dir/agent.log)"; rc=1; break; fi
  if ! alive "$collector_pid"; then say "sluice-collector stopped by itself (log: $dir/collector.log)"; rc=1; break; fi
  if [ "$duration" -gt 0 ] && [ $((SECONDS - start)) -ge "$duration" ]; then break; fi
  sleep 1 & sleeper=$!
  wait "$sleeper" || true
done
exit $rc
