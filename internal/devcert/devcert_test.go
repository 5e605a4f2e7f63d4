package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestWriteMakesACertificateThePoolTrusts(t *testing.T) {
	certFile, keyFile, roots, err := Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("the files are not a key pair: %v", err)
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("not valid for %s: %v", name, err)
		}
	}
}
