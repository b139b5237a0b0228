// A real OpenID provider for the end-to-end tests: the certified `oidc-provider`
// package, configured as a city's identity provider would be. It issues JWT
// access tokens (RS256) for the resource zhengqi through the client-credentials
// grant, one client per person the test plays, each token carrying that
// client's claims in the shape Keycloak gives them (realm_access.roles, …).
//
// node provider.mjs CLIENTS.json   (run from the folder whose node_modules
// holds oidc-provider); prints `listening <issuer>` once it answers.
// CLIENTS.json: [{ "client_id", "client_secret", "claims": { … } }]
// A POST to /rotate adds a new signing key and signs with it from then on.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const clients = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const claimsOf = new Map(clients.map((client) => [client.client_id, client.claims]));

async function signingKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, use: 'sig', alg: 'RS256' };
}

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

function provider(keys) {
  return new Provider(issuer, {
    clients: clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:zhengqi',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'zhengqi',
          audience: 'zhengqi',
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (ctx, token) => claimsOf.get(token.clientId),
  });
}

// The newest key first: oidc-provider signs with the first key of an algorithm.
let keys = [await signingKey('city-1')];
let current = provider(keys);
server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url === '/rotate') {
    signingKey(`city-${keys.length + 1}`).then((key) => {
      keys = [key, ...keys];
      current = provider(keys);
      res.end(key.kid);
    });
    return;
  }
  current.callback()(req, res);
});
console.log(`listening ${issuer}`);
