package tlsrec

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCert is a self-signed ECDSA certificate for 127.0.0.1.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool, string, string) {
	return testCertTB(t)
}

func testCertTB(t testing.TB) (tls.Certificate, *x509.CertPool, string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsrec"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(cf, certPEM, 0o600)
	_ = os.WriteFile(kf, keyPEM, 0o600)
	return cert, pool, cf, kf
}

// echoServer accepts one connection, runs Handshake, then opens every
// record and seals its data back, until the client closes (the error is
// sent on done).
func echoServer(t *testing.T, cert tls.Certificate) (addr string, states chan *State, done chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	states, done = make(chan *State, 1), make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		s, err := Handshake(c, Config(&tls.Config{Certificates: []tls.Certificate{cert}}), 5*time.Second)
		if err != nil {
			done <- err
			return
		}
		states <- s
		in := append([]byte(nil), s.Leftover...)
		var out []byte
		buf := make([]byte, 64<<10)
		for {
			for {
				n := RecordLen(in)
				if n == 0 || len(in) < n {
					break
				}
				p, err := s.Open(in[:n])
				if err != nil {
					done <- err
					return
				}
				out = s.Seal(out[:0], p)
				if len(out) == 0 {
					in = in[n:]
					continue
				}
				if _, err := c.Write(out); err != nil {
					done <- err
					return
				}
				in = in[n:]
			}
			k, err := c.Read(buf)
			if err != nil {
				done <- err
				return
			}
			in = append(in, buf[:k]...)
		}
	}()
	return ln.Addr().String(), states, done
}

// TestRecordLayerWithCryptoTLS: crypto/tls clients of TLS 1.2 (each AEAD
// family) and 1.3 exchange data with the record layer: records split at
// 16 KiB, data sent right behind the Finished (Leftover), close_notify.
func TestRecordLayerWithCryptoTLS(t *testing.T) {
	cert, pool, _, _ := testCert(t)
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS 1.3", tls.VersionTLS13, 0},
		{"TLS 1.2 AES-128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS 1.2 AES-256-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"TLS 1.2 ChaCha20-Poly1305", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, states, done := echoServer(t, cert)
			cfg := &tls.Config{RootCAs: pool, MinVersion: tc.version, MaxVersion: tc.version}
			if tc.suite != 0 {
				cfg.CipherSuites = []uint16{tc.suite}
			}
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := <-states
			if s.Version() != tc.version || (tc.suite != 0 && s.ConnectionState.CipherSuite != tc.suite) {
				t.Fatalf("negotiated %x %x", s.Version(), s.ConnectionState.CipherSuite)
			}
			for _, size := range []int{1, 100, MaxPlaintext, MaxPlaintext + 100, 100 << 10} {
				msg := bytes.Repeat([]byte{byte(size)}, size)
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, size)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%d bytes: %v", size, err)
				}
			}
			_ = c.Close() // close_notify
			if err := <-done; !errors.Is(err, ErrCloseNotify) {
				t.Fatalf("server ended with %v, want close_notify", err)
			}
		})
	}
}

// TestOpenRefusesTampering: a flipped byte fails authentication; a record
// of the wrong length is refused.
func TestOpenRefusesTampering(t *testing.T) {
	cert, pool, _, _ := testCert(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	got := make(chan []byte, 1)
	states := make(chan *State, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := Handshake(c, Config(&tls.Config{Certificates: []tls.Certificate{cert}}), 5*time.Second)
		if err != nil {
			return
		}
		states <- s
		buf := append([]byte(nil), s.Leftover...)
		tmp := make([]byte, 4096)
		for RecordLen(buf) == 0 || len(buf) < RecordLen(buf) {
			n, err := c.Read(tmp)
			if err != nil {
				return
			}
			buf = append(buf, tmp[:n]...)
		}
		got <- buf[:RecordLen(buf)]
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("hello"))
	s, rec := <-states, <-got
	bad := bytes.Clone(rec)
	bad[len(bad)-1] ^= 1
	if _, err := s.Open(bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered record: %v", err)
	}
	if _, err := s.Open(rec[:len(rec)-1]); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("short record: %v", err)
	}
	if p, err := s.Open(rec); err != nil || string(p) != "hello" {
		t.Fatalf("the record itself: %q %v", p, err)
	}
}

