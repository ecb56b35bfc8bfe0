'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { App, appTester, authData, narrowAuthData, failure } = require('./server');
const events = require('./events');

test('subscribe then unsubscribe: the round trip', async () => {
  const operation = App.triggers.message.operation;
  const targetUrl = 'https://hooks.zapier.com/hooks/standard/1/2/3/';
  const subscription = await appTester(operation.performSubscribe, { authData, targetUrl });
  assert.match(subscription.id, /^sub_[0-9a-f]{16}$/);
  await appTester(operation.performUnsubscribe, { authData, subscribeData: subscription });
  const error = await failure(appTester(operation.performUnsubscribe, { authData, subscribeData: subscription }));
  assert.equal(error.status, 404);
});

test('performList returns the server\'s samples of its event, as the sample is shaped', async () => {
  for (const [key, event] of Object.entries(events)) {
    const operation = App.triggers[key].operation;
    const list = await appTester(operation.performList, { authData, meta: { limit: 1 } });
    assert.ok(Array.isArray(list), key);
    assert.equal(list.length, 1, key);
    assert.equal(list[0].type, event);
    assert.match(list[0].id, /^evt_[0-9a-f]{32}$/);
    assert.deepEqual(Object.keys(list[0]).sort(), Object.keys(operation.sample).sort());
  }
  const leads = await appTester(App.triggers.lead.operation.performList, { authData, meta: { limit: 2 } });
  assert.equal(leads.length, 2);
  assert.notEqual(leads[0].id, leads[1].id);
});

test('perform passes the delivery on as one item', async () => {
  const [delivery] = await appTester(App.triggers.lead.operation.performList, { authData, meta: { limit: 1 } });
  const items = await appTester(App.triggers.lead.operation.perform, { authData, cleanedRequest: delivery });
  assert.deepEqual(items, [delivery]);
});

test('a trigger outside the key\'s scopes is FORBIDDEN', async () => {
  const error = await failure(appTester(App.triggers.email_received.operation.performSubscribe, {
    authData: narrowAuthData, targetUrl: 'https://hooks.zapier.com/hooks/standard/1/2/4/',
  }));
  assert.equal(error.code, 'FORBIDDEN');
  assert.equal(error.status, 403);
});
