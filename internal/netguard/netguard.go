// Package netguard keeps webhook deliveries away from the sender's own
// network: loopback, private, link-local (cloud metadata), carrier-grade NAT,
// unique-local, multicast and reserved addresses, in every IPv6 form that
// embeds one of them.
//
// The check runs at connect time on each address DNS returned, and the
// connection goes to exactly the address checked, so a name that resolves to
// a public address when the endpoint is registered and to a private one
// later (DNS rebinding) is still refused.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// ErrBlocked is wrapped by every refusal.
var ErrBlocked = errors.New("webhook: destination address is blocked")

// blockedV4 are IPv4 ranges a webhook must never reach.
var blockedV4 = prefixes(
	"0.0.0.0/8",          // "this network", includes the unspecified address
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // carrier-grade NAT
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local, cloud metadata (169.254.169.254)
	"168.63.129.16/32",   // Azure WireServer
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation
	"192.88.99.0/24",     // 6to4 relay anycast
	"192.168.0.0/16",     // private
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation
	"203.0.113.0/24",     // documentation
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // broadcast
)

// blockedV6 are IPv6 ranges blocked outright; forms embedding an IPv4
// address are unwrapped instead (see embedded).
var blockedV6 = prefixes(
	"::/128",         // unspecified
	"::1/128",        // loopback
	"100::/64",       // discard
	"64:ff9b:1::/48", // local-use NAT64
	"2001::/32",      // Teredo: the IPv4 inside is obfuscated, so no exception
	"2001:db8::/32",  // documentation
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	siit      = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated
	compat    = netip.MustParsePrefix("::/96")           // IPv4-compatible (deprecated)
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Blocked reports whether ip is in a range deliveries must not reach.
func Blocked(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		return Blocked(ip.Unmap())
	}
	if ip.Is4() {
		for _, p := range blockedV4 {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, p := range blockedV6 {
		if p.Contains(ip) {
			return true
		}
	}
	if v4, ok := embedded(ip); ok {
		return Blocked(v4)
	}
	return false
}

// embedded returns the IPv4 address inside a NAT64, IPv4-compatible or 6to4
// address.
func embedded(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip), compat.Contains(ip), siit.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// Policy decides which destinations deliveries may reach. The zero value
// blocks every range Blocked lists and allows everything else.
type Policy struct {
	nets  []netip.Prefix
	hosts map[string]bool
}

// NewPolicy builds a policy whose allow-list exempts the given entries from
// the block: CIDRs ("127.0.0.0/8"), addresses ("10.1.2.3", "::1"), or host
// names ("hooks.internal.example"), matched case-insensitively.
func NewPolicy(allow []string) (*Policy, error) {
	p := &Policy{hosts: map[string]bool{}}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if pfx, err := netip.ParsePrefix(a); err == nil {
			if pfx.Addr().Is4In6() && pfx.Bits() >= 96 { // compare as IPv4, as AllowIP does
				pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
			}
			p.nets = append(p.nets, pfx.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			p.nets = append(p.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		host := normalizeHost(a)
		if host == "" || strings.ContainsAny(host, "/: ") {
			return nil, fmt.Errorf("webhook: allow-list entry %q is not a CIDR, an address or a host name", a)
		}
		p.hosts[host] = true
	}
	return p, nil
}

// AllowIP reports whether a connection to ip may be made.
func (p *Policy) AllowIP(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	for _, n := range p.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return !Blocked(ip)
}

// AllowHost reports whether host is allow-listed by name; such hosts skip
// the address check.
func (p *Policy) AllowHost(host string) bool { return p.hosts[normalizeHost(host)] }

// CheckHost rejects a URL host that names a blocked destination by its
// literal form: an IP address in a blocked range, an IPv4 address in a form
// other than dotted decimal (2130706433, 0177.0.0.1, 0x7f.1), localhost, or a
// well-known metadata name. Names are resolved only at delivery time, where
// the dialer checks what they resolve to.
//
// Hosts must be ASCII (internationalized names in their xn-- form): HTTP
// stacks map Unicode look-alikes such as "１２７.０.０.１" to ASCII, and a
// proxy would receive the mapped form.
func (p *Policy) CheckHost(host string) error {
	h := normalizeHost(host)
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return fmt.Errorf("%w: %q is not ASCII; use the xn-- form of an internationalized name", ErrBlocked, host)
		}
	}
	if p.hosts[h] {
		return nil
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("%w: %s has an IPv6 zone", ErrBlocked, host)
		}
		if !p.AllowIP(ip) {
			return fmt.Errorf("%w: %s", ErrBlocked, host)
		}
		return nil
	}
	if _, ok := parseLooseIPv4(h); ok {
		return fmt.Errorf("%w: %s is an IPv4 address in a non-standard form", ErrBlocked, host)
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || metadataHosts[h] {
		return fmt.Errorf("%w: %s", ErrBlocked, host)
	}
	return nil
}

var metadataHosts = map[string]bool{
	"metadata.google.internal": true, "metadata": true, "instance-data": true,
	"instance-data.ec2.internal": true,
}

// normalizeHost lower-cases a host and drops one trailing dot, so
// "LOCALHOST." and "localhost" compare equal.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	return strings.TrimSuffix(h, ".")
}

// parseLooseIPv4 parses the forms inet_aton accepts: one to four parts, each
// decimal, octal (leading 0) or hex (0x), the last part filling the rest.
// Some resolvers and proxies read such names as addresses.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		if part == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, part
		switch {
		case len(part) > 1 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0"
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) && len(vals) > 1 || last > 0xffffffff {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// Resolver looks up the addresses of a host; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer connects only to addresses the policy allows.
type Dialer struct {
	Policy   *Policy
	Resolver Resolver   // defaults to net.DefaultResolver
	Dialer   net.Dialer // timeouts and keep-alive; its Control is replaced
	// Proxy, a host:port, is dialed without checks: it is the egress proxy,
	// trusted to filter what it reaches. It is not a valid destination.
	Proxy string
}

// DialContext resolves address, refuses the connection if any resolved
// address is blocked (a name that mixes public and private addresses is not
// trusted with either), and dials the checked addresses in order.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if d.Proxy != "" && address == d.Proxy {
		return d.Dialer.DialContext(ctx, network, address)
	}
	if d.Policy.AllowHost(host) {
		return d.Dialer.DialContext(ctx, network, address)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		r := d.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
	}
	for _, ip := range ips {
		if !d.Policy.AllowIP(ip) {
			return nil, &net.OpError{Op: "dial", Net: network,
				Err: fmt.Errorf("%w: %s resolves to %s", ErrBlocked, host, ip)}
		}
	}
	dialer := d.Dialer
	dialer.Control = d.control
	var first error
	for _, ip := range ips {
		conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return nil, first
}

// control re-checks the address the socket is about to connect to.
func (d *Dialer) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", ErrBlocked, address)
	}
	if !d.Policy.AllowIP(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlocked, ap.Addr())
	}
	return nil
}
