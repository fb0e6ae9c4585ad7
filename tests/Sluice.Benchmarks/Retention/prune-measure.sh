#!/usr/bin/env bash
# Times `sluice-collector prune` on both stores, RUNS times each, on the same synthetic store:
# 20 hosts x 30 days (report-dataset) starting 60 days before today, pruned with --older-than 45,
# so that every run, on any date, removes the same 15 days (half the store).
# PostgreSQL is a throwaway cluster from Debian's binaries on a free port, owned by 'postgres'.
# Usage (as root, from the repository): tests/Sluice.Benchmarks/Retention/prune-measure.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${1:-3}
work=$(mktemp -d /tmp/sluice-prune-measure.XXXXXX)
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date -u -d "today -60 days" +%Y-%m-%dT00:00:00Z)
cleanup() {
  runuser -u postgres -- "$bin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

for project in src/Sluice.Collector tests/Sluice.Benchmarks; do
  dotnet build -c Release -v q -nologo "$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
collector=(dotnet src/Sluice.Collector/bin/Release/net10.0/sluice-collector.dll)
dataset=(dotnet run -c Release --no-build --project tests/Sluice.Benchmarks -- report-dataset --hosts 20 --days 30 --start "$start")

chmod 755 "$work"  # the cluster runs as postgres, which must reach its directory
mkdir -p "$work/pg" && chown postgres: "$work/pg"
runuser -u postgres -- "$bin/initdb" -D "$work/pg/data" -U sluice --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 60 start \
  -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB" >/dev/null

# Seconds of wall time for one prune; its own summary goes to the log.
prune() {
  local store=$1 t0 t1
  t0=$(date +%s.%N)
  "${collector[@]}" prune --store "$store" --older-than 45 --allow-short-retention >>"$work/prune.log"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.1f\", b - a }"
}

echo "dataset: 20 hosts x 30 days from $start; prune --older-than 45 (15 days); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"${dataset[@]}" --store "sqlite:$work/base.db" >/dev/null
for i in $(seq 1 "$runs"); do
  cp "$work/base.db" "$work/run.db"
  s=$(prune "sqlite:$work/run.db")
  echo "sqlite run $i: ${s}s"
  rm -f "$work/run.db"*
done
for i in $(seq 1 "$runs"); do
  psql -h 127.0.0.1 -p "$port" -U sluice -d postgres -qc "CREATE DATABASE r$i"
  conn="postgres:Host=127.0.0.1;Port=$port;Username=sluice;Database=r$i"
  "${dataset[@]}" --store "$conn" >/dev/null
  s=$(prune "$conn")
  echo "postgres run $i: ${s}s"
done
grep -h "^removed" "$work/prune.log"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
