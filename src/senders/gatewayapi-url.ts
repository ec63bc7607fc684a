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

/**
 * The ports the Fetch standard's "bad port" list blocks (as Node's fetch, undici, does): a request
 * there fails before it leaves the machine, whatever answers on the port.
 */
const FETCH_BAD_PORTS: ReadonlySet<string> = new Set([
  '1', '7', '9', '11', '13', '15', '17', '19', '20', '21', '22', '23', '25', '37', '42', '43', '53', '69', '77', '79',
  '87', '95', '101', '102', '103', '104', '109', '110', '111', '113', '115', '117', '119', '123', '135', '137',
  '139', '143', '161', '179', '389', '427', '465', '512', '513', '514', '515', '526', '530', '531', '532',
  '540', '548', '554', '556', '563', '587', '601', '636', '989', '990', '993', '995', '1719', '1720', '1723',
  '2049', '3659', '4045', '4190', '5060', '5061', '6000', '6566', '6665', '6666', '6667', '6668', '6669', '6679',
  '6697', '10080',
]);

/** True when Node's fetch refuses to connect to this URL's port. */
export function isFetchBadPort(url: URL): boolean {
  return FETCH_BAD_PORTS.has(url.port);
}
