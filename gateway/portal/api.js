// The gateway's HTTP/JSON API, called from the same origin with the signed-in
// user's bearer token. Every API path is written where it is called, as a
// literal first argument of get, post or download (a template literal when it
// holds an id), so that tests/portal.rs can check each one, with its method,
// against /openapi.json.

const TOKEN_KEY = 'zhengqi.portal.token';

/** The Chinese of a detail or violation (`google.rpc.LocalizedMessage` in zh-CN), if any. */
function chinese(localized) {
  return localized && localized.locale === 'zh-CN' && typeof localized.message === 'string' && localized.message
    ? localized.message
    : null;
}

/**
 * An error answer of the gateway: `{"code", "message", "details"}`. What the
 * page shows is the Chinese the answer carries (a LocalizedMessage in zh-CN,
 * and each field violation's own); the English `message` is for developers.
 */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const details = body && Array.isArray(body.details) ? body.details : [];
    const localized = details
      .filter((d) => d && d['@type'] === 'type.googleapis.com/google.rpc.LocalizedMessage')
      .map(chinese)
      .find((m) => m);
    const english = body && typeof body.message === 'string' ? body.message : '';
    super(localized || english || defaultMessage(status));
    this.name = 'ApiError';
    this.status = status;
    this.code = body && typeof body.code === 'number' ? body.code : 2;
    this.details = details;
    this.retryAfter = retryAfter;
    // Every field a google.rpc.BadRequest names, with why (in Chinese when given).
    this.violations = this.details
      .filter((d) => d && d['@type'] === 'type.googleapis.com/google.rpc.BadRequest')
      .flatMap((d) => (Array.isArray(d.fieldViolations) ? d.fieldViolations : []))
      .map((v) => ({
        field: String(v.field ?? ''),
        description: chinese(v.localizedMessage) || String(v.description ?? ''),
      }));
  }
}

function defaultMessage(status) {
  if (status === 0) return '无法连接网关';
  return `网关返回 HTTP ${status}`;
}

/** Decodes a JWT's payload (no signature check: the gateway checks it). */
export function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) {
    throw new Error('这不是 JWT：应为以“.”分隔的三段');
  }
  const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  let text;
  try {
    const binary = atob(padded);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('令牌的第二段不是 base64url 编码的 UTF-8');
  }
  let claims;
  try {
    claims = JSON.parse(text);
  } catch {
    throw new Error('令牌的第二段不是 JSON');
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new Error('令牌的载荷不是 JSON 对象');
  }
  return claims;
}

/** The signed-in user: the token in sessionStorage and its claims. */
export const session = {
  token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  claims() {
    const token = this.token();
    if (!token) return null;
    try {
      return normaliseClaims(decodeJwt(token));
    } catch {
      return null;
    }
  },
  /** Stores `token` after reading its claims; throws when it cannot be read or has expired. */
  signIn(token) {
    const trimmed = token.trim().replace(/^Bearer\s+/i, '');
    const claims = normaliseClaims(decodeJwt(trimmed));
    if (claims.exp && claims.exp * 1000 < Date.now()) {
      throw new Error(`令牌已于 ${new Date(claims.exp * 1000).toLocaleString('zh-CN')} 过期`);
    }
    sessionStorage.setItem(TOKEN_KEY, trimmed);
    return claims;
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

function normaliseClaims(claims) {
  const roles = Array.isArray(claims.roles)
    ? claims.roles.map(String)
    : typeof claims.roles === 'string'
      ? [claims.roles]
      : [];
  return {
    sub: String(claims.sub ?? ''),
    name: claims.name ? String(claims.name) : '',
    roles,
    jurisdiction: claims.jurisdiction ? String(claims.jurisdiction) : '',
    department: claims.department ? String(claims.department) : '',
    uscc: claims.uscc ? String(claims.uscc) : '',
    exp: typeof claims.exp === 'number' ? claims.exp : 0,
  };
}

let unauthenticated = () => {};

/** Called with the error when the gateway answers 401 (no, bad or expired token). */
export function onUnauthenticated(handler) {
  unauthenticated = handler;
}

/** An idempotency key for one form: the same key on a retry never makes a second item. */
export function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'portal-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function call(method, path, { query, body, accept } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === '' || value === false) continue;
    url.searchParams.set(key, String(value));
  }
  const headers = { accept: accept ?? 'application/json' };
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, { code: 14, message: `无法连接网关：${error.message}` });
  }
  if (!response.ok) {
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    const error = new ApiError(response.status, answer, response.headers.get('retry-after'));
    if (response.status === 401) unauthenticated(error);
    throw error;
  }
  return response;
}

/** `GET path?query`, answered with JSON. */
export async function get(path, query) {
  return (await call('GET', path, { query })).json();
}

/** `POST path` with a JSON body, answered with JSON. */
export async function post(path, body) {
  return (await call('POST', path, { body: body ?? {} })).json();
}

/** `GET path?query` of a file: its bytes and the name the gateway gives it. */
export async function download(path, query) {
  const response = await call('GET', path, { query, accept: '*/*' });
  const blob = await response.blob();
  const disposition = response.headers.get('content-disposition') ?? '';
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return { blob, filename: match ? match[1] : 'download' };
}
