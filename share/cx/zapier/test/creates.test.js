'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { App, appTester, authData, failure } = require('./server');

const lead = (n) => ({ name: `Ana ${n}`, email: `ana${n}@example.com`, source: 'zapier-test' });
const run = (action, inputData, zap = 'zap-1') =>
  appTester(App.creates[action].operation.perform, { authData, inputData, meta: { zap: { id: zap } } });

test('create_lead is accepted: the 202 body', async () => {
  const result = await run('create_lead', lead(1));
  assert.equal(result.ok, true);
  assert.equal(result.status, 'accepted');
  assert.match(result.action_id, /^act_[0-9a-f]{24}$/);
  assert.match(result.correlation_id, /^c-/);
});

test('the same step run twice is one action (the answer replayed)', async () => {
  const first = await run('create_lead', lead(2));
  const again = await run('create_lead', { source: 'zapier-test', email: 'ana2@example.com', name: 'Ana 2' });
  assert.equal(again.action_id, first.action_id);
  assert.equal(again.correlation_id, first.correlation_id);
});

test('another Zap or other inputs are another action', async () => {
  const first = await run('create_lead', lead(3));
  const otherZap = await run('create_lead', lead(3), 'zap-2');
  const otherInput = await run('create_lead', lead(4));
  assert.notEqual(otherZap.action_id, first.action_id);
  assert.notEqual(otherInput.action_id, first.action_id);
});

test('a mapped idempotency key decides, whatever the Zap', async () => {
  const input = { ...lead(5), idempotency_key: 'wamid.zapier-test-5' };
  const first = await run('create_lead', input, 'zap-1');
  const again = await run('create_lead', input, 'zap-2');
  assert.equal(again.action_id, first.action_id);
});

test('empty optional fields are left out of the request', async () => {
  const result = await run('create_lead', { ...lead(6), phone: '', notes: null });
  assert.match(result.action_id, /^act_/);
});

test('an invalid input is VALIDATION_FAILED with its path', async () => {
  const error = await failure(run('create_lead', { name: 'Ana', email: 'not an address' }));
  assert.equal(error.name, 'AppError');
  assert.equal(error.code, 'VALIDATION_FAILED');
  assert.equal(error.status, 422);
  assert.match(error.message, /^VALIDATION_FAILED: .* \(at \/email\)$/);
});

test('the other actions are accepted', async () => {
  const inputs = {
    update_lead: { lead_id: 'lead-1', status: 'contacted' },
    create_task: { title: 'Call Ana', due_at: '2026-11-24T15:00:00Z' },
    send_message: { channel: 'email', to: 'ana@example.com', text: 'Hello', subject: 'Hi', workspace: 'default' },
    enqueue_post: { channel: 'whatsapp', kind: 'post', text: 'News', workspace: 'default' },
  };
  for (const [action, input] of Object.entries(inputs)) {
    const result = await run(action, input);
    assert.equal(result.status, 'accepted', action);
  }
});
