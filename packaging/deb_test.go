package packaging

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The version TestDeb* give dist.sh when they build the package.
const (
	testVersion    = "v0.0.1-test"
	testDebVersion = "0.0.1+test"
)

var (
	debOnce sync.Once
	debPath string
	debErr  error
)

// debUnderTest returns the package to test: $FLEETWIRE_DEB (CI passes
// the one `make dist` built), else one dist.sh builds for this machine's
// architecture once per test binary, version testVersion.
func debUnderTest(t *testing.T) (path string, built bool) {
	t.Helper()
	if p := os.Getenv("FLEETWIRE_DEB"); p != "" {
		return p, false
	}
	if testing.Short() {
		t.Skip("builds the package (minutes on a cold build cache): not in -short")
	}
	for _, tool := range []string{"dpkg-deb", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: cannot build the package here", tool)
		}
	}
	debOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fleetwire-dist-")
		if err != nil {
			debErr = err
			return
		}
		// Removed with the test binary's temp files: see TestMain.
		distDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "dist.sh", runtime.GOARCH, dir)
		cmd.Env = append(os.Environ(), "VERSION="+testVersion, "BUILD_DATE=2026-12-06T07:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			debErr = fmt.Errorf("dist.sh %s: %w\n%s", runtime.GOARCH, err, out)
			return
		}
		debPath = strings.TrimSpace(string(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]))
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debPath, true
}

var distDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if distDir != "" {
		os.RemoveAll(distDir)
	}
	os.Exit(code)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebContents reads the package without installing it: its control
// fields, conffiles, maintainer scripts, and every file with its mode and
// owner.
func TestDebContents(t *testing.T) {
	deb, built := debUnderTest(t)
	fields := run(t, "dpkg-deb", "--field", deb, "Package", "Architecture", "Version", "Depends")
	want := "Package: fleetwire\nArchitecture: " + runtime.GOARCH + "\n"
	if built {
		want += "Version: " + testDebVersion + "\n"
	}
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.Contains(fields, l+"\n") {
			t.Fatalf("control fields lack %q:\n%s", l, fields)
		}
	}
	if got := run(t, "dpkg-deb", "--info", deb, "conffiles"); got != "/etc/fleetwire/fleetwire.yaml\n/etc/default/fleetwire\n" {
		t.Fatalf("conffiles %q", got)
	}
	// path -> mode and owner
	wantFiles := map[string]string{
		"./usr/bin/fleetwire":                    "-rwxr-xr-x root/root",
		"./lib/systemd/system/fleetwire.service": "-rw-r--r-- root/root",
		"./etc/default/fleetwire":                "-rw-r----- root/root",
		"./etc/fleetwire/fleetwire.yaml":         "-rw-r----- root/root", // root:fleetwire once installed
		"./etc/fleetwire/":                       "drwxr-xr-x root/root",
		"./usr/share/doc/fleetwire/copyright":    "-rw-r--r-- root/root",
		"./usr/share/doc/fleetwire/install.md":   "-rw-r--r-- root/root",
		"./usr/share/doc/fleetwire/config.md":    "-rw-r--r-- root/root",
		"./":                                     "drwxr-xr-x root/root",
		"./usr/":                                 "drwxr-xr-x root/root",
		"./etc/":                                 "drwxr-xr-x root/root",
		"./lib/systemd/system/":                  "drwxr-xr-x root/root",
		"./usr/share/doc/fleetwire/":             "drwxr-xr-x root/root",
		"./usr/share/":                           "drwxr-xr-x root/root",
		"./usr/bin/":                             "drwxr-xr-x root/root",
		"./etc/default/":                         "drwxr-xr-x root/root",
		"./lib/":                                 "drwxr-xr-x root/root",
		"./lib/systemd/":                         "drwxr-xr-x root/root",
		"./usr/share/doc/":                       "drwxr-xr-x root/root",
	}
	seen := 0
	for _, l := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "--contents", deb)), "\n") {
		f := strings.Fields(l) // mode owner size date time path
		if len(f) != 6 {
			t.Fatalf("contents line %q", l)
		}
		w, ok := wantFiles[f[5]]
		if !ok {
			t.Errorf("unexpected file in the package: %s", l)
			continue
		}
		if got := f[0] + " " + f[1]; got != w {
			t.Errorf("%s: %s, want %s", f[5], got, w)
		}
		seen++
	}
	if seen != len(wantFiles) {
		t.Errorf("%d of %d expected files in the package", seen, len(wantFiles))
	}
	// The files are those of this directory, and the binary is static.
	x := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, x)
	for src, dst := range map[string]string{"fleetwire.service": "lib/systemd/system/fleetwire.service", "fleetwire.default": "etc/default/fleetwire",
		"fleetwire.yaml": "etc/fleetwire/fleetwire.yaml"} {
		a, _ := os.ReadFile(src)
		b, err := os.ReadFile(filepath.Join(x, dst))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s in the package differs from packaging/%s (%v)", dst, src, err)
		}
	}
	if err := checkStatic(filepath.Join(x, "usr/bin/fleetwire")); err != nil {
		t.Error(err)
	}
	// The packaged binary accepts the packaged configuration.
	conf := filepath.Join(x, "etc/fleetwire/fleetwire.yaml")
	if out := run(t, filepath.Join(x, "usr/bin/fleetwire"), "config", "check", conf); out != "config "+conf+": ok\n" {
		t.Errorf("fleetwire config check: %q", out)
	}
	ctl := t.TempDir()
	run(t, "dpkg-deb", "--control", deb, ctl)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		a, _ := os.ReadFile(filepath.Join("deb", s))
		b, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("maintainer script %s differs from packaging/deb/%s (%v)", s, s, err)
		}
		run(t, "sh", "-n", filepath.Join(ctl, s))
	}
	// systemd checks the unit itself where it is installed: every key
	// known, every value valid, the command executable.
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		unit := filepath.Join(t.TempDir(), "fleetwire.service")
		b, _ := os.ReadFile("fleetwire.service")
		b = bytes.ReplaceAll(b, []byte("ExecStart=/usr/bin/fleetwire "), []byte("ExecStart="+filepath.Join(x, "usr/bin/fleetwire")+" "))
		if err := os.WriteFile(unit, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := run(t, "systemd-analyze", "verify", "--man=no", unit); out != "" {
			t.Errorf("systemd-analyze verify: %s", out)
		}
	} else {
		t.Log("systemd-analyze not found: the unit's keys are checked by TestUnitHardening only")
	}
}