// sClient runs OpenSSL's s_client against addr; say writes a line to its
// input and waits (up to 10 s) until its output holds want.
type sClient struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	seen  strings.Builder
	// server, when set, is the echo server's end, reported on a failure.
	server chan error
}

func startSClient(t *testing.T, args ...string) *sClient {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	c := &sClient{t: t, cmd: exec.Command(openssl, append([]string{"s_client"}, args...)...), lines: make(chan string, 256)}
	c.in, _ = c.cmd.StdinPipe()
	out, _ := c.cmd.StdoutPipe()
	c.cmd.Stderr = c.cmd.Stdout
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	return c
}

func (c *sClient) say(line, want string) {
	c.t.Helper()
	if line != "" {
		if _, err := io.WriteString(c.in, line+"\n"); err != nil {
			c.t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("s_client ended before %q; output:\n%s", want, c.seen.String())
			}
			c.seen.WriteString(l + "\n")
			if strings.Contains(l, want) {
				return
			}
		case err := <-c.server:
			c.t.Fatalf("the server ended with %v before %q; s_client output:\n%s", err, want, c.seen.String())
		case <-deadline:
			c.t.Fatalf("no %q from s_client; output:\n%s", want, c.seen.String())
		}
	}
}

// TestOpenSSLClient: OpenSSL's s_client, with the TLS 1.3 suites Go's
// client does not choose (AES-256-GCM, ChaCha20-Poly1305).
func TestOpenSSLClient(t *testing.T) {
	cert, _, certFile, _ := testCert(t)
	for _, suite := range []string{"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		t.Run(suite, func(t *testing.T) {
			addr, states, done := echoServer(t, cert)
			c := startSClient(t, "-connect", addr, "-tls1_3", "-ciphersuites", suite, "-CAfile", certFile, "-quiet", "-no_ign_eof")
			s := <-states
			if want := map[string]uint16{"TLS_AES_256_GCM_SHA384": tls.TLS_AES_256_GCM_SHA384, "TLS_CHACHA20_POLY1305_SHA256": tls.TLS_CHACHA20_POLY1305_SHA256}[suite]; s.ConnectionState.CipherSuite != want {
				t.Fatalf("negotiated %x", s.ConnectionState.CipherSuite)
			}
			c.say("first line", "first line") // the echo
			c.say("second line", "second line")
			_ = c.in.Close() // s_client sends close_notify
			if err := <-done; !errors.Is(err, ErrCloseNotify) {
				t.Fatalf("server ended with %v", err)
			}
		})
	}
}

// TestKeyUpdate: OpenSSL's s_client asks for a KeyUpdate ("K" on a line of
// its own, interactive mode); the record layer moves the client's keys on,
// answers with its own, and data flows both ways under the new keys.
func TestKeyUpdate(t *testing.T) {
	cert, _, certFile, _ := testCert(t)
	addr, _, done := echoServer(t, cert)
	c := startSClient(t, "-connect", addr, "-tls1_3", "-CAfile", certFile)
	c.server = done
	c.say("", "Verify return code: 0")
	c.say("before the update", "before the update")
	c.say("K", "KEYUPDATE")
	c.say("after the update", "after the update")
	c.say("and once more", "and once more")
	_ = c.cmd.Process.Kill()
	if err := <-done; errors.Is(err, ErrDecrypt) || errors.Is(err, ErrUnexpected) || errors.Is(err, ErrBadRecord) {
		t.Fatalf("server ended with %v", err)
	}
}

