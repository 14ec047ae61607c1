// A real OpenID Connect provider for npuhub's tests: oidc-provider on loopback, with its clients
// and users read from a JSON file. Usage: node server.js DATA.json PORT  (README.md describes DATA).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const [dataFile, portArg] = process.argv.slice(2);
if (!dataFile || !/^\d+$/.test(portArg ?? '')) {
  console.error('usage: node server.js DATA.json PORT');
  process.exit(2);
}
const data = JSON.parse(readFileSync(dataFile, 'utf8'));
const port = Number(portArg);
const issuer = data.issuer ?? `http://127.0.0.1:${port}`;
// Users are read again at every lookup: a test edits the file to change someone's groups.
const findUser = (name) => JSON.parse(readFileSync(dataFile, 'utf8')).users.find((u) => u.username === name);

const provider = new Provider(issuer, {
  clients: data.clients.map((client) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...client,
  })),
  // scope -> the claims it releases; a scope named here (e.g. "groups") is a supported scope.
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    ...(data.scopes ?? {}),
  },
  async findAccount(ctx, sub) {
    const user = findUser(sub);
    return user && { accountId: sub, claims: async () => ({ sub, preferred_username: sub, ...user.claims }) };
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`);
}

function loginForm(res, uid, clientId, error) {
  page(res, error ? 401 : 200, 'Test university sign-in', `
<p>Signing in to <b>${esc(clientId)}</b>.</p>${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
  <label>User name <input id="username" name="username" autofocus></label>
  <label>Password <input id="password" name="password" type="password"></label>
  <button id="login" type="submit">Sign in</button>
</form>`);
}

function consentForm(res, uid, clientId, scopes) {
  page(res, 200, 'Share your details?', `
<p><b>${esc(clientId)}</b> asks for: <span id="scopes">${esc(scopes.join(' '))}</span></p>
<form method="post" action="/interaction/${uid}/confirm"><button id="allow" type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button id="deny" type="submit">Deny</button></form>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The interaction pages: a password form, then a consent form (plain HTML, no JavaScript).
async function interaction(req, res) {
  const [, , uid, action] = new URL(req.url, issuer).pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') return loginForm(res, uid, params.client_id);
    return consentForm(res, uid, params.client_id, String(params.scope).split(' '));
  }
  const form = await readForm(req);
  if (action === 'login') {
    const user = findUser(form.get('username'));
    if (!user || user.password !== form.get('password')) {
      return loginForm(res, uid, params.client_id, 'Wrong user name or password.');
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.username } },
      { mergeWithLastSubmission: false });
  }
  if (action === 'confirm') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true });
  }
  return provider.interactionFinished(req, res,
    { error: 'access_denied', error_description: 'The person declined to share their details' },
    { mergeWithLastSubmission: false });
}

const oidc = provider.callback();
const server = http.createServer((req, res) => {
  if (!req.url.startsWith('/interaction/')) return oidc(req, res);
  return interaction(req, res).catch((err) => {
    console.error(err);
    page(res, err.statusCode ?? 500, 'Sign-in error', `<p>${esc(err.message)}</p>`);
  });
});
server.listen(port, '127.0.0.1', () => console.log(`oidc-provider ${issuer} listening on 127.0.0.1:${port}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
