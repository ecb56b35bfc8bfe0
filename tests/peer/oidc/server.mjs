// The OpenID server the cx-oauth tests run against: npm's oidc-provider
// (a certified OpenID Provider), on 127.0.0.1 at an ephemeral port that is
// printed on stdout once it listens. The issuer is http://127.0.0.1:PORT.
//
// Environment: OIDC_REDIRECT_URI (required) is every client's redirect
// URI; OIDC_EVENTS is a file that receives one JSON line per token-endpoint
// grant ({"event":"grant.success","grant_type":"refresh_token"}), so a test
// can count what the server really did; OIDC_ACCESS_TOKEN_TTL (seconds,
// default 60) is the access tokens' lifetime.
//
// Clients: cx-basic (client_secret_basic), cx-post (client_secret_post),
// cx-public (none), and "cx:odd" (client_secret_basic, secret
// "odd secret: 100% +/": both must be form-encoded in HTTP Basic); all
// with PKCE required, refresh tokens rotated on every use, revocation and
// introspection on. The secret of the first two is "cx-test-secret".
//
// The login and consent pages are replaced by /interaction/UID, which logs
// "alice" in and grants what was asked without a page (or, with ?deny,
// answers access_denied as a user who clicks "no"). /not-oauth/token is a
// token endpoint that answers an HTML page, as a misconfigured URL would.
import { appendFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const redirectUri = process.env.OIDC_REDIRECT_URI;
const events = process.env.OIDC_EVENTS;
const accessTtl = Number(process.env.OIDC_ACCESS_TOKEN_TTL || 60);
const secret = 'cx-test-secret';

if (!redirectUri) {
  process.stderr.write('server.mjs: OIDC_REDIRECT_URI is not set\n');
  process.exit(64);
}

function record(line) {
  if (events) appendFileSync(events, `${JSON.stringify(line)}\n`);
}

function client(id, method, clientSecret = secret) {
  return {
    client_id: id,
    ...(method === 'none' ? {} : { client_secret: clientSecret }),
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
  };
}

const configuration = {
  clients: [
    client('cx-basic', 'client_secret_basic'),
    client('cx-post', 'client_secret_post'),
    client('cx-public', 'none'),
    client('cx:odd', 'client_secret_basic', 'odd secret: 100% +/'),
  ],
  cookies: { keys: ['cx-test-cookie-key'] },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  issueRefreshToken: async (ctx, c) => c.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: { AccessToken: accessTtl, AuthorizationCode: 60, Interaction: 600, Session: 3600,
    Grant: 3600, RefreshToken: 3600, IdToken: 3600 },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: 'Alice', email: `${id}@example.org` };
      },
    };
  },
};

// Logs alice in, then grants every scope and claim the client asked for.
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const url = new URL(req.url, 'http://127.0.0.1');
  let result;

  if (url.searchParams.has('deny')) {
    result = { error: 'access_denied', error_description: 'the user said no' };
  } else if (details.prompt.name === 'login') {
    result = { login: { accountId: 'alice' } };
  } else {
    const asked = details.prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId,
        clientId: details.params.client_id });

    if (asked.missingOIDCScope) grant.addOIDCScope(asked.missingOIDCScope.join(' '));
    if (asked.missingOIDCClaims) grant.addOIDCClaims(asked.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(asked.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const server = http.createServer();

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
  const callback = provider.callback();

  provider.on('grant.success', (ctx) => {
    record({ event: 'grant.success', grant_type: ctx.oidc.params.grant_type });
  });
  provider.on('grant.error', (ctx, err) => {
    record({ event: 'grant.error', grant_type: ctx.oidc.params?.grant_type, error: err.error });
  });
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, req, res).catch((err) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${err.message}\n`);
      });
    } else if (req.url === '/not-oauth/token') {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Sign in</title><p>Please sign in.</p>\n');
    } else {
      callback(req, res);
    }
  });
  process.stdout.write(`${port}\n`);
});
