package wsloop_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces docs/architecture.md ("Packages"): imports point
// downward only, only server touches gnet, and neither the engine nor what
// it stands on imports net/http or Prometheus.
func TestLayering(t *testing.T) {
	const mod = "github.com/wsloop/wsloop/"
	allowed := map[string][]string{ // package → packages of ours it may import
		"codec":              {},
		"protocol":           {},
		"timingwheel":        {},
		"clock":              {},
		"internal/mpsc":      {},
		"internal/sock":      {},
		"internal/uring":     {},
		"internal/accept":    {},
		"internal/wstest":    {"internal/certgen"},
		"internal/certgen":   {},
		"internal/natstest":  {},
		"internal/tlsrec":    {},
		"rooms":              {},
		"server":             {"codec", "protocol", "timingwheel", "rooms", "clock", "internal/mpsc", "internal/sock", "internal/uring", "internal/accept", "internal/proxyproto", "internal/tlsrec"},
		"lease":              {"server", "codec", "clock", "timingwheel"},
		"auth":               {"server", "codec", "clock", "protocol"},
		"metrics":            {"server", "lease", "cluster", "auth"},
		"cluster":            {"rooms", "lease", "clock"},
		"httpapi":            {"server", "lease", "codec", "protocol"},
		"internal/srvtest":   {"server", "codec", "internal/wstest"},
		"clients/js":         {},
		"examples/voiceroom": {"server", "auth", "httpapi", "protocol", "clock", "clients/js"},
		"cmd/wsloop":         {"server", "lease", "auth", "httpapi", "metrics", "cluster", "codec", "protocol", "rooms"},
	}
	// Packages that must not import net/http or Prometheus: the engine
	// and everything under it.
	noHTTP := map[string]bool{"codec": true, "protocol": true, "timingwheel": true, "clock": true, "rooms": true, "server": true, "lease": true, "cluster": true, "auth": true}
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
			if noHTTP[pkg] && (imp == "net/http" || strings.HasPrefix(imp, "github.com/prometheus/")) {
				t.Errorf("%s imports %s; only httpapi, metrics and the binary may", pkg, imp)
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
				t.Errorf("%s imports %s, against docs/architecture.md", pkg, dep)
			}
		}
	}
	if seen != len(allowed) {
		t.Fatalf("found %d of the %d packages the rule table names", seen, len(allowed))
	}
}
