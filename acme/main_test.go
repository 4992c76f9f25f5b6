package acme

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// dnsHelperEnv, when set to challtestsrv's management URL, turns the test
// binary into the program lego's exec DNS provider runs:
// "present|cleanup FQDN VALUE" → POST /set-txt or /clear-txt.
const dnsHelperEnv = "CERTAGENT_TEST_DNS_HELPER"

func TestMain(m *testing.M) {
	if url := os.Getenv(dnsHelperEnv); url != "" {
		os.Exit(dnsHelper(url, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func dnsHelper(url string, args []string) int {
	if len(args) != 3 {
		fmt.Fprintf(os.Stderr, "dns helper: want present|cleanup FQDN VALUE, got %q\n", args)
		return 2
	}
	path, body := "/set-txt", map[string]string{"host": args[1], "value": args[2]}
	if args[0] == "cleanup" {
		path, body = "/clear-txt", map[string]string{"host": args[1]}
	}
	data, _ := json.Marshal(body)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url+path, "application/json", bytes.NewReader(data))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns helper:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "dns helper:", resp.Status)
		return 1
	}
	return 0
}
