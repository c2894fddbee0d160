package config

import "testing"

func TestCheckListen(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"127.0.0.1:8080", true},
		{":8080", true},
		{"0.0.0.0:0", true},
		{"[::1]:443", true},
		{"[::]:80", true},
		{"localhost:65535", true},
		{"tocsin.internal.example:8080", true},
		{"my_host:80", true},
		{"", false},
		{"8080", false},
		{"localhost", false},
		{"localhost:", false},
		{"localhost:-1", false},
		{"localhost:+80", false},
		{"localhost:65536", false},
		{"::1:80", false},
		{"-bad.example:80", false},
		{"bad..example:80", false},
		{"1.2.3.999:80", false},
		{"exa mple:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			msg := checkListen(tt.in)
			if ok := msg == ""; ok != tt.ok {
				t.Errorf("checkListen(%q) = %q, want ok=%v", tt.in, msg, tt.ok)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"*", true},
		{"https://example.com", true},
		{"http://localhost:3000", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"https://oncall.example.com:8443", true},
		{"", false},
		{"example.com", false},
		{"//example.com", false},
		{"ftp://example.com", false},
		{"ws://example.com", false},
		{"https://", false},
		{"https://example.com/", false},
		{"https://example.com/app", false},
		{"https://example.com?x", false},
		{"https://example.com?", false},
		{"https://example.com#top", false},
		{"https://user@example.com", false},
		{"https://example.com:", false},
		{"https://example.com:99999", false},
		{"https://*.example.com", false},
		{"https://Example.com", false},
		{"HTTPS://example.com", false},
		{"https://example.com:443", false},
		{"http://example.com:80", false},
		{"https:example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			msg := checkOrigin(tt.in)
			if ok := msg == ""; ok != tt.ok {
				t.Errorf("checkOrigin(%q) = %q, want ok=%v", tt.in, msg, tt.ok)
			}
		})
	}
}
