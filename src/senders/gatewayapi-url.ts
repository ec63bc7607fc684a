/**
 * `<baseUrl>/rest/mtsms`, on baseUrl's own origin and nowhere else. Resolving a path against the
 * base would read a path that starts with `//` as a new host (`https://gatewayapi.com//evil.example`
 * would send the credentials to evil.example), so the endpoint is the base's origin with the
 * path set, and a path with an empty segment is refused outright.
 */
export function readEndpoint(baseUrl: string): URL {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new TypeError('GatewayApiSender: baseUrl must be an absolute URL such as "https://gatewayapi.com"');
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('GatewayApiSender: baseUrl must use https: (or http: for a local test server)');
  if (base.search !== '' || base.hash !== '' || base.username !== '' || base.password !== '') {
    throw new TypeError('GatewayApiSender: baseUrl must not carry a query, a fragment or credentials');
  }
  // The URL parser has already turned backslashes into slashes and resolved dot segments.
  const prefix = base.pathname.replace(/\/+$/, '');
  if (prefix.includes('//')) {
    throw new TypeError('GatewayApiSender: baseUrl must not have an empty segment ("//") in its path; give the host, and a path prefix such as "/gw" if a proxy needs one');
  }
  const endpoint = new URL(base.origin);
  endpoint.pathname = `${prefix}/rest/mtsms`;
  if (endpoint.origin !== base.origin) throw new TypeError('GatewayApiSender: baseUrl must name the host the requests go to');
  return endpoint;
}

/** Hosts plain `http:` may go to without a warning. */
export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}
