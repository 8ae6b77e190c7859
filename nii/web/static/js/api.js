// The /v1 API with the officer's key. The key lives in this tab's sessionStorage only (not a cookie,
// so no cross-site request can use it; not localStorage, so it goes when the tab closes).

const KEY = 'nii.apiKey';
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
  key: () => sessionStorage.getItem(KEY),
  user: () => JSON.parse(sessionStorage.getItem(USER) || 'null'),
  set(key, user) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(USER, JSON.stringify(user)); },
  // Forget the key but keep the user name, so drafts typed under it come back after signing in again.
  expire() { sessionStorage.removeItem(KEY); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(USER); },
};

let onExpired = () => {};
export function setExpiredHandler(fn) { onExpired = fn; }

export async function request(path, { method = 'GET', body, key, as = 'json' } = {}) {
  const token = key ?? session.key();
  if (!token) { onExpired('not signed in'); throw new SessionExpired('not signed in'); }
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'network', `the service cannot be reached (${err.message}); check the connection`);
  }
  if (response.status === 401 && key === undefined) {
    session.expire();
    onExpired('your session has expired or the key was revoked; sign in again');
    throw new SessionExpired('unauthorized');
  }
  if (!response.ok) {
    let payload = {};
    try { payload = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, payload.error || `http_${response.status}`,
      payload.detail || response.statusText);
  }
  if (as === 'blob') return response.blob();
  return response.json();
}

export const api = {
  me: (key) => request('/v1/me', { key }),
  queue: (params) => request(`/v1/queue?${new URLSearchParams(params)}`),
  case: (id) => request(`/v1/scans/${encodeURIComponent(id)}`),
  image: (id) => request(`/v1/scans/${encodeURIComponent(id)}/image`, { as: 'blob' }),
  audit: (id) => request(`/v1/scans/${encodeURIComponent(id)}/audit`),
  decide: (id, body) => request(`/v1/scans/${encodeURIComponent(id)}/decision`, { method: 'POST', body }),
};
