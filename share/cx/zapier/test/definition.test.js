'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const zapier = require('zapier-platform-core');
const App = require('../index');
const events = require('./events');

// validate(): the errors zapier-platform-schema finds in the app, as the
// handler Zapier runs answers the `validate` command.
const validate = () => new Promise((resolve, reject) => {
  zapier.createAppHandler(App)({ command: 'validate' }, {}, (err, resp) =>
    (err ? reject(err) : resolve(resp.results)));
});

test('the app definition validates', async () => {
  assert.deepEqual(await validate(), []);
  assert.equal(App.platformVersion, require('zapier-platform-core/package.json').version);
  assert.equal(App.authentication.type, 'custom');
  assert.deepEqual(App.authentication.fields.map((f) => f.key), ['base_url', 'api_key']);
});

test('the creates are the five actions, fields from their schemas', () => {
  assert.deepEqual(Object.keys(App.creates).sort(),
    ['create_lead', 'create_task', 'enqueue_post', 'send_message', 'update_lead']);
  const fields = App.creates.create_lead.operation.inputFields;
  assert.deepEqual(fields.map((f) => f.key), ['name', 'email', 'phone', 'source', 'notes', 'idempotency_key']);
  assert.deepEqual(fields.filter((f) => f.required).map((f) => f.key), ['name', 'email']);
  const channel = App.creates.send_message.operation.inputFields.find((f) => f.key === 'channel');
  assert.deepEqual(channel.choices, ['whatsapp', 'instagram', 'messenger', 'email']);
  const due = App.creates.create_task.operation.inputFields.find((f) => f.key === 'due_at');
  assert.equal(due.type, 'datetime');
});

test('a trigger per event, each a REST hook', () => {
  assert.deepEqual(Object.keys(App.triggers).sort(), Object.keys(events).sort());
  for (const [key, event] of Object.entries(events)) {
    const operation = App.triggers[key].operation;
    assert.equal(operation.type, 'hook');
    assert.equal(operation.sample.type, event);
    assert.match(operation.sample.id, /^evt_[0-9a-f]{32}$/);
  }
});
