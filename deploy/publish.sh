#!/usr/bin/env bash
# Publishes sluice-agent and sluice-collector, self-contained, for this machine's architecture:
#   OUT/agent/sluice-agent   OUT/collector/sluice-collector
# Used by quickstart.sh and install.sh, so the quickstart runs exactly what gets installed.
# Self-contained: the installed host needs no .NET runtime, and its runtime version is the one
# the binaries were tested with. Each program gets its own directory because they depend on
# different shared frameworks (the collector on ASP.NET Core).
set -euo pipefail

usage() {
  cat <<EOF
usage: deploy/publish.sh --out DIR [--rid RID] [--dotnet PATH]
  --out DIR      where to publish (DIR/agent, DIR/collector); replaced if present
  --rid RID      runtime identifier (default: linux-x64 or linux-arm64, from uname -m)
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
  echo "publish.sh: building sluice-$app ($rid, self-contained) into $out/$app"
  rm -rf "${out:?}/$app.tmp"
  # Build into a temp directory and swap, so a failed build leaves the previous publish intact.
  "$dotnet" publish "$project" -c Release -r "$rid" --self-contained true -o "$out/$app.tmp" -nologo -v quiet \
    -p:DebugType=none -p:GenerateDocumentationFile=false
  rm -rf "${out:?}/$app"
  mv "$out/$app.tmp" "$out/$app"
done
echo "$rid" > "$out/RID"
