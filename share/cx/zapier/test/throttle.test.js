'use strict';
// Run against a server whose CX_ACTIONS_RATE allows one call an hour
// (tests/69-zapier-app.bats starts it so).

const test = require('node:test');
const assert = require('node:assert/strict');
const { App, appTester, authData, failure } = require('./server');

const createLead = (n) => appTester(App.creates.create_lead.operation.perform, {
  authData,
  inputData: { name: `Bea ${n}`, email: `bea${n}@example.com` },
  meta: { zap: { id: 'zap-throttle' } },
});

test('a 429 becomes a ThrottledError carrying cx\'s Retry-After', async () => {
  assert.equal((await createLead(1)).status, 'accepted');
  const error = await failure(createLead(2));
  assert.equal(error.name, 'ThrottledError');
  assert.match(error.message, /^RATE_LIMITED: /);
  assert.ok(error.delay > 3000 && error.delay <= 3600, `delay ${error.delay}`);
});
