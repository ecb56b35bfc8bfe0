'use strict';
// The HTTP side of the app: where cx lives, the key on every request, cx's
// error answers turned into Zapier errors, and the Idempotency-Key of an action.

const crypto = require('crypto');

// url(bundle, path): path on the connection's cx server (base_url without
// its trailing slashes).
const url = (bundle, path) =>
  String(bundle.authData.base_url || '').replace(/\/+$/, '') + path;

// beforeRequest: the connection's key in X-Api-Key.
const addApiKey = (request, z, bundle) => {
  if (bundle.authData && bundle.authData.api_key) {
    request.headers = request.headers || {};
    request.headers['X-Api-Key'] = bundle.authData.api_key;
  }
  return request;
};

// errorOf(response): cx's {"ok":false,"error":{code,message,path}}, or a
// stand-in when the body is not one (a proxy's page, an empty body).
const errorOf = (response) => {
  let body;
  try {
    body = JSON.parse(response.content);
  } catch (e) {
    body = null;
  }
  if (body && body.error && typeof body.error.code === 'string') {
    return body.error;
  }
  return { code: `HTTP_${response.status}`, message: `cx answered ${response.status}` };
};

// afterResponse: a 4xx/5xx becomes a Zapier error carrying cx's code; 429
// becomes ThrottledError so Zapier runs the step again after Retry-After.
const handleErrors = (response, z) => {
  if (response.status < 400) {
    return response;
  }
  const error = errorOf(response);
  const where = error.path ? ` (at ${error.path})` : '';
  const message = `${error.code}: ${error.message}${where}`;
  if (response.status === 429) {
    const delay = parseInt(response.headers.get('retry-after'), 10);
    throw new z.errors.ThrottledError(message, Number.isFinite(delay) && delay > 0 ? delay : 60);
  }
  throw new z.errors.Error(message, error.code, response.status);
};

// canonical(value): JSON with object keys sorted, so one input gives one
// text whatever the order Zapier built it in.
const canonical = (value) => {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
};

// idempotencyKey(bundle, action, body): the key the user mapped, else one
// derived from the Zap and the request: a retry of a step (Zapier's
// ThrottledError, Autoreplay, a replayed run) sends the same inputs again,
// so it gets the same key and cx executes it once.
const idempotencyKey = (bundle, action, body) => {
  if (bundle.inputData.idempotency_key) {
    return String(bundle.inputData.idempotency_key);
  }
  const zap = (bundle.meta && bundle.meta.zap && bundle.meta.zap.id) || 'none';
  const digest = crypto.createHash('sha256').update(canonical(body)).digest('hex');
  return `zapier:${zap}:${action}:${digest}`;
};

module.exports = { url, addApiKey, handleErrors, idempotencyKey };
