package trust

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckCommand: argv[0] and, for interpreters, the script they run
// (and the code paths their options load) must be trusted; inline code
// and other arguments are data. The interpreters are stand-in files with
// the real names, so the test does not depend on what is installed.
func TestCheckCommand(t *testing.T) {
	dir, user := tree(t)
	bin := filepath.Join(dir, "bin")
	must(t, os.Mkdir(bin, 0o755))
	for _, n := range []string{"sh", "bash", "env", "python3.12", "perl", "ruby", "node", "busybox", "tool"} {
		write(t, filepath.Join(bin, n), 0o755)
	}
	must(t, os.Symlink("python3.12", filepath.Join(bin, "python3")))
	must(t, os.Symlink("busybox", filepath.Join(bin, "ash")))
	good := write(t, filepath.Join(dir, "reload.sh"), 0o755)
	bad := write(t, filepath.Join(user, "reload.sh"), 0o755)
	libdir := filepath.Join(user, "lib")
	must(t, os.Mkdir(libdir, 0o755))
	userProg := write(t, filepath.Join(user, "prog"), 0o755)
	b := func(n string) string { return filepath.Join(bin, n) }
	refused := "directory " + user + " is owned by uid 65534"

	cases := []struct {
		argv []string
		want string // "" = accepted
	}{
		{[]string{b("tool"), bad, "--out", user}, ""}, // not an interpreter: arguments are data
		{[]string{userProg}, refused},
		{[]string{b("sh"), good}, ""},
		{[]string{b("sh"), bad}, refused + ", not root (script or code run by sh)"},
		{[]string{b("bash"), "-e", "-o", "pipefail", bad, "x"}, refused},
		{[]string{b("bash"), "-eo", "pipefail", "--", bad}, refused},
		{[]string{b("bash"), "--rcfile", bad, good}, refused},
		{[]string{b("sh"), "-c", `systemctl reload nginx`, "sh", bad}, ""}, // inline code: the config is the code
		{[]string{b("sh"), "-ec", `x`}, ""},
		{[]string{b("sh"), "-s", bad}, ""},
		{[]string{b("sh"), "reload.sh"}, "is not an absolute path"},
		{[]string{b("python3"), "-u", bad}, refused + ", not root (script or code run by python3)"},
		{[]string{b("python3"), "-W", "ignore", good}, ""},
		{[]string{b("python3"), "-m", "http.server", bad}, ""},
		{[]string{b("python3"), "-c", "print(1)", bad}, ""},
		{[]string{b("perl"), "-I", libdir, good}, refused},
		{[]string{b("perl"), "-I" + libdir, good}, refused},
		{[]string{b("perl"), "-lne", "print", bad}, ""},
		{[]string{b("perl"), "-w", bad}, refused},
		{[]string{b("ruby"), "-r", filepath.Join(user, "x.rb"), good}, refused},
		{[]string{b("ruby"), "-rjson", good}, ""},
		{[]string{b("ruby"), "-e", "puts 1"}, ""},
		{[]string{b("node"), "--require=" + filepath.Join(user, "x.js"), good}, refused},
		{[]string{b("node"), "--title", "x", bad}, refused},
		{[]string{b("node"), "-e", "1", bad}, ""},
		{[]string{b("env"), "FOO=1", b("sh"), bad}, refused},
		{[]string{b("env"), "-i", "-u", "X", "--", b("python3"), good}, ""},
		{[]string{b("env"), "PATH=" + user, "prog"}, refused},
		{[]string{b("env"), "PATH=" + bin, "sh", bad}, refused},
		{[]string{b("env"), "PATH=" + bin, "sh", good}, ""},
		{[]string{b("env"), "-S", b("sh") + " " + good}, "env -S"},
		{[]string{b("env"), "-iS", "x"}, "env -S"},
		{[]string{b("env"), b("env"), b("sh"), bad}, refused},
		{[]string{b("busybox"), "sh", bad}, refused},
		{[]string{b("busybox"), "env", b("sh"), bad}, refused},
		{[]string{b("busybox"), "true", bad}, ""},
		{[]string{b("ash"), bad}, refused},                             // busybox runs the applet its argv[0] names
		{[]string{write(t, filepath.Join(dir, "shebang"), 0o755)}, ""}, // #!/bin/sh
		{[]string{shebang(t, dir, "#!"+userProg+" -x\n")}, refused + ", not root (in the #! line of " + filepath.Join(dir, "s1") + ")"},
		{[]string{shebang(t, dir, "#!"+b("env")+" certagent-no-such-prog\n")}, "env program certagent-no-such-prog is not in PATH"},
		{[]string{shebang(t, dir, "#! "+b("sh")+"\n"), "x"}, ""},
		{[]string{shebang(t, dir, "#!sh\n")}, "program sh is not an absolute path"},
		{[]string{b("sh"), filepath.Join(dir, "missing.sh")}, "script " + filepath.Join(dir, "missing.sh") + " run by sh does not exist"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(strings.Join(tc.argv, " "), dir, ""), func(t *testing.T) {
			err := CheckCommand(tc.argv)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

var shebangs int

// shebang writes a trusted script s1, s2, … starting with line.
func shebang(t *testing.T, dir, line string) string {
	t.Helper()
	shebangs++
	p := filepath.Join(dir, fmt.Sprintf("s%d", shebangs))
	must(t, os.WriteFile(p, []byte(line+"exit 0\n"), 0o755))
	return p
}
