#!/bin/sh
# dist.sh ARCH OUTDIR: a static fleetwire for linux/ARCH and its Debian
# package, into OUTDIR:
#
#   OUTDIR/fleetwire-linux-ARCH          the binary
#   OUTDIR/fleetwire_VERSION_ARCH.deb    /usr/bin/fleetwire, the systemd
#                                        unit, /etc/fleetwire/fleetwire.yaml,
#                                        /etc/default/fleetwire
#
# `make dist` runs it for amd64 and arm64; packaging/deb_test.go for the
# host's. It needs go, git (for the version) and dpkg-deb, which is part
# of dpkg: nothing to install on Debian. VERSION, COMMIT and BUILD_DATE
# may be given in the environment; GO names the go command.
set -eu

arch=${1:?usage: dist.sh amd64|arm64 OUTDIR}
out=${2:?usage: dist.sh amd64|arm64 OUTDIR}
case "$arch" in
amd64 | arm64) ;;
*) echo "dist.sh: architecture $arch: want amd64 or arm64" >&2; exit 2 ;;
esac
GO=${GO:-go}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
BUILD_DATE=${BUILD_DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
# Files in the package carry the commit's time, so that two builds of a
# commit differ only in the build date printed by `fleetwire version`.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

# A Debian version starts with a digit and has no '-' but the one before
# a revision: v0.3.0-12-gabc1234-dirty is 0.3.0+12.gabc1234.dirty, and
# a bare commit (no tag yet) abc1234-dirty is 0.0.0+gabc1234.dirty.
debver=${VERSION#v}
case "$debver" in
[0-9]*.[0-9]*) ;;
*) debver="0.0.0+g$debver" ;;
esac
case "$debver" in
*+*) debver=$(printf %s "$debver" | tr - .) ;;
*-*) debver=$(printf %s "$debver" | sed 's/-/+/; s/-/./g') ;;
esac

mkdir -p "$out"
bin="$out/fleetwire-linux-$arch"
# Static (no cgo), no build paths, symbols stripped. -buildvcs=auto
# overrides a GOFLAGS=-buildvcs=false: where Go can, it stamps the commit
# itself; -X main.commit covers a git worktree, where it cannot.
CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -buildvcs=auto \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.buildDate=$BUILD_DATE" \
	-o "$bin" ./cmd/fleetwire

umask 022
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage" # the package's ./ entry: dpkg must never see / as 0700
install -D -m 0755 "$bin" "$stage/usr/bin/fleetwire"
install -D -m 0644 "$here/fleetwire.service" "$stage/lib/systemd/system/fleetwire.service"
# serve's configuration: root:fleetwire once postinst has made the group
# (dpkg-statoverride), so that the service user reads it and others do not.
install -D -m 0640 "$here/fleetwire.yaml" "$stage/etc/fleetwire/fleetwire.yaml"
# May hold the API token: root only (systemd reads it, the service gets
# the variable).
install -D -m 0640 "$here/fleetwire.default" "$stage/etc/default/fleetwire"
install -D -m 0644 "$root/LICENSE" "$stage/usr/share/doc/fleetwire/copyright"
install -D -m 0644 "$root/docs/install.md" "$stage/usr/share/doc/fleetwire/install.md"
install -D -m 0644 "$root/docs/config.md" "$stage/usr/share/doc/fleetwire/config.md"
install -d -m 0755 "$stage/DEBIAN"
install -m 0755 "$here/deb/postinst" "$here/deb/prerm" "$here/deb/postrm" "$stage/DEBIAN/"
printf '/etc/fleetwire/fleetwire.yaml\n/etc/default/fleetwire\n' >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: fleetwire
Version: $debver
Architecture: $arch
Maintainer: fleetwire maintainers <maintainers@users.noreply.r-seed-86995f92.example>
Installed-Size: $size
Depends: adduser | passwd
Section: net
Priority: optional
Homepage: https://github.com/fleetwire/fleetwire
Description: ingest server for sensor readings from device fleets
 fleetwire takes sensor readings from very large device fleets over raw
 TCP, UDP and TLS, in text, binary and compact formats, keeps per-device
 sessions (loss, duplicates, reordering) and stores the readings in
 zstd-compressed CSV segments or a NATS JetStream stream.
 .
 This package runs it as the systemd service fleetwire.service, as its
 own user, with data under /var/lib/fleetwire and its configuration in
 /etc/fleetwire/fleetwire.yaml. Its command line also simulates device fleets
 (fleetwire load) and measures what each wire choice costs.
CONTROL
deb="$out/fleetwire_${debver}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
