#!/usr/bin/env bash
# Builds the Debian packages sluice-agent_VERSION_ARCH.deb and sluice-collector_VERSION_ARCH.deb
# from a self-contained publish (deploy/publish.sh), offline: dpkg-deb and dpkg-shlibdeps only,
# nothing is downloaded. VERSION is <Version> of Directory.Build.props, the one place it is set;
# the programs in the publish must report the same (`sluice-agent --version`).
#
# The files are laid out by deploy/install.sh (--root, into a staging directory), so the package
# and install.sh agree on names, modes and the units; the package differs where Debian wants it
# to (deploy/README.md, "Debian packages"):
#   /usr/lib/sluice/agent, /usr/lib/sluice/collector   the programs (install.sh: /opt/sluice)
#   /usr/sbin/sluice-agent, /usr/sbin/sluice-collector  links          (install.sh: /usr/local/sbin)
#   /lib/systemd/system                                 the units      (install.sh: /etc/systemd/system)
#   /etc/sluice/*                                       conffiles
# and the collector runs as the system user sluice-collector (a drop-in over the unit) instead
# of a dynamic user. Maintainer scripts, copyright, changelog and lintian overrides: deploy/debian/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
deb="$repo/deploy/debian"
out="" publish="" arch="" compression=xz

usage() {
  cat <<EOF
usage: deploy/build-deb.sh --out DIR [--publish DIR] [--arch ARCH] [--compression xz|gzip]

  --out DIR      where the two .deb files go (created if missing)
  --publish DIR  an existing publish (deploy/publish.sh --out DIR: DIR/agent, DIR/collector);
                 default: publish now into a temporary directory (needs the .NET 10 SDK and a C
                 toolchain for the NativeAOT agent; takes a few minutes)
  --arch ARCH    Debian architecture (default: from the publish's RID file, else dpkg's)
  --compression  of the packages' data (default xz: the collector is 36 MB, a few minutes to
                 compress on a small machine; gzip: 50 MB in a fraction of that)

Needs dpkg-deb and dpkg-shlibdeps (package dpkg-dev). Prints the path of each package built.
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --publish) publish=${2:?--publish needs a directory}; shift 2 ;;
    --arch) arch=${2:?--arch needs an architecture}; shift 2 ;;
    --compression) compression=${2:?--compression needs xz or gzip}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-deb.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "build-deb.sh: --out DIR is required" >&2; usage >&2; exit 2; }
case "$compression" in xz|gzip) ;; *) echo "build-deb.sh: --compression '$compression': expected xz or gzip" >&2; exit 2 ;; esac
for tool in dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing: apt-get install dpkg-dev" >&2; exit 1; }
done
say() { echo "build-deb.sh: $*"; }

work=$(mktemp -d /tmp/sluice-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$publish" ]; then
  publish="$work/publish"
  "$repo/deploy/publish.sh" --out "$publish"
fi
publish=$(cd "$publish" && pwd)

# ---------------------------------------------------------------- version and architecture
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] \
  || { echo "build-deb.sh: no usable <Version> in $repo/Directory.Build.props (found '$version')" >&2; exit 1; }
if [ -z "$arch" ]; then
  rid=$(cat "$publish/RID" 2>/dev/null || true)
  case "$rid" in
    linux-x64) arch=amd64 ;;
    linux-arm64) arch=arm64 ;;
    "") arch=$(dpkg --print-architecture) ;;
    *) echo "build-deb.sh: no Debian architecture for the publish's RID '$rid': pass --arch" >&2; exit 2 ;;
  esac
fi
# The debian/changelog's newest entry names the version being packaged: a new <Version> needs
# an entry saying what changed.
changelog_version=$(sed -n '1s/^[a-z0-9.+-]* (\([^)]*\)).*/\1/p' "$deb/changelog")
[ "$changelog_version" = "$version" ] \
  || { echo "build-deb.sh: deploy/debian/changelog's newest entry is $changelog_version, Directory.Build.props says $version: add an entry for $version" >&2; exit 1; }
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  # A publish of another version (an old one, or one built before the version changed) would
  # be packaged under the wrong name.
  for app in agent collector; do
    reported=$("$publish/$app/sluice-$app" --version 2>&1 || true)
    [ "$reported" = "sluice-$app $version" ] \
      || { echo "build-deb.sh: $publish/$app/sluice-$app --version says '$reported', expected 'sluice-$app $version' (Directory.Build.props): publish again (deploy/publish.sh --out $publish)" >&2; exit 1; }
  done
fi

# ---------------------------------------------------------------- stage with install.sh
stage="$work/stage"
"$repo/deploy/install.sh" --publish-dir "$publish" --root "$stage" --prefix /usr/lib/sluice --bindir /usr/sbin >/dev/null

mkdir -p "$out"
out=$(cd "$out" && pwd)
date=$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' "$deb/changelog" | head -n 1)
epoch=$(date -d "$date" +%s)

