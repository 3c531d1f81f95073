/**
 * A request target's path as Fastify's router reads it: percent-decoded, query left off. Prefix
 * checks made on the raw text miss what the router still routes: `/%61pi/v1/auth/login` reaches the
 * auth API's route, so comparing `request.url` with `/api/` would treat it as another path.
 * `null` when the path does not decode (the router refuses such a target before any handler).
 */
export function routedPath(url: string): string | null {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return null;
  }
}
