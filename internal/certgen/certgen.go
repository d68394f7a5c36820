// Package certgen makes a throwaway certificate authority and a server
// certificate it signed, for 127.0.0.1 and localhost, as PEM files: for
// tests (internal/wstest) and for the benchmark suite's -tls runs. Never
// for production: the keys are written unencrypted and live a day.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority and a server certificate it signed for
// 127.0.0.1 and localhost, written as PEM files in a directory.
type CA struct {
	Pool              *x509.CertPool // trusts the CA
	CAFile            string         // the CA's certificate (NODE_EXTRA_CA_CERTS, curl --cacert)
	CertFile, KeyFile string         // the server's chain and key
	ComboFile         string         // chain and key in one file (HAProxy)
	Subject           string         // the server certificate's common name: "wsloop <name>"
}

// New makes a CA named name and its server certificate in dir.
func New(dir, name string) (*CA, error) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsloop test CA " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "wsloop " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	c := &CA{Pool: x509.NewCertPool(), CAFile: filepath.Join(dir, name+"-ca.pem"), CertFile: filepath.Join(dir, name+"-cert.pem"),
		KeyFile: filepath.Join(dir, name+"-key.pem"), ComboFile: filepath.Join(dir, name+"-combo.pem"), Subject: "wsloop " + name}
	c.Pool.AddCert(ca)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	for file, data := range map[string][]byte{c.CAFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		c.CertFile: chain, c.KeyFile: keyPEM, c.ComboFile: append(append([]byte(nil), chain...), keyPEM...)} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}