# build PACKAGE: moves its files from the stage into a package tree and builds the .deb.
build() {
  local pkg=$1 app=${1#sluice-} root="$work/$1"
  mkdir -p "$root/usr/lib/sluice" "$root/usr/sbin" "$root/etc/sluice" "$root/lib/systemd/system" "$root/usr/share/doc/$pkg" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
  mv "$stage/usr/lib/sluice/$app" "$root/usr/lib/sluice/$app"
  # Relative, as Debian wants links inside /usr.
  ln -s "../lib/sluice/$app/$pkg" "$root/usr/sbin/$pkg"
  local unit="$root/lib/systemd/system/$pkg.service"
  mv "$stage/etc/systemd/system/$pkg.service" "$unit"
  sed -i "s#^Documentation=.*#Documentation=file:/usr/share/doc/$pkg/README.md.gz#; s#Installed by deploy/install.sh#Installed by the $pkg package (deploy/build-deb.sh)#" "$unit"
  local conf
  case "$app" in
    agent) conf=(agent.json audit.rules) ;;
    collector)
      conf=(collector.tokens collector.env)
      install -d -m 0755 "$root/lib/systemd/system/$pkg.service.d"
      install -m 0644 "$deb/$pkg/$pkg.service.d.conf" "$root/lib/systemd/system/$pkg.service.d/debian.conf"
      install -m 0755 "$deb/$pkg/$pkg-start" "$root/usr/lib/sluice/$pkg-start"
      # The runtime's LTTng trace provider: loaded only if liblttng-ust is there (the runtime runs
      # without it), which the package would otherwise have to depend on.
      rm -f "$root/usr/lib/sluice/collector/libcoreclrtraceptprovider.so"
      # SQLitePCLRaw's prebuilt SQLite comes with its symbols: stripped as dh_strip would (the
      # runtime's own libraries come stripped).
      strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/lib/sluice/collector/libe_sqlite3.so"
      ;;
  esac
  : > "$root/DEBIAN/conffiles"
  for f in "${conf[@]}"; do
    mv "$stage/etc/sluice/$f" "$root/etc/sluice/$f"
    echo "/etc/sluice/$f" >> "$root/DEBIAN/conffiles"
  done

  install -m 0644 "$deb/copyright" "$root/usr/share/doc/$pkg/copyright"
  gzip -9nc "$deb/changelog" > "$root/usr/share/doc/$pkg/changelog.gz"
  gzip -9nc "$repo/deploy/README.md" > "$root/usr/share/doc/$pkg/README.md.gz"
  install -m 0644 "$deb/$pkg/lintian-overrides" "$root/usr/share/lintian/overrides/$pkg"
  chmod 0644 "$root/usr/share/doc/$pkg/"*.gz

  local script
  for script in postinst prerm postrm; do
    # The shared functions go where the script says #COMMON#.
    awk -v common="$deb/common.sh" '/^#COMMON#$/ { while ((getline line < common) > 0) print line; next } { print }' \
      "$deb/$pkg/$script" > "$root/DEBIAN/$script"
    chmod 0755 "$root/DEBIAN/$script"
  done

  # Shared-library dependencies of the ELF files, as dpkg-shlibdeps finds them; it wants a
  # debian/control to exist.
  local elves=() f
  while IFS= read -r -d '' f; do
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && elves+=("$f")
  done < <(find "$root/usr/lib/sluice" -type f -print0)
  mkdir -p "$work/shlibs/debian"
  printf 'Source: sluice\n\nPackage: %s\nArchitecture: any\n' "$pkg" > "$work/shlibs/debian/control"
  local shlibs
  if ! shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O --ignore-missing-info -e"${elves[@]}" 2>"$work/shlibdeps.err"); then
    grep -v 'useless dependency\|should already be installed' "$work/shlibdeps.err" >&2
    echo "build-deb.sh: dpkg-shlibdeps failed on the ELF files of $pkg" >&2
    exit 1
  fi
  shlibs=$(sed -n 's/^shlibs:Depends=//p' <<<"$shlibs")
  # OpenSSL is opened at run time (dlopen) for TLS, which dpkg-shlibdeps cannot see.
  local depends="$shlibs, libssl3 | libssl3t64"
  [ "$app" = collector ] && depends="adduser, $depends"

  local size description
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  description=$(sed -n '/^Description:/,$p' "$deb/$pkg/control")
  {
    sed -n '/^Description:/q;p' "$deb/$pkg/control"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Installed-Size: $size"
    echo "Depends: $depends"
    echo "$description"
  } > "$root/DEBIAN/control"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"

  # Directories 0755, whatever the umask of whoever builds; owner root:root in the archive.
  find "$root" -type d -exec chmod 0755 {} +
  # Reproducible: every file dated by the changelog's newest entry.
  find "$root" -exec touch -h -d "@$epoch" {} +
  local file="$out/${pkg}_${version}_${arch}.deb"
  SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group "-Z$compression" --build "$root" "$file" >/dev/null
  say "built $file ($(du -k "$file" | cut -f1) KiB, installed $size KiB)"
}

build sluice-agent
build sluice-collector
