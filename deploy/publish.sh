#!/usr/bin/env bash
# Publishes sluice-agent and sluice-collector, self-contained, for this machine's architecture:
#   OUT/agent/sluice-agent   OUT/collector/sluice-collector
# Used by quickstart.sh and install.sh, so the quickstart runs exactly what gets installed, and
# by the agent's tests, which run this publish of the agent.
# Self-contained: the installed host needs no .NET runtime, and its runtime version is the one
# the binaries were tested with. Each program gets its own directory because they depend on
# different shared frameworks (the collector on ASP.NET Core).
# sluice-agent is compiled ahead of time (NativeAOT, PublishAot in its project): one native
# executable with no JIT, which runs on every host of a fleet, so its memory and start-up are
# what count. Linking it needs a C toolchain on the build machine: gcc (or clang), binutils'
# objcopy and libc6-dev; zlib and brotli come with the .NET runtime pack. The collector is
# published as before (JIT, self-contained).
set -euo pipefail

usage() {
  cat <<EOF
usage: deploy/publish.sh --out DIR [--rid RID] [--dotnet PATH]
  --out DIR      where to publish (DIR/agent, DIR/collector); replaced if present
  --rid RID      runtime identifier (default: linux-x64 or linux-arm64, from uname -m); the
                 agent is compiled natively, so another architecture needs a cross linker
  --dotnet PATH  the dotnet SDK to build with (default: dotnet from PATH)
EOF
}

repo=$(cd "$(dirname "$0")/.." && pwd)
out="" rid="" dotnet=dotnet
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --rid) rid=${2:?--rid needs a runtime identifier}; shift 2 ;;
    --dotnet) dotnet=${2:?--dotnet needs a path}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "publish.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "publish.sh: --out DIR is required" >&2; usage >&2; exit 2; }

if [ -z "$rid" ]; then
  case "$(uname -m)" in
    x86_64) rid=linux-x64 ;;
    aarch64|arm64) rid=linux-arm64 ;;
    *) echo "publish.sh: no .NET runtime identifier for architecture $(uname -m); pass --rid" >&2; exit 2 ;;
  esac
fi

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
mkdir -p "$out"
out=$(cd "$out" && pwd)
for app in agent collector; do
  project="$repo/src/Sluice.${app^}"
  how="self-contained"
  [ "$app" = agent ] && how="NativeAOT"
  echo "publish.sh: building sluice-$app ($rid, $how) into $out/$app"
  rm -rf "${out:?}/$app.tmp"
  # Build into a temp directory and swap, so a failed build leaves the previous publish intact.
  # The agent's project sets PublishAot; the same command compiles it natively.
  "$dotnet" publish "$project" -c Release -r "$rid" --self-contained true -o "$out/$app.tmp" -nologo -v quiet \
    -p:DebugType=none -p:GenerateDocumentationFile=false
  # DebugType=none makes no native symbol file; one here is a leftover of an earlier build with
  # symbols (obj/ keeps it), and 37 MB that nothing loads.
  rm -f "$out/$app.tmp/sluice-$app.dbg"
  rm -rf "${out:?}/$app"
  mv "$out/$app.tmp" "$out/$app"
done
echo "$rid" > "$out/RID"