// checkStatic fails for an ELF file that needs a dynamic loader (has a
// PT_INTERP program header), or is not one for this architecture.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]; f.Machine != want {
		return fmt.Errorf("%s: machine %v, want %v", path, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has an interpreter)", path)
		}
	}
	return nil
}

// unitKeys parses a systemd unit: section -> key -> values in order (a
// key may repeat).
func unitKeys(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	units := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[' && l[len(l)-1] == ']':
			section = l[1 : len(l)-1]
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" || strings.HasSuffix(l, "\\") {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, n, l)
			}
			units[section][k] = append(units[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return units
}

// TestUnitHardening: the unit runs the service as its own user, with no
// capabilities and no new privileges, on a read-only system but for its
// state directory. Runs everywhere: it reads the file.
func TestUnitHardening(t *testing.T) {
	u := unitKeys(t, "fleetwire.service")
	want := map[string]string{
		"User": "fleetwire", "Group": "fleetwire",
		"ExecStart":       "/usr/bin/fleetwire serve --config /etc/fleetwire/fleetwire.yaml",
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"EnvironmentFile": "-/etc/default/fleetwire", // for $FLEETWIRE_TOKEN only
		"StateDirectory":  "fleetwire", "WorkingDirectory": "/var/lib/fleetwire",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
		"ProtectKernelLogs": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
		"RestrictRealtime": "yes", "LockPersonality": "yes", "RemoveIPC": "yes", "SystemCallErrorNumber": "EPERM",
		"UMask": "0027", "StateDirectoryMode": "0750",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute":  "yes", "SystemCallFilter": "@system-service", "SystemCallArchitectures": "native",
		"LimitNOFILE": "1048576", "RestrictSUIDSGID": "yes", "RestrictNamespaces": "yes",
	}
	svc := u["Service"]
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s=%q, want exactly %s=%s", k, got, k, v)
		}
	}
	// Nothing that would undo the above.
	for _, k := range []string{"DynamicUser", "ReadWritePaths", "PermissionsStartOnly", "RootDirectory"} {
		if _, ok := svc[k]; ok {
			t.Errorf("[Service] %s is set", k)
		}
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q", got)
	}
}

