'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { App, appTester, authData, failure } = require('./server');

test('the auth test answers who the key is', async () => {
  const me = await appTester(App.authentication.test, { authData });
  assert.match(me.integration_id, /^int_[0-9a-f]{16}$/);
  assert.equal(me.kind, 'zapier');
  assert.equal(typeof me.tenant, 'string');
  assert.ok(me.scopes.includes('action:create_lead'));
  const label = App.authentication.connectionLabel(null, { inputData: me });
  assert.equal(label, `${me.tenant} (${me.integration_id})`);
});

test('a wrong key fails the auth test with UNAUTHORIZED', async () => {
  const wrong = authData.api_key.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  const error = await failure(appTester(App.authentication.test, {
    authData: { ...authData, api_key: wrong },
  }));
  assert.equal(error.name, 'AppError');
  assert.equal(error.code, 'UNAUTHORIZED');
  assert.equal(error.status, 401);
});

test('no key at all fails the auth test with UNAUTHORIZED', async () => {
  const error = await failure(appTester(App.authentication.test, {
    authData: { base_url: authData.base_url },
  }));
  assert.equal(error.code, 'UNAUTHORIZED');
});

test('a base URL with a trailing slash works', async () => {
  const me = await appTester(App.authentication.test, {
    authData: { ...authData, base_url: `${authData.base_url}/` },
  });
  assert.match(me.integration_id, /^int_/);
});
