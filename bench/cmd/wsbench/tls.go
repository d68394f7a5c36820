package main

import (
	"crypto/tls"

	"github.com/wsloop/wsloop/internal/certgen"
)

// tlsFiles is the certificate of a -tls run: an ECDSA P-256 server
// certificate for 127.0.0.1 signed by a CA made for the run, as PEM files
// the servers read, and the client configuration that trusts the CA.
type tlsFiles struct {
	cert, key string
	client    *tls.Config
}

// newTLSFiles writes the run's CA, certificate and key into dir.
func newTLSFiles(dir string) (*tlsFiles, error) {
	ca, err := certgen.New(dir, "wsbench")
	if err != nil {
		return nil, err
	}
	return &tlsFiles{cert: ca.CertFile, key: ca.KeyFile, client: &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"}}, nil
}
