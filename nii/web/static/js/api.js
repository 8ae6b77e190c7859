// The /v1 API with the officer's session token (from POST /v1/session, name and password). The
// token lives in this tab's sessionStorage only: not a cookie, so no cross-site request can use it;
// not localStorage, so it goes when the tab closes. The service ends it after a while unused.

const TOKEN = 'nii.token';
const USER = 'nii.user';

export class SessionExpired extends Error {}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN),
  user: () => JSON.parse(sessionStorage.getItem(USER) || 'null'),
  set(token, user) { sessionStorage.setItem(TOKEN, token); sessionStorage.setItem(USER, JSON.stringify(user)); },
  // Forget the token but keep the user, so drafts typed under it come back after signing in again.
  expire() { sessionStorage.removeItem(TOKEN); },
  clear() { sessionStorage.removeItem(TOKEN); sessionStorage.removeItem(USER); },
};

let onExpired = () => {};
export function setExpiredHandler(fn) { onExpired = fn; }

// `token`: null sends no credentials (sign-in), a string sends that one; either way a 401 is an
// ordinary error. Otherwise the session's token is sent and a 401 ends the session.
export async function request(path, { method = 'GET', body, token, as = 'json' } = {}) {
  const own = token === undefined;
  const bearer = own ? session.token() : token;
  if (own && !bearer) { onExpired('not signed in'); throw new SessionExpired('not signed in'); }
  const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'network', `the service cannot be reached (${err.message}); check the connection`);
  }
  if (!response.ok) {
    let payload = {};
    try { payload = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401 && own) {
      session.expire();
      const why = payload.detail || 'your session has ended; sign in again';
      onExpired(why);
      throw new SessionExpired(why);
    }
    throw new ApiError(response.status, payload.error || `http_${response.status}`,
      payload.detail || response.statusText);
  }
  if (response.status === 204) return null;
  if (as === 'blob') return response.blob();
  return response.json();
}

const scan = (id) => `/v1/scans/${encodeURIComponent(id)}`;

export const api = {
  signIn: (name, password) => request('/v1/session', { method: 'POST', body: { name, password }, token: null }),
  signOut: (token) => request('/v1/session', { method: 'DELETE', token }),
  queue: (params) => request(`/v1/queue?${new URLSearchParams(params)}`),
  case: (id) => request(scan(id)),
  image: (id) => request(`${scan(id)}/image`, { as: 'blob' }),
  materials: (id) => request(`${scan(id)}/materials`, { as: 'blob' }),
  audit: (id) => request(`${scan(id)}/audit`),
  decide: (id, body) => request(`${scan(id)}/decision`, { method: 'POST', body }),
};
