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

test('performList returns an array of payloads of its event', async () => {
  for (const [key, event] of Object.entries(events)) {
    const list = await appTester(App.triggers[key].operation.performList, { authData, meta: { limit: 3 } });
    assert.ok(Array.isArray(list), key);
    assert.ok(list.length <= 3, key);
    for (const item of list) {
      assert.equal(item.type, event);
      assert.match(item.id, /^[0-9a-f]{32}$/);
    }
  }
});

test('perform passes the delivery on, with a stable id', async () => {
  const cleanedRequest = { type: 'lead', timestamp: '2026-11-23T10:00:01Z', data: { leadgen_id: '4', form_id: '5' } };
  const operation = App.triggers.lead.operation;
  const [item] = await appTester(operation.perform, { authData, cleanedRequest });
  assert.deepEqual({ ...item, id: undefined }, { ...cleanedRequest, id: undefined });
  const [again] = await appTester(operation.perform, {
    authData, cleanedRequest: { data: cleanedRequest.data, timestamp: cleanedRequest.timestamp, type: 'lead' },
  });
  assert.equal(again.id, item.id);
});

test('a trigger outside the key\'s scopes is FORBIDDEN', async () => {
  const error = await failure(appTester(App.triggers.email_received.operation.performSubscribe, {
    authData: narrowAuthData, targetUrl: 'https://hooks.zapier.com/hooks/standard/1/2/4/',
  }));
  assert.equal(error.code, 'FORBIDDEN');
  assert.equal(error.status, 403);
});
