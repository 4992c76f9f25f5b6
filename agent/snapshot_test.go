package agent

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// TestSnapshotFromAnotherGoroutine: Snapshot is read while Run inspects and
// issues (go test -race reports any unsynchronized access), sees every
// cert come out ok, and hands out copies that callers may change.
func TestSnapshotFromAnotherGoroutine(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx) }()
	for {
		rows := ta.Snapshot()
		ok := len(rows) == 4
		for i := range rows {
			ok = ok && rows[i].State == StateOK && rows[i].Serial != ""
			rows[i].SANs = append(rows[i].SANs[:0], "scribbled.example.com")
		}
		if ok {
			break
		}
		time.Sleep(time.Millisecond) // poll; the Run goroutine does the work
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows := ta.Snapshot()
	if len(rows) != 4 || !slices.Equal(rows[0].SANs, []string{"a.example.com"}) {
		t.Fatalf("a caller's change to a returned row reached the agent: %+v", rows)
	}
}

// TestSnapshotCopiesRecords: a caller that changes a row's revocation
// record changes only its own copy.
func TestSnapshotCopiesRecords(t *testing.T) {
	a := &Agent{}
	a.share([]CertStatus{{Name: "a", Revocation: &RevocationStatus{Serial: "abc", Reason: "superseded"}}})
	rows := a.Snapshot()
	rows[0].Revocation.Reason = "scribbled"
	if got := a.Snapshot()[0].Revocation.Reason; got != "superseded" {
		t.Fatalf("a caller's change to a returned revocation reached the agent: %q", got)
	}
}

// TestSharedAfterTheFirstPass: until the first pass shares its rows,
// Snapshot is empty and Shared is open, so a status request waits
// instead of answering "no certs".
func TestSharedAfterTheFirstPass(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	select {
	case <-ta.Shared():
		t.Fatal("Shared is closed before any pass")
	default:
	}
	if rows := ta.Snapshot(); len(rows) != 0 {
		t.Fatalf("rows before the first pass: %v", rows)
	}
	ta.pass(context.Background(), passOptions{})
	select {
	case <-ta.Shared():
	default:
		t.Fatal("Shared still open after the first pass")
	}
	if rows := ta.Snapshot(); len(rows) == 0 {
		t.Fatal("no rows after the first pass")
	}
}

// TestSharedRowKeepsEveryField: a row with any one field of CertStatus
// changed from a healthy row comes back from the published status as it
// went in, so a field added to CertStatus cannot be dropped by the
// compact form; a healthy cert's row is kept compact.
func TestSharedRowKeepsEveryField(t *testing.T) {
	cert := &config.Cert{Name: "a", Issuer: "ca", DNSNames: []string{"a.example"}, IPAddresses: []string{"192.0.2.1"}}
	healthy := CertStatus{Name: "a", Issuer: "ca", SANs: []string{"a.example", "192.0.2.1"}, Serial: "01", State: StateOK,
		NotAfter: time.Unix(2e9, 0).UTC(), NextRenewal: time.Unix(1.9e9, 0).UTC(), IssuedBy: "ca"}
	if s := shareRow(healthy, cert); s.full != nil {
		t.Fatal("a healthy cert's row is kept whole")
	}
	typ := reflect.TypeFor[CertStatus]()
	for i := range typ.NumField() {
		r := healthy
		r.SANs = slices.Clone(healthy.SANs)
		f := reflect.ValueOf(&r).Elem().Field(i)
		switch v := f.Addr().Interface().(type) {
		case *string:
			*v = "x"
		case *[]string:
			*v = []string{"x"}
		case *time.Time:
			*v = time.Date(2026, 11, 30, 1, 2, 3, 4, time.UTC)
		case *int:
			*v = 3
		case *bool:
			*v = true
		default:
			if f.Kind() != reflect.Pointer {
				t.Fatalf("field %s: type %s not covered by this test", typ.Field(i).Name, f.Type())
			}
			f.Set(reflect.New(f.Type().Elem()))
		}
		s := shareRow(r, cert)
		if got := s.row(); !reflect.DeepEqual(got, r) {
			t.Errorf("field %s: shared %+v, got back %+v", typ.Field(i).Name, r, got)
		}
	}
	for _, sans := range [][]string{nil, {}, {"a.example"}, {"192.0.2.1", "a.example"}} {
		r := healthy
		r.SANs = sans
		if got := shareRow(r, cert); !reflect.DeepEqual(got.row(), r) {
			t.Errorf("SANs %#v: got back %#v", sans, got.row().SANs)
		}
	}
}
