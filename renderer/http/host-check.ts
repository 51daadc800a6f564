// DNS rebinding: a web page on attacker.example can re-point its own name at 127.0.0.1
// and then make the browser send requests to a loopback renderer, as same-origin. A
// tokenless loopback daemon would run the page's inline code. The browser still sends
// `Host: attacker.example`, so the daemon answers only to names it knows: loopback names,
// IP literals (a rebinding needs a DNS name; a literal is never the attacker's origin)
// and `server.allowedHosts`. With a token the page cannot authenticate anyway, so the
// check applies there only when the operator lists names.

const LOOPBACK_NAMES = /^(localhost|localhost\.localdomain|[a-z0-9-]+\.localhost)$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The name part of a Host header, lower-cased, without port or trailing dot; null if malformed. */
export function hostName(header: string): string | null {
  let name: string;
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    if (end < 0 || !/^(:\d{1,5})?$/.test(header.slice(end + 1))) return null;
    name = header.slice(0, end + 1);
  } else {
    const match = /^([^:]*)(:\d{1,5})?$/.exec(header);
    if (!match) return null;
    name = match[1]!;
  }
  name = name.toLowerCase().replace(/\.$/, '');
  return name.length > 0 ? name : null;
}

const isIpLiteral = (name: string): boolean =>
  (name.startsWith('[') && name.endsWith(']') && /^[0-9a-f:.]+$/.test(name.slice(1, -1))) ||
  (IPV4.test(name) && name.split('.').every((part) => Number(part) <= 255));

/**
 * A predicate for Host headers, or null when no check applies: on a unix socket (no
 * browser reaches it) and on a token-protected server without `allowedHosts`.
 */
export function hostChecker(server: { socket?: string; token?: string; allowedHosts?: string[] }, tokenInUse: boolean): ((header: string | undefined) => boolean) | null {
  if (server.socket) return null;
  if (!server.allowedHosts && tokenInUse) return null;
  const listed = new Set((server.allowedHosts ?? []).map((name) => name.toLowerCase().replace(/\.$/, '')));
  if (listed.has('*')) return null;
  return (header) => {
    // HTTP/1.0 without Host: not a browser (every browser sends one).
    if (header === undefined) return true;
    const name = hostName(header);
    return name !== null && (LOOPBACK_NAMES.test(name) || isIpLiteral(name) || listed.has(name));
  };
}