// statePair returns the State of a real handshake at version v (a
// crypto/tls client on the other end) and its mirror: the same keys with
// the directions swapped, which seals as that client would and opens what
// the server seals.
func statePair(t testing.TB, v uint16) (srv, cli *State) {
	t.Helper()
	cert, pool, _, _ := testCertTB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, MinVersion: v, MaxVersion: v})
		if err == nil {
			_ = c.Handshake()
			_ = c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err = Handshake(c, Config(&tls.Config{Certificates: []tls.Certificate{cert}}), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return srv, srv.Peer()
}

// BenchmarkSealOpen: one 1 KiB message sealed and opened, per version.
func BenchmarkSealOpen(b *testing.B) {
	for _, v := range []struct {
		name string
		v    uint16
	}{{"TLS1.3", tls.VersionTLS13}, {"TLS1.2", tls.VersionTLS12}} {
		b.Run(v.name, func(b *testing.B) {
			srv, cli := statePair(b, v.v)
			p := make([]byte, 1024)
			var rec []byte
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				rec = srv.Seal(rec[:0], p)
				if _, err := cli.Open(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNextRefusesGarbage: Next tells a record header from bytes that
// cannot start one, and one that announces too much.
func TestNextRefusesGarbage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want error
	}{
		{"\x17\x03\x03", 0, nil},
		{"\x17\x03\x03\x00\x02ab", 7, nil},
		{"\x17\x03\x03\x00\x02a", 0, nil},
		{"GET / HTTP/1.1\r\n", 0, ErrBadRecord},
		{"\x17\x04\x03\x00\x02ab", 0, ErrBadRecord},
		{"\x17\x03\x03\xff\xff", 0, ErrRecordTooBig},
	} {
		n, err := Next([]byte(tc.in))
		if n != tc.n || !errors.Is(err, tc.want) {
			t.Errorf("Next(%q) = %d, %v; want %d, %v", tc.in, n, err, tc.n, tc.want)
		}
	}
}

// TestAlert: an alert sealed by one end is opened by the other as that
// alert, in both versions; close_notify as ErrCloseNotify.
func TestAlert(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		srv, cli := statePair(t, v)
		if _, err := cli.Open(srv.Alert(nil, AlertBadRecordMAC)); !errors.Is(err, ErrAlert) || !strings.Contains(err.Error(), "20") {
			t.Fatalf("version %x: alert opened as %v", v, err)
		}
		if _, err := cli.Open(srv.CloseNotify(nil)); !errors.Is(err, ErrCloseNotify) {
			t.Fatalf("version %x: close_notify opened as %v", v, err)
		}
		if AlertFor(ErrDecrypt) != AlertBadRecordMAC || AlertFor(ErrCloseNotify) != 0 {
			t.Fatal("AlertFor")
		}
	}
}

// TestClient: Client's record layer talks to a crypto/tls server, TLS 1.2
// and 1.3, with the server's session tickets on (TLS 1.3 sends them after
// the handshake, as records the client skips).
func TestClient(t *testing.T) {
	cert, pool, _, _ := testCert(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: v, MaxVersion: v})
			buf := make([]byte, 64)
			for _, reply := range []string{"first", "second"} {
				n, err := tc.Read(buf)
				if err != nil {
					served <- err
					return
				}
				if _, err := tc.Write(append([]byte(reply+":"), buf[:n]...)); err != nil {
					served <- err
					return
				}
			}
			served <- nil
		}()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// Reads of 7 bytes at most: the ServerHello (which TLS 1.2's keys
		// come from) arrives in pieces.
		c := smallReads{nc}
		st, err := Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: v, MaxVersion: v}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		in := st.Leftover
		for _, msg := range []string{"hello", "again"} {
			if _, err := c.Write(st.Seal(nil, []byte(msg))); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"hello": "first:hello", "again": "second:again"}[msg]
			var got []byte
			for string(got) != want {
				buf := make([]byte, 4096)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("TLS %x: reading %q: %v (got %q)", v, want, err, got)
				}
				in = append(in, buf[:n]...)
				for {
					n, err := Next(in)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						break
					}
					p, err := st.Open(in[:n])
					if err != nil {
						t.Fatalf("TLS %x: %v", v, err)
					}
					got = append(got, p...)
					in = in[n:]
				}
			}
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzOpen: whatever bytes arrive, Next and Open return an error or a
// plaintext within the record, never panic; the seeds are sealed records
// of both versions, whole and cut.
func FuzzOpen(f *testing.F) {
	states := map[uint16][2]*State{}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv, cli := statePair(f, v)
		states[v] = [2]*State{srv, cli}
		rec := cli.Peer().Seal(nil, []byte("hello, fuzz"))
		f.Add(v == tls.VersionTLS13, rec)
		f.Add(v == tls.VersionTLS13, rec[:len(rec)-1])
		f.Add(v == tls.VersionTLS13, append([]byte{21, 3, 3, 0, 2}, 1, 0))
	}
	f.Fuzz(func(t *testing.T, v13 bool, b []byte) {
		v := uint16(tls.VersionTLS12)
		if v13 {
			v = tls.VersionTLS13
		}
		st := *states[v][0] // a copy: each input starts from the same keys
		for len(b) > 0 {
			n, err := Next(b)
			if err != nil || n == 0 {
				return
			}
			if n > len(b) || n > MaxRecordSize {
				t.Fatalf("Next = %d for %d bytes", n, len(b))
			}
			p, err := st.Open(b[:n])
			if err == nil && len(p) > n {
				t.Fatalf("%d bytes of plaintext from a %d-byte record", len(p), n)
			}
			if err != nil {
				return
			}
			b = b[n:]
		}
	})
}

