package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// addressTable lists URL host forms and whether registering an endpoint with
// them is refused by default. Allowed rows are public addresses and names;
// the tests never connect to them.
var addressTable = []struct {
	host    string
	blocked bool
	why     string
}{
	{"127.0.0.1", true, "loopback"},
	{"127.1.2.3", true, "loopback /8"},
	{"10.0.0.1", true, "RFC 1918"},
	{"172.16.5.4", true, "RFC 1918"},
	{"172.31.255.255", true, "RFC 1918 upper edge"},
	{"192.168.1.1", true, "RFC 1918"},
	{"100.64.0.1", true, "carrier-grade NAT"},
	{"169.254.169.254", true, "cloud metadata"},
	{"0.0.0.0", true, "unspecified"},
	{"224.0.0.1", true, "multicast"},
	{"255.255.255.255", true, "broadcast"},
	{"240.0.0.1", true, "reserved"},
	{"198.18.0.1", true, "benchmarking"},
	{"::1", true, "IPv6 loopback"},
	{"[::1]", true, "bracketed IPv6 loopback"},
	{"::", true, "IPv6 unspecified"},
	{"fe80::1", true, "IPv6 link-local"},
	{"fc00::1", true, "unique local"},
	{"fd12:3456::1", true, "unique local"},
	{"ff02::1", true, "IPv6 multicast"},
	{"::ffff:127.0.0.1", true, "IPv4-mapped loopback"},
	{"::ffff:169.254.169.254", true, "IPv4-mapped metadata"},
	{"::ffff:a9fe:a9fe", true, "IPv4-mapped metadata in hex"},
	{"::127.0.0.1", true, "IPv4-compatible loopback"},
	{"::10.0.0.1", true, "IPv4-compatible private"},
	{"64:ff9b::7f00:1", true, "NAT64 of loopback"},
	{"64:ff9b::a9fe:a9fe", true, "NAT64 of metadata"},
	{"64:ff9b:1::1", true, "local-use NAT64"},
	{"2002:7f00:1::1", true, "6to4 of loopback"},
	{"2001:0:4136:e378::1", true, "Teredo"},
	{"fe80::1%eth0", true, "IPv6 zone (as url.URL.Hostname returns it)"},
	{"2130706433", true, "decimal 127.0.0.1"},
	{"0177.0.0.1", true, "octal 127.0.0.1"},
	{"0x7f.0.0.1", true, "hex 127.0.0.1"},
	{"0x7f000001", true, "hex 127.0.0.1 whole"},
	{"127.1", true, "short form 127.0.0.1"},
	{"017700000001", true, "octal 127.0.0.1 whole"},
	{"localhost", true, "localhost"},
	{"LOCALHOST.", true, "localhost with trailing dot"},
	{"api.localhost", true, "localhost subdomain"},
	{"127.0.0.1.", true, "loopback with trailing dot"},
	{"metadata.google.internal", true, "metadata name"},
	{"168.63.129.16", true, "Azure WireServer"},
	{"::ffff:0:7f00:1", true, "IPv4-translated (SIIT) loopback"},
	{"１２７.０.０.１", true, "fullwidth digits, mapped to 127.0.0.1 by IDNA"},
	{"①②⑦.0.0.1", true, "circled digits"},
	{"ｌｏｃａｌｈｏｓｔ", true, "fullwidth localhost"},
	{"bücher.example", true, "Unicode name: must be given as xn--"},
	{"xn--bcher-kva.example", false, "internationalized name in xn-- form"},
	{"8.8.8.8", false, "public IPv4"},
	{"93.184.216.34", false, "public IPv4"},
	{"2606:4700::1111", false, "public IPv6"},
	{"::ffff:8.8.8.8", false, "IPv4-mapped public"},
	{"64:ff9b::808:808", false, "NAT64 of public"},
	{"example.com", false, "name: checked when resolved"},
	{"hooks.example.com.", false, "name with trailing dot"},
	{"1e100.net", false, "name that starts with digits"},
}

