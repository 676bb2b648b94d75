// Package packaging holds what makes fleetwire installable as a service:
// dist.sh (the static binaries and the Debian package `make dist`
// builds), the systemd unit fleetwire.service, serve's configuration file
// /etc/fleetwire/fleetwire.yaml (fleetwire.yaml), the defaults file
// /etc/default/fleetwire (the HTTP token only) and the package's
// maintainer scripts under deb/.
// It has no Go code; its tests build the package, read it, and install it
// (docs/install.md).
package packaging
