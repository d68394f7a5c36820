package wstest

import (
	"testing"

	"github.com/wsloop/wsloop/internal/certgen"
)

// CA is a certificate authority and a server certificate it signed for
// 127.0.0.1 and localhost, written as PEM files in a directory.
type CA = certgen.CA

// NewCA makes a CA named name and its server certificate in dir.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	ca, err := certgen.New(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
