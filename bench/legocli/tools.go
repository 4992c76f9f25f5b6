//go:build tools

// Package legocli pins the lego CLI for bench/run, which builds it with
// `go build -o .cache/bin/lego-v4.35.2 github.com/go-acme/lego/v4/cmd/lego`.
package legocli

import _ "github.com/go-acme/lego/v4/cmd/lego"
