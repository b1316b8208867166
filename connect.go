package herald

import "crypto/tls"

// connectConfig is Connect's configuration.
type connectConfig struct {
	clientConfig
	token string
	tls   *tls.Config
}
