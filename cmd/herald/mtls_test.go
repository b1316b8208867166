package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

// testCA signs certificates for the mutual TLS test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key in PEM for a server (127.0.0.1) or a
// client.
func (ca *testCA) issue(t *testing.T, serial int64, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "herald test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// mtlsServe is a `herald serve` with mutual TLS: its certificate and the
// client certificates it takes are signed by ca.
type mtlsServe struct {
	addr string // host:port
	ca   *testCA
	dir  string
}

// startMutualTLSServe runs `herald serve --tls-client-ca` on a free
// loopback port until the test ends.
func startMutualTLSServe(t *testing.T) *mtlsServe {
	t.Helper()
	s := &mtlsServe{ca: newTestCA(t), dir: t.TempDir()}
	srvCert, srvKey := s.ca.issue(t, 2, true)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		done <- a.execute(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(s.dir, "data"),
			"--tls-cert", s.write(t, "server.pem", srvCert), "--tls-key", s.write(t, "server.key", srvKey), "--tls-client-ca", s.write(t, "ca.pem", s.ca.pem)})
	}()
	t.Cleanup(func() { cancel(); <-done })
	line := regexp.MustCompile(`^herald listening on https://(127\.0\.0\.1:\d+) `)
	waitFor(t, func() bool { return line.MatchString(out.String()) })
	s.addr = line.FindStringSubmatch(out.String())[1]
	return s
}

// write writes a file in the server's directory and returns its path.
func (s *mtlsServe) write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// herald serve --tls-client-ca: a client with a certificate the CA signed
// gets in; one without a certificate, or with one another CA signed, does
// not.
func TestServe_MutualTLSLetsInOnlyClientsWithACertificateOfTheCA(t *testing.T) {
	s := startMutualTLSServe(t)
	ca, stranger := s.ca, newTestCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	withCert := func(c *testCA) *tls.Config {
		cp, kp := c.issue(t, 3, false)
		pair, err := tls.X509KeyPair(cp, kp)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	c, err := herald.Connect(cctx, s.addr, herald.WithTLS(withCert(ca)))
	if err != nil {
		t.Fatalf("a client with a certificate of the CA: %v", err)
	}
	if _, err := c.Publish(cctx, "orders", herald.MustNewEvent("t", nil, herald.WithSource("/s"))); err != nil {
		t.Fatalf("publish over mutual TLS: %v", err)
	}
	c.Close()
	if _, err := herald.Connect(cctx, s.addr, herald.WithTLS(&tls.Config{RootCAs: roots})); err == nil {
		t.Fatal("a client without a certificate got in")
	}
	if _, err := herald.Connect(cctx, s.addr, herald.WithTLS(withCert(stranger))); err == nil {
		t.Fatal("a client with a certificate of another CA got in")
	}
}
