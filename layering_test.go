package wsloop_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces DESIGN §2: imports point downward only, and only
// server touches gnet.
func TestLayering(t *testing.T) {
	const mod = "github.com/wsloop/wsloop/"
	allowed := map[string][]string{ // package → packages of ours it may import
		"codec":          {},
		"timingwheel":    {},
		"internal/mpsc":  {},
		"internal/sock":  {},
		"internal/uring": {},
		"protocol":       {},
		"rooms":          {},
		"clock":          {},
		"server":         {"codec", "protocol", "timingwheel", "rooms", "clock", "internal/"},
		"cmd/wsloop":     {"server", "codec", "protocol"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		rules, ok := allowed[pkg]
		if !ok {
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "github.com/panjf2000/gnet") && pkg != "server" {
				t.Errorf("%s imports gnet; only server may", pkg)
			}
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			okDep := false
			for _, a := range rules {
				if dep == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a)) {
					okDep = true
				}
			}
			if !okDep {
				t.Errorf("%s imports %s, against DESIGN §2", pkg, dep)
			}
		}
	}
	if seen != len(allowed) {
		t.Fatalf("found %d of the %d packages the rule table names", seen, len(allowed))
	}
}