// smallReads is a net.Conn whose reads return at most 7 bytes.
type smallReads struct{ net.Conn }

func (c smallReads) Read(p []byte) (int, error) { return c.Conn.Read(p[:min(len(p), 7)]) }

// TestKeyUpdateFlood: a peer's second KeyUpdate must follow
// KeyUpdateSpacing bytes of data; sooner it is refused (unexpected
// message), so a stream of tiny KeyUpdate records cannot make the owner
// derive keys thousands of times per read.
func TestKeyUpdateFlood(t *testing.T) {
	srv, cli := statePair(t, tls.VersionTLS13)
	open := func(rec []byte) ([]byte, error) {
		t.Helper()
		var out []byte
		for len(rec) > 0 {
			n, err := Next(rec)
			if err != nil || n == 0 {
				t.Fatalf("Next: %d, %v", n, err)
			}
			p, err := srv.Open(rec[:n])
			if err != nil {
				return out, err
			}
			out = append(out, p...)
			rec = rec[n:]
		}
		return out, nil
	}
	keyUpdate := func() []byte {
		cli.pendingKeyUpdate = true
		return cli.Seal(nil, nil)
	}
	if _, err := open(keyUpdate()); err != nil {
		t.Fatalf("first KeyUpdate: %v", err)
	}
	data := make([]byte, KeyUpdateSpacing)
	if p, err := open(cli.Seal(nil, data)); err != nil || len(p) != len(data) {
		t.Fatalf("data under the new keys: %d bytes, %v", len(p), err)
	}
	if _, err := open(keyUpdate()); err != nil {
		t.Fatalf("KeyUpdate after %d bytes: %v", len(data), err)
	}
	if p, err := open(cli.Seal(nil, []byte("a little"))); err != nil || string(p) != "a little" {
		t.Fatalf("data: %q, %v", p, err)
	}
	_, err := open(keyUpdate())
	if !errors.Is(err, ErrKeyUpdateFlood) || AlertFor(err) != AlertUnexpectedMessage {
		t.Fatalf("KeyUpdate 8 bytes after the last: %v (alert %d), want ErrKeyUpdateFlood", err, AlertFor(err))
	}
}

// TestRecordLimits: a TLS 1.3 record longer than 2^14+256 bytes is refused
// as too big before any decryption (RFC 8446 5.2); TLS 1.2 allows
// 2^14+2048, so the same record is only a bad MAC there.
func TestRecordLimits(t *testing.T) {
	rec := make([]byte, HeaderSize+MaxPlaintext+257)
	rec[0], rec[1], rec[2] = typeApplicationData, 3, 3
	binary.BigEndian.PutUint16(rec[3:], uint16(MaxPlaintext+257))
	srv13, _ := statePair(t, tls.VersionTLS13)
	if _, err := srv13.Open(append([]byte(nil), rec...)); !errors.Is(err, ErrRecordTooBig) {
		t.Errorf("TLS 1.3: %v, want ErrRecordTooBig", err)
	}
	srv12, _ := statePair(t, tls.VersionTLS12)
	if _, err := srv12.Open(append([]byte(nil), rec...)); !errors.Is(err, ErrDecrypt) {
		t.Errorf("TLS 1.2: %v, want ErrDecrypt", err)
	}
}
