// Response sizes: the body that makes nginx's whole keep-alive response exactly N bytes. Pure
// arithmetic on nginx's header layout, used by the spec (to refuse unreachable sizes) and the server.

/**
 * Header bytes of nginx's keep-alive response for one of our static files, given the body size.
 * With this configuration (server_tokens off, etag off, default_type application/octet-stream):
 *   HTTP/1.1 200 OK\r\n                              17
 *   Server: nginx\r\n                                15
 *   Date: Sat, 21 Nov 2026 19:31:57 GMT\r\n          37 (RFC 1123 dates are fixed-width)
 *   Content-Type: application/octet-stream\r\n       40
 *   Content-Length: <n>\r\n                          18 + digits(n)
 *   Last-Modified: <RFC 1123 date>\r\n               46
 *   Connection: keep-alive\r\n                       24 (a `Connection: close` reply is 5 bytes shorter)
 *   Accept-Ranges: bytes\r\n                         22
 *   \r\n                                              2
 * The integration test fetches every size and checks the total against this.
 */
export function headerBytes(bodyBytes: number): number {
  return 221 + String(bodyBytes).length;
}

/** Body size giving a keep-alive response of exactly `responseBytes` bytes, or null if none does
 * (Content-Length gains a digit at body 10, 100, 1000 …, so one total at each step is unreachable). */
export function bodyOrNull(responseBytes: number): number | null {
  let body = responseBytes - headerBytes(0);
  while (body + headerBytes(body) > responseBytes) body--;
  return body >= 0 && body + headerBytes(body) === responseBytes ? body : null;
}

export function bodyFor(responseBytes: number): number {
  const body = bodyOrNull(responseBytes);
  if (body === null) throw new Error(`no body size gives a ${responseBytes}-byte response (headers alone are ${headerBytes(0)} bytes)`);
  return body;
}

export function responseFiles(sizes: number[]): { responseBytes: number; bodyBytes: number }[] {
  return sizes.map((responseBytes) => ({ responseBytes, bodyBytes: bodyFor(responseBytes) }));
}
