package sources_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// The secrets the auth tests use.
const (
	secret      = "s3cret:token-0123456789"
	otherSecret = "s3cret:token-0123456780"
)

// authBody is the body the auth tests sign.
var authBody = []byte(`{"alerts":[]}`)

// sign returns the hex HMAC-SHA256 of body keyed with key.
func sign(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// basic returns a basic Authorization header value.
func basic(userAndPassword string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userAndPassword))
}

// header returns a header with one field, or none when name is "".
func header(name, value string) http.Header {
	h := http.Header{}
	if name != "" {
		h.Set(name, value)
	}
	return h
}

// authSource returns a source of the given auth type with secret's
// credential.
func authSource(auth sources.AuthType, signatureHeader string) sources.Source {
	s := sources.Source{Name: "src", Kind: sources.KindAlertmanager, Auth: auth, SignatureHeader: signatureHeader, Credential: sources.Credential(auth, secret)}
	if auth == sources.AuthBasic {
		s.Username = "alertmanager"
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	const (
		ok      = ""
		missing = "missing credentials"
		bad     = "bad credentials"
	)
	good := sign(secret, authBody)
	tests := []struct {
		name   string
		source sources.Source
		header http.Header
		body   []byte // nil: authBody
		want   string
	}{
		{"bearer", authSource(sources.AuthBearer, ""), header("Authorization", "Bearer "+secret), nil, ok},
		{"bearer scheme in lower case", authSource(sources.AuthBearer, ""), header("Authorization", "bearer "+secret), nil, ok},
		{"bearer wrong secret", authSource(sources.AuthBearer, ""), header("Authorization", "Bearer "+otherSecret), nil, bad},
		{"bearer secret cut short", authSource(sources.AuthBearer, ""), header("Authorization", "Bearer "+secret[:len(secret)-1]), nil, bad},
		{"bearer no header", authSource(sources.AuthBearer, ""), header("", ""), nil, missing},
		{"bearer empty header", authSource(sources.AuthBearer, ""), header("Authorization", ""), nil, missing},
		{"bearer no token", authSource(sources.AuthBearer, ""), header("Authorization", "Bearer"), nil, bad},
		{"bearer without space", authSource(sources.AuthBearer, ""), header("Authorization", "Bearer"+secret), nil, bad},
		{"bearer sent as basic", authSource(sources.AuthBearer, ""), header("Authorization", basic("alertmanager:"+secret)), nil, bad},
		{"bearer token in another header", authSource(sources.AuthBearer, ""), header("X-Token", secret), nil, missing},
		{"bearer with no credential stored", sources.Source{Name: "src", Auth: sources.AuthBearer}, header("Authorization", "Bearer "+secret), nil, bad},

		{"basic", authSource(sources.AuthBasic, ""), header("Authorization", basic("alertmanager:"+secret)), nil, ok},
		{"basic scheme in capitals", authSource(sources.AuthBasic, ""), header("Authorization", "BASIC "+strings.TrimPrefix(basic("alertmanager:"+secret), "Basic ")), nil, ok},
		{"basic wrong password", authSource(sources.AuthBasic, ""), header("Authorization", basic("alertmanager:"+otherSecret)), nil, bad},
		{"basic wrong user", authSource(sources.AuthBasic, ""), header("Authorization", basic("grafana:"+secret)), nil, bad},
		{"basic user in another case", authSource(sources.AuthBasic, ""), header("Authorization", basic("Alertmanager:"+secret)), nil, bad},
		{"basic no password", authSource(sources.AuthBasic, ""), header("Authorization", basic("alertmanager")), nil, bad},
		{"basic bad base64", authSource(sources.AuthBasic, ""), header("Authorization", "Basic !!!"), nil, bad},
		{"basic no header", authSource(sources.AuthBasic, ""), header("", ""), nil, missing},
		{"basic sent as bearer", authSource(sources.AuthBasic, ""), header("Authorization", "Bearer "+secret), nil, bad},

		{"hmac", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, good), nil, ok},
		{"hmac hex in capitals", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, strings.ToUpper(good)), nil, ok},
		{"hmac sha256= prefix", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, "sha256="+good), nil, ok},
		{"hmac SHA256= prefix", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, "SHA256="+good), nil, ok},
		{"hmac configured header", authSource(sources.AuthHMAC, "X-Grafana-Alerting-Signature"), header("X-Grafana-Alerting-Signature", good), nil, ok},
		{"hmac default header when configured another", authSource(sources.AuthHMAC, "X-Grafana-Alerting-Signature"), header(sources.DefaultSignatureHeader, good), nil, missing},
		{"hmac wrong key", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, sign(otherSecret, authBody)), nil, bad},
		{"hmac body changed", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, good), []byte(`{"alerts":[] }`), bad},
		{"hmac bad hex", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, "zz"+good[2:]), nil, bad},
		{"hmac odd length", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, good[1:]), nil, bad},
		{"hmac cut short", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, good[:32]), nil, bad},
		{"hmac other prefix", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, "sha1="+good), nil, bad},
		{"hmac prefix alone", authSource(sources.AuthHMAC, ""), header(sources.DefaultSignatureHeader, "sha256="), nil, bad},
		{"hmac no header", authSource(sources.AuthHMAC, ""), header("", ""), nil, missing},
		{"hmac bearer sent", authSource(sources.AuthHMAC, ""), header("Authorization", "Bearer "+secret), nil, missing},
		{"hmac with no key stored", sources.Source{Name: "src", Auth: sources.AuthHMAC}, header(sources.DefaultSignatureHeader, sign("", authBody)), nil, bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == nil {
				body = authBody
			}
			err := tt.source.Authenticate(tt.header, body)
			if tt.want == ok {
				if err != nil {
					t.Errorf("error %q, want none", err)
				}
				return
			}
			if !errors.Is(err, alerts.ErrUnauthorized) {
				t.Fatalf("error %v, want ErrUnauthorized", err)
			}
			if _, isClientError := errors.AsType[*alerts.Error](err); !isClientError || err.Error() != tt.want {
				t.Errorf("error %#v, want an *alerts.Error saying %q", err, tt.want)
			}
		})
	}
}

func TestAuthenticateUnknownType(t *testing.T) {
	s := sources.Source{Name: "src", Auth: "oauth"}
	err := s.Authenticate(header("Authorization", "Bearer "+secret), authBody)
	if err == nil || errors.Is(err, alerts.ErrUnauthorized) {
		t.Errorf("error %v, want an internal error", err)
	}
}