func TestCheckHost_address_table(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(nil)
	require.NoError(t, err)
	for _, row := range addressTable {
		err := p.CheckHost(row.host)
		if row.blocked {
			require.ErrorIs(t, err, ErrBlocked, "%s (%s) should be refused", row.host, row.why)
		} else {
			require.NoError(t, err, "%s (%s) should be allowed", row.host, row.why)
		}
		t.Logf("%-26s %-8s %s", row.host, map[bool]string{true: "blocked", false: "allowed"}[err != nil], row.why)
	}
}

func TestPolicy_allow_list_exempts_exactly_its_entries(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy([]string{"127.0.0.1/32", "::ffff:10.1.0.0/112", "fd00::7", "Hooks.Internal.Example"})
	require.NoError(t, err)
	require.NoError(t, p.CheckHost("127.0.0.1"))
	require.ErrorIs(t, p.CheckHost("127.0.0.2"), ErrBlocked)
	require.NoError(t, p.CheckHost("10.1.200.3"))
	require.ErrorIs(t, p.CheckHost("10.2.0.1"), ErrBlocked)
	require.NoError(t, p.CheckHost("fd00::7"))
	require.NoError(t, p.CheckHost("hooks.internal.example."))
	require.True(t, p.AllowIP(netip.MustParseAddr("::ffff:127.0.0.1")), "mapped form of an allowed address")
	_, err = NewPolicy([]string{"not a host/x"})
	require.Error(t, err)
}

// scripted resolves every name to the addresses of its next answer, so a
// test can make a name change what it points to between lookups.
type scripted struct {
	answers [][]netip.Addr
	calls   atomic.Int32
}

func (s *scripted) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	i := int(s.calls.Add(1)) - 1
	return s.answers[min(i, len(s.answers)-1)], nil
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestDialer_refuses_what_a_name_resolves_to_at_connect_time(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// Only 127.0.0.1 is allowed: the receiver is reachable by its address.
	p, err := NewPolicy([]string{"127.0.0.1/32"})
	require.NoError(t, err)
	res := &scripted{answers: [][]netip.Addr{
		addrs("127.0.0.1"),             // first lookup: allowed
		addrs("127.0.0.2"),             // rebound to a blocked loopback address
		addrs("127.0.0.1", "10.0.0.7"), // one good, one private: refused whole
		addrs("::ffff:169.254.169.254"),
	}}
	d := &Dialer{Policy: p, Resolver: res}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	url := fmt.Sprintf("http://rebind.test:%s/", port)

	resp, err := client.Get(url)
	require.NoError(t, err, "the first answer is allowed")
	resp.Body.Close()
	for i := range 3 {
		_, err := client.Get(url)
		require.ErrorIs(t, err, ErrBlocked, "lookup %d", i+2)
	}
	require.EqualValues(t, 1, hits.Load(), "a blocked answer reached the receiver")
	require.EqualValues(t, 4, res.calls.Load(), "the name is resolved on every connection")
}

func TestDialer_control_rechecks_the_socket_address(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(nil)
	require.NoError(t, err)
	d := &Dialer{Policy: p}
	err = d.control("tcp", "127.0.0.1:80", nil)
	require.ErrorIs(t, err, ErrBlocked)
	require.NoError(t, d.control("tcp", "8.8.8.8:443", nil))
	require.True(t, errors.Is(d.control("tcp", "garbage", nil), ErrBlocked))
}

func TestDialer_blocks_literal_addresses_without_resolving(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(nil)
	require.NoError(t, err)
	res := &scripted{answers: [][]netip.Addr{addrs("8.8.8.8")}}
	d := &Dialer{Policy: p, Resolver: res}
	_, err = d.DialContext(context.Background(), "tcp", "[::ffff:127.0.0.1]:80")
	require.ErrorIs(t, err, ErrBlocked)
	require.Zero(t, res.calls.Load())
}

func TestParseLooseIPv4(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "0x7f.0.0.1": "127.0.0.1",
		"127.1": "127.0.0.1", "10.0.258": "10.0.1.2", "0xa9fea9fe": "169.254.169.254",
	} {
		got, ok := parseLooseIPv4(in)
		require.True(t, ok, in)
		require.Equal(t, want, got.String(), in)
	}
	for _, in := range []string{"example", "1.2.3.4.5", "256.1.1.1", "1..2", "09", "4294967296"} {
		_, ok := parseLooseIPv4(in)
		require.False(t, ok, in)
	}
}