// TestDistRefusesArch: dist.sh builds what `make dist` promises, and
// says so for anything else before building.
func TestDistRefusesArch(t *testing.T) {
	out, err := exec.Command("sh", "dist.sh", "riscv64", t.TempDir()).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "architecture riscv64: want amd64 or arm64") {
		t.Fatalf("dist.sh riscv64: %v: %s", err, out)
	}
}

// freePort returns a loopback TCP address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The configuration file the unit runs serve with.
const confPath = "/etc/fleetwire/fleetwire.yaml"

// changedConf returns a copy of the package at deb whose configuration
// file has one more line.
func changedConf(t *testing.T, deb string) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	run(t, "dpkg-deb", "--raw-extract", deb, tree)
	appendFile(t, filepath.Join(tree, confPath), "# changed by an upgrade (TestDebInstall)\n")
	out := filepath.Join(dir, filepath.Base(deb))
	run(t, "dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, out)
	return out
}

// asUser returns a command that runs as uid:gid with a bare environment
// (no $FLEETWIRE_TOKEN), in dir.
func asUser(uid, gid int, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	return cmd
}

// logBuffer collects a process's stderr while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits up to 15 s for the log to hold s.
func waitLog(t *testing.T, l *logBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(l.String(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in serve's log after 15 s:\n%s", s, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appendFile appends s to the file at path.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestDebInstall installs the package on this machine with dpkg, runs the
// installed binary as the service user with the unit's command line (its
// installed configuration file), reloads it as systemctl reload would, and
// purges the package. It changes the system (a user, files under /usr,
// /lib, /etc), so it runs only as root with FLEETWIRE_DEB_TEST=1, which
// .ci/run sets, and never over an installed fleetwire.
func TestDebInstall(t *testing.T) {
	if os.Getenv("FLEETWIRE_DEB_TEST") != "1" {
		t.Skip("installs a package system-wide: set FLEETWIRE_DEB_TEST=1 (CI does) to run it")
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg -i needs root")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("no dpkg: not a Debian system")
	}
	if out, err := exec.Command("dpkg-query", "--show", "--showformat=${db:Status-Status}", "fleetwire").Output(); err == nil && len(out) > 0 && string(out) != "not-installed" {
		t.Skipf("a fleetwire package is already on this machine (%s): not touching it", out)
	}
	deb, built := debUnderTest(t)
	start := time.Now()
	_, userErr := user.Lookup("fleetwire")
	userExisted := userErr == nil
	_, stateErr := os.Stat("/var/lib/fleetwire")
	stateExisted := stateErr == nil

	run(t, "dpkg", "--install", deb)
	t.Cleanup(func() {
		// The readings serve stored under the data directory the test
		// did not find there: purge keeps data, as it should.
		if !stateExisted {
			entries, _ := os.ReadDir("/var/lib/fleetwire")
			for _, e := range entries {
				os.RemoveAll(filepath.Join("/var/lib/fleetwire", e.Name()))
			}
		}
		if out, err := exec.Command("dpkg", "--purge", "fleetwire").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge fleetwire: %v\n%s", err, out)
		}
		for _, p := range []string{"/usr/bin/fleetwire", "/lib/systemd/system/fleetwire.service", "/etc/default/fleetwire", "/usr/share/doc/fleetwire",
			"/etc/fleetwire", "/etc/systemd/system/multi-user.target.wants/fleetwire.service"} {
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after purge, %s: %v", p, err)
			}
		}
		if out, err := exec.Command("dpkg-statoverride", "--list", confPath).CombinedOutput(); err == nil {
			t.Errorf("after purge, dpkg-statoverride still lists %s: %s", confPath, out)
		}
		if out, err := exec.Command("dpkg-query", "--show", "--showformat=${db:Status-Status}", "fleetwire").Output(); err == nil && len(out) > 0 && string(out) != "not-installed" {
			t.Errorf("after purge, dpkg-query says fleetwire is %s", out)
		}
		if _, err := os.Stat("/var/lib/fleetwire"); !stateExisted && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after purge, /var/lib/fleetwire (empty) is still there: %v", err)
		}
		// The package leaves its user, as Debian packages do (files it
		// owned may remain); the test removes the one it made.
		if !userExisted {
			if out, err := exec.Command("userdel", "fleetwire").CombinedOutput(); err != nil {
				t.Errorf("userdel fleetwire: %v\n%s", err, out)
			}
			if out, err := exec.Command("getent", "group", "fleetwire").Output(); err == nil && len(out) > 0 {
				if out, err := exec.Command("groupdel", "fleetwire").CombinedOutput(); err != nil {
					t.Errorf("groupdel fleetwire: %v\n%s", err, out)
				}
			}
			for _, db := range []string{"passwd", "group"} {
				if out, err := exec.Command("getent", db, "fleetwire").Output(); err == nil || len(out) > 0 {
					t.Errorf("after the test, getent %s fleetwire: %s", db, out)
				}
			}
		}
		t.Logf("installed, ran, purged in %v", time.Since(start).Round(time.Millisecond))
	})

	// What postinst made: the user, its state directory, and the
	// configuration readable by the user's group.
	u, err := user.Lookup("fleetwire")
	if err != nil {
		t.Fatalf("postinst made no fleetwire user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if out := run(t, "stat", "-c", "%U:%G %a", "/var/lib/fleetwire"); !stateExisted && out != "fleetwire:fleetwire 750\n" {
		t.Errorf("/var/lib/fleetwire: %s", out)
	}
	checkConf := func(when string) {
		t.Helper()
		if out := run(t, "stat", "-c", "%U:%G %a", confPath); out != "root:fleetwire 640\n" {
			t.Errorf("%s, %s: %s, want root:fleetwire 640", when, confPath, out)
		}
		if out := run(t, "dpkg-statoverride", "--list", confPath); out != "root fleetwire 640 "+confPath+"\n" {
			t.Errorf("%s, dpkg-statoverride --list: %q", when, out)
		}
		// The service user reads it and serve accepts it; another user
		// cannot read it.
		out, err := asUser(uid, gid, "/", "/usr/bin/fleetwire", "config", "check", confPath).CombinedOutput()
		if err != nil || string(out) != "config "+confPath+": ok\n" {
			t.Errorf("%s, fleetwire config check %s as fleetwire: %v: %s", when, confPath, err, out)
		}
		out, err = asUser(65534, 65534, "/", "/usr/bin/fleetwire", "config", "check", confPath).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "permission denied") {
			t.Errorf("%s, fleetwire config check %s as uid 65534: %v: %s, want permission denied", when, confPath, err, out)
		}
	}
	checkConf("after install")
	// An upgrade to a package whose configuration file changed, which the
	// administrator left alone: dpkg installs the new file with the
	// statoverride's owner and mode, so the service can still read it.
	// The rest of the test installs this package again (the upgrade
	// below must find the package's file unchanged to keep an edit
	// without asking).
	deb = changedConf(t, deb)
	if out := run(t, "dpkg", "--install", deb); !strings.Contains(out, "Installing new version of config file "+confPath) {
		t.Errorf("the upgrade did not install the package's new %s:\n%s", confPath, out)
	}
	checkConf("after an upgrade that changed it")
	if _, err := exec.LookPath("systemctl"); err == nil {
		// Enabled on first install, as Debian does (started too where
		// systemd runs, which it does not in CI containers).
		if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/fleetwire.service"); err != nil {
			t.Errorf("postinst did not enable the service: %v", err)
		}
	}
	if out := run(t, "dpkg-query", "--show", "--showformat=${Conffiles}", "fleetwire"); !strings.Contains(out, "/etc/default/fleetwire ") || !strings.Contains(out, confPath+" ") {
		t.Errorf("conffiles: %q", out)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out := run(t, "systemd-analyze", "verify", "--man=no", "/lib/systemd/system/fleetwire.service"); out != "" {
			t.Errorf("systemd-analyze verify: %s", out)
		}
	}

	// fleetwire version, from the installed file.
	ver := run(t, "/usr/bin/fleetwire", "version")
	re := `^fleetwire \S+ \(commit [0-9a-f]{40}(, modified)?(, committed \S+)?, built \S+, go\S+ linux/` + runtime.GOARCH + `\)\n$`
	if built {
		re = `^fleetwire ` + regexp.QuoteMeta(testVersion) + ` \(commit [0-9a-f]{40}(, modified)?(, committed \S+)?, built 2026-12-06T07:00:00Z, go\S+ linux/` + runtime.GOARCH + `\)\n$`
	}
	if !regexp.MustCompile(re).MatchString(ver) {
		t.Fatalf("fleetwire version: %q, want %s", ver, re)
	}

	// A short serve: the unit's command line, as the service user, with
	// its settings from the installed configuration file but for the
	// listeners, on free loopback ports (this machine's 7070 may be
	// taken), and JSON logs. The data directory is the file's
	// (/var/lib/fleetwire) unless the test found one there.
	tcpAddr, httpAddr := freePort(t), freePort(t)
	args := []string{"serve", "--config", confPath, "--tcp", tcpAddr, "--udp", "", "--http", httpAddr, "--log-format", "json"}
	data := "/var/lib/fleetwire"
	if stateExisted {
		data = filepath.Join(t.TempDir(), "data")
		for _, d := range []string{filepath.Dir(data), filepath.Dir(filepath.Dir(data))} {
			if err := os.Chmod(d, 0o755); err != nil { // the service user's way to it
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(data, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--data", data)
	}
	serve := asUser(uid, gid, data, "/usr/bin/fleetwire", args...) // WorkingDirectory=
	var stderr logBuffer
	serve.Stderr = &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	defer func() {
		if serve.ProcessState == nil {
			serve.Process.Kill()
			<-done
		}
	}()
	var c net.Conn
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err = net.Dial("tcp", tcpAddr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve does not listen on %s after 15 s: %v\n%s", tcpAddr, err, &stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := io.WriteString(c, "mote-3;42;21.5:40,21.6:41\n"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The administrator edits the file and runs systemctl reload
	// (ExecReload: a SIGHUP): serve, as the service user, reads it again
	// and puts the new limit in force.
	const edit = "\n# edited by TestDebInstall\nmax-conns: 5000\n"
	appendFile(t, confPath, edit)
	waitLog(t, &stderr, `"config":"`+confPath+`"`)
	if err := serve.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &stderr, `"msg":"reloaded"`)
	if !regexp.MustCompile(`"reloaded":"[^"]*max-conns \d+ -> 5000`).MatchString(stderr.String()) {
		t.Errorf("the reload did not put max-conns 5000 in force:\n%s", &stderr)
	}
	// Give the server the line before it is told to stop; what it has
	// received it then stores before it exits.
	time.Sleep(300 * time.Millisecond)
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, &stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop 30 s after SIGTERM\n%s", &stderr)
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"msg":"fleetwire stopped"`) || !strings.Contains(logs, `"dropped":{}`) {
		t.Errorf("serve's log lacks its JSON summary (dropped as an object):\n%s", logs)
	}
	if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("serve logged a warning or an error:\n%s", logs)
	}
	// Written by the service user.
	if out := run(t, "find", data, "-not", "-user", "fleetwire"); out != "" {
		t.Errorf("files under %s not owned by fleetwire:\n%s", data, out)
	}
	export := run(t, "/usr/bin/fleetwire", "export", "--data", data)
	if !strings.Contains(export, "\nmote-3,42,,21.5,40,") || !strings.Contains(export, "\nmote-3,43,,21.6,41,") {
		t.Fatalf("fleetwire export does not hold the line sent:\n%s\nserve's log:\n%s", export, logs)
	}

	// An upgrade (the same package again runs the same scripts: prerm
	// upgrade, postinst configure with the old version) keeps the
	// administrator's edits of the conffiles (the one above), the
	// configuration's owner and mode, the user and the enablement; and
	// warns of a FLEETWIRE_ARGS the unit no longer reads.
	appendFile(t, "/etc/default/fleetwire", "\nFLEETWIRE_ARGS=\"--tcp 0.0.0.0:7070\"\n")
	if out := run(t, "dpkg", "--install", deb); !strings.Contains(out, "FLEETWIRE_ARGS, which the service no longer reads") {
		t.Errorf("the upgrade does not warn of FLEETWIRE_ARGS in /etc/default/fleetwire:\n%s", out)
	}
	if b, err := os.ReadFile(confPath); err != nil || !strings.HasSuffix(string(b), edit) {
		t.Errorf("the upgrade lost the edit of %s (%v)", confPath, err)
	}
	if b, err := os.ReadFile("/etc/default/fleetwire"); err != nil || !strings.Contains(string(b), "\nFLEETWIRE_ARGS=") {
		t.Errorf("the upgrade lost the edit of /etc/default/fleetwire (%v)", err)
	}
	checkConf("after the upgrade")
	if u2, err := user.Lookup("fleetwire"); err != nil || u2.Uid != u.Uid {
		t.Errorf("after the upgrade, user fleetwire: %v, %v (was uid %s)", u2, err, u.Uid)
	}
	if ver2 := run(t, "/usr/bin/fleetwire", "version"); ver2 != ver {
		t.Errorf("after the upgrade, fleetwire version: %q, was %q", ver2, ver)
	}
}
