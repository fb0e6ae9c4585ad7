#!/usr/bin/env bash
# Installs Sluice from a self-contained publish:
#   PREFIX/agent, PREFIX/collector      the programs (default PREFIX /opt/sluice)
#   PREFIX/share                        the shipped default config, for reference
#   BINDIR/sluice-agent, sluice-collector  symlinks (default BINDIR /usr/local/sbin)
#   /etc/sluice                         agent.json, audit.rules, collector.tokens (0600), collector.env (0600)
#                                       (an existing file is never overwritten)
# Run as root, everything it installs is root:root.
#   /etc/systemd/system                 sluice-agent.service, sluice-collector.service
# With --root DESTDIR everything goes below DESTDIR (staging, packaging) and nothing is started.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
root="" prefix=/opt/sluice bindir=/usr/local/sbin publish="" uninstall=0 purge=0

usage() {
  cat <<EOF
usage: deploy/install.sh [--publish-dir DIR] [--root DESTDIR] [--prefix DIR] [--bindir DIR]
       deploy/install.sh --uninstall [--purge] [--root DESTDIR] [--prefix DIR] [--bindir DIR]

  --publish-dir DIR  a self-contained publish (deploy/publish.sh --out DIR: DIR/agent, DIR/collector);
                     default: build one now (needs the .NET 10 SDK)
  --root DESTDIR     install below DESTDIR instead of / (no systemctl calls); root not required
  --prefix DIR       where the programs go (default /opt/sluice)
  --bindir DIR       where the sluice-agent and sluice-collector links go (default /usr/local/sbin)
  --uninstall        stop and disable the units, remove the programs, links and units;
                     keeps /etc/sluice and the data in /var/lib (add --purge to remove them)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --publish-dir) publish=${2:?--publish-dir needs a directory}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --bindir) bindir=${2:?--bindir needs a directory}; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for p in "$prefix" "$bindir"; do
  case "$p" in /*) ;; *) echo "install.sh: '$p' must be an absolute path" >&2; exit 2 ;; esac
done
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || { echo "install.sh: --purge goes with --uninstall" >&2; exit 2; }
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
elif [ "$(id -u)" != 0 ]; then
  echo "install.sh: installing into / needs root (sudo deploy/install.sh), or stage with --root DESTDIR" >&2
  exit 4
fi

say() { echo "install.sh: $*"; }
# systemctl only on the live system, and only where systemd runs.
live_systemd() { [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
units=(sluice-agent.service sluice-collector.service)

if [ "$uninstall" = 1 ]; then
  if live_systemd; then
    # Stopping the agent gives kernel audit back (and restarts auditd if it ran before).
    systemctl disable --now "${units[@]}" 2>/dev/null || true
  fi
  for u in "${units[@]}"; do rm -f "$root/etc/systemd/system/$u"; done
  for b in sluice-agent sluice-collector; do
    [ -L "$root$bindir/$b" ] && rm -f "$root$bindir/$b"
  done
  rm -rf "${root}${prefix:?}"
  if [ "$purge" = 1 ]; then
    rm -rf "$root/etc/sluice" "$root/var/lib/sluice" "$root/var/lib/sluice-collector" "$root/var/lib/private/sluice-collector" "$root/var/log/sluice"
    say "removed the programs, units, configuration and data"
  else
    say "removed the programs and units; kept $root/etc/sluice and the data in $root/var/lib/sluice* (--purge removes them)"
  fi
  live_systemd && systemctl daemon-reload
  exit 0
fi

# ---------------------------------------------------------------- the programs
if [ -z "$publish" ]; then
  publish=$(mktemp -d /tmp/sluice-publish.XXXXXX)
  trap 'rm -rf "$publish"' EXIT
  command -v dotnet >/dev/null || { echo "install.sh: no --publish-dir and no dotnet to build one: install the .NET 10 SDK, or publish elsewhere (deploy/publish.sh --out DIR) and pass --publish-dir DIR" >&2; exit 1; }
  "$repo/deploy/publish.sh" --out "$publish"
fi
for app in agent collector; do
  [ -x "$publish/$app/sluice-$app" ] || { echo "install.sh: $publish/$app/sluice-$app is missing: not a publish from deploy/publish.sh" >&2; exit 1; }
  # Self-contained, so the host needs no .NET: the runtime is in the publish (libcoreclr.so), or
  # the program is compiled natively (NativeAOT: no sluice-$app.dll for a runtime to load).
  # A framework-dependent publish has the .dll and no runtime.
  [ -f "$publish/$app/libcoreclr.so" ] || [ ! -e "$publish/$app/sluice-$app.dll" ] \
    || { echo "install.sh: $publish/$app is not self-contained (sluice-$app.dll without libcoreclr.so): publish with deploy/publish.sh" >&2; exit 1; }
done

# Everything installed belongs to root:root, whoever built or unpacked the publish: a program
# that the builder's account can still write runs as root (the agent) or reads every event (the
# collector) on that account's behalf. Staging with --root as another user keeps that user.
own=()
[ "$(id -u)" = 0 ] && own=(-o root -g root)

copy_tree() { # SRC DEST: directories 0755, programs 0755, other files 0644, all root:root
  local src=$1 dst=$2 f mode
  install -d "${own[@]}" -m 0755 "$dst"
  while IFS= read -r -d '' f; do
    install -d "${own[@]}" -m 0755 "$dst/$f"
  done < <(cd "$src" && find . -mindepth 1 -type d -print0)
  while IFS= read -r -d '' f; do
    # Programs are the executables without an extension (sluice-agent, sluice-collector, the
    # runtime's createdump); the runtime pack's libraries and assemblies come out of the NuGet
    # cache executable (0744), but are loaded, never run: 0644, as Debian wants them too.
    if [ -x "$src/$f" ] && [[ "${f##*/}" != *.* ]]; then mode=0755; else mode=0644; fi
    install "${own[@]}" -m "$mode" "$src/$f" "$dst/$f"
  done < <(cd "$src" && find . -type f -print0)
  while IFS= read -r -d '' f; do
    cp -P "$src/$f" "$dst/$f"
    [ ${#own[@]} -eq 0 ] || chown -h root:root "$dst/$f"
  done < <(cd "$src" && find . -type l -print0)
}

dest="$root$prefix"
install -d "${own[@]}" -m 0755 "$dest"
for app in agent collector; do
  # Copy next to the old version and swap, so a failed copy leaves a working install.
  rm -rf "${dest:?}/$app.new"
  copy_tree "$publish/$app" "$dest/$app.new"
  rm -rf "${dest:?}/$app.old"
  [ -d "$dest/$app" ] && mv "$dest/$app" "$dest/$app.old"
  mv "$dest/$app.new" "$dest/$app"
  rm -rf "${dest:?}/$app.old"
done
say "programs in $dest/agent and $dest/collector"

install -d "${own[@]}" -m 0755 "$dest/share"
install "${own[@]}" -m 0644 "$repo/config/agent.json" "$repo/config/audit.rules" "$repo/deploy/README.md" "$dest/share/"
install "${own[@]}" -m 0644 "$repo/deploy/collector.tokens" "$repo/deploy/collector.env" "$dest/share/"

[ -d "$root$bindir" ] || install -d "${own[@]}" -m 0755 "$root$bindir"
for b in sluice-agent sluice-collector; do
  ln -sfn "$prefix/${b#sluice-}/$b" "$root$bindir/$b"
done
say "links $root$bindir/sluice-agent, $root$bindir/sluice-collector"

# ---------------------------------------------------------------- configuration: never overwrite
etc="$root/etc/sluice"
install -d "${own[@]}" -m 0755 "$etc"
chmod 0755 "$etc"
install_config() { # source name mode
  if [ -e "$etc/$2" ]; then
    say "kept $etc/$2 (the shipped default is $dest/share/$2)"
  else
    install "${own[@]}" -m "$3" "$1" "$etc/$2"
    say "installed $etc/$2"
  fi
}
install_config "$repo/config/agent.json" agent.json 0644
install_config "$repo/config/audit.rules" audit.rules 0640
install_config "$repo/deploy/collector.tokens" collector.tokens 0600
# It may hold the PostgreSQL password (PGPASSWORD); systemd reads it as root.
install_config "$repo/deploy/collector.env" collector.env 0600
# An older install made it 0644: take group and others' access away, keep its content.
if [ "$(stat -c %a "$etc/collector.env")" != 600 ]; then
  chmod 0600 "$etc/collector.env"
  say "made $etc/collector.env 0600 (it may hold the PostgreSQL password)"
fi

# ---------------------------------------------------------------- units
unitdir="$root/etc/systemd/system"
[ -d "$unitdir" ] || install -d "${own[@]}" -m 0755 "$unitdir"
for u in "${units[@]}"; do
  # The units name /opt/sluice; follow --prefix.
  sed "s#/opt/sluice/#$prefix/#g" "$repo/deploy/systemd/$u" > "$unitdir/$u.tmp"
  chmod 0644 "$unitdir/$u.tmp"
  [ ${#own[@]} -eq 0 ] || chown root:root "$unitdir/$u.tmp"
  mv "$unitdir/$u.tmp" "$unitdir/$u"
done
say "units in $unitdir"

if live_systemd; then
  systemctl daemon-reload
  cat <<EOF
install.sh: done. Next:
  edit /etc/sluice/agent.json (Shipping: CollectorUrl, TokenFile, CaFile) and /etc/sluice/audit.rules, then
    systemctl enable --now sluice-agent
  on the collection server: enrol agents in /etc/sluice/collector.tokens, set the listen
  address and TLS in /etc/sluice/collector.env, then
    systemctl enable --now sluice-collector
  mask the journal's audit reader so it does not duplicate records:
    systemctl mask --now systemd-journald-audit.socket
EOF
elif [ -z "$root" ]; then
  say "done; systemd is not running here: start the agent with '$bindir/sluice-agent run' (it restores the host at SIGTERM)"
else
  say "done (staged below $root)"
fi
