// Package clientip finds the address of the client behind a request.
//
// A [Resolver] believes forwarding headers only when they come from a
// trusted proxy: the TCP peer of the request must fall inside one of the
// configured prefixes (server.trusted_proxies). The headers are then walked
// from right to left, skipping every hop that is itself a trusted proxy; the
// first untrusted hop is the client. This is the logic of chi's
// ClientIPFromXFF (never the deprecated RealIP, which lets any client choose
// its own address) and of Caddy's trusted_proxies.
//
// # Rules
//
//   - The peer address (http.Request.RemoteAddr, with or without a port) is
//     the answer when no prefix is trusted, when the peer is not trusted, or
//     when a trusted peer sent no forwarding header.
//   - X-Forwarded-For is read when present; RFC 7239 Forwarded (its for=
//     parameters) is read only when no X-Forwarded-For header was sent.
//     Several header lines are merged in the order received, so a client
//     cannot pick which one is read by sending a duplicate.
//   - Entries may carry a port ("192.0.2.1:4711", "[2001:db8::1]:4711"),
//     brackets, or an IPv6 zone; ports and zones are dropped and IPv4-mapped
//     IPv6 addresses fold to IPv4, so one client has one address and an alias
//     of a trusted address cannot slip past the prefix check.
//   - A value that does not parse (garbage, "unknown", an obfuscated RFC 7239
//     identifier, an element without for=, a malformed Forwarded header)
//     stops the walk, and the answer is [Unknown]: that hop is an untrusted
//     client of unknown address, and nothing to its left can be trusted. It
//     is never the proxy's own address, which an allow-list may contain.
//   - When every hop is trusted, the left-most one is the client.
//
// Returned addresses never carry a zone, except [Unknown], whose zone keeps
// it out of every prefix, so [net/netip.Prefix.Contains] works on them
// directly. An unparseable RemoteAddr yields the zero (invalid)
// [net/netip.Addr].
//
// # Cost
//
// [Resolver.IP] makes no allocation on the common path (no forwarding header)
// nor on the X-Forwarded-For path.
package clientip
