package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/pflag"
)

// clientTLS are the options of the commands that talk to a server over
// https: the CA to trust for the server's certificate and, for a server
// with mutual TLS (herald serve --tls-client-ca), the client's own
// certificate. Their names keep them apart from serve's --tls-* flags,
// which are the server's side of TLS.
type clientTLS struct {
	caFile   string // --ca-file
	certFile string // --client-cert
	keyFile  string // --client-key
}

// addFlags defines the options on fs, each defaulting to its HERALD_
// environment variable.
func (o *clientTLS) addFlags(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringVar(&o.caFile, "ca-file", getenv("HERALD_CA_FILE"), "PEM CA certificates to trust for an https:// server's certificate instead of the system's (env HERALD_CA_FILE)")
	fs.StringVar(&o.certFile, "client-cert", getenv("HERALD_CLIENT_CERT"), "PEM client certificate for a server with mutual TLS, herald serve --tls-client-ca (env HERALD_CLIENT_CERT)")
	fs.StringVar(&o.keyFile, "client-key", getenv("HERALD_CLIENT_KEY"), "PEM private key of --client-cert (env HERALD_CLIENT_KEY)")
}

func (o clientTLS) given() bool {
	return o.caFile != "" || o.certFile != "" || o.keyFile != ""
}

// config returns the TLS configuration for talking to server, nil when
// no option is given. It reads the files now, so a command refuses
// options that cannot work before it sends anything.
func (o clientTLS) config(server string) (*tls.Config, error) {
	switch {
	case !o.given():
		return nil, nil
	case o.certFile != "" && o.keyFile == "":
		return nil, errors.New("--client-cert needs --client-key: give the certificate's private key too")
	case o.keyFile != "" && o.certFile == "":
		return nil, errors.New("--client-key needs --client-cert: give the certificate of the key too")
	}
	if u, err := url.Parse(server); err == nil && u.Scheme == "http" {
		return nil, fmt.Errorf("--server %s is cleartext HTTP: --ca-file, --client-cert and --client-key need an https:// URL", server)
	}
	cfg := &tls.Config{}
	if o.caFile != "" {
		pool, err := certPool("--ca-file", o.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--client-cert %s, --client-key %s: %w", o.certFile, o.keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// watchCertRequests returns a copy of cfg (nil: the defaults) that notes
// in c.tlsHint when a server asks for a client certificate, to say what
// to check if the server then refuses the client: over HTTP/2 Go reports
// that refusal only as a connection that "could not be established".
func (c *client) watchCertRequests(cfg *tls.Config) *tls.Config {
	if cfg = cfg.Clone(); cfg == nil {
		cfg = &tls.Config{}
	}
	certs := cfg.Certificates
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		hint := hintCertSent
		defer c.tlsHint.Store(&hint)
		if len(certs) == 0 {
			hint = hintNoCert
			return &tls.Certificate{}, nil // none
		}
		return &certs[0], nil
	}
	return cfg
}

const (
	hintNoCert   = "the server asked for a client certificate and none was given: for mutual TLS, give one with --client-cert and --client-key"
	hintCertSent = "the server asked for a client certificate: is --client-cert one that a CA of its --tls-client-ca signed?"
)

// withTLS returns a client like hc whose connections use cfg; hc itself
// when cfg is nil.
func withTLS(hc *http.Client, cfg *tls.Config) *http.Client {
	if cfg == nil {
		return hc
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	t, ok := hc.Transport.(*http.Transport)
	if !ok {
		t = http.DefaultTransport.(*http.Transport)
	}
	t = t.Clone()
	t.TLSClientConfig = cfg
	c := *hc
	c.Transport = t
	return &c
}
