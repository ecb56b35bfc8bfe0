'use strict';
// The action catalogue as Zapier creates: input fields from each action's
// JSON Schema (share/cx/actions, linked here as schemas/), a POST to
// /actions/<action> with an Idempotency-Key, cx's 202 answer as the output.

const { url, idempotencyKey } = require('./api');

const schemas = {
  create_lead: require('../schemas/create_lead.json'),
  update_lead: require('../schemas/update_lead.json'),
  create_task: require('../schemas/create_task.json'),
  send_message: require('../schemas/send_message.json'),
  enqueue_post: require('../schemas/enqueue_post.json'),
};

const labels = {
  create_lead: ['Lead', 'Create Lead', 'Creates a lead for your CRM handler.'],
  update_lead: ['Lead', 'Update Lead', 'Changes the fields given of an existing lead.'],
  create_task: ['Task', 'Create Task', 'Creates a task for a person of your team.'],
  send_message: ['Message', 'Send Message', 'Sends a message under the channel\'s approval policy.'],
  enqueue_post: ['Post', 'Propose Post', 'Proposes a post; a person approves it before it is published.'],
};

// helpOf(property): the schema's constraints in words.
const helpOf = (property) => {
  const parts = [];
  if (property.format) parts.push(`Format: ${property.format}.`);
  if (property.maxLength) parts.push(`At most ${property.maxLength} characters.`);
  if (property.pattern) parts.push(`Must match ${property.pattern}.`);
  return parts.join(' ');
};

// fieldOf(name, property, required): one Zapier input field.
const fieldOf = (name, property, required) => {
  const field = {
    key: name,
    label: name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()),
    required,
    type: property.format === 'date-time' ? 'datetime'
      : property.maxLength > 255 ? 'text' : 'string',
  };
  if (property.enum) field.choices = property.enum;
  if (name === 'idempotency_key') {
    field.helpText = 'Optional: map a value unique to the triggering event (e.g. its message id). ' +
      'Left empty, the key is derived from the Zap and the other fields, so a retried step runs once.';
  } else if (helpOf(property)) {
    field.helpText = helpOf(property);
  }
  return field;
};

// bodyOf(schema, inputData): the schema's fields the user filled in; the
// idempotency key travels in its header.
const bodyOf = (schema, inputData) => {
  const body = {};
  for (const name of Object.keys(schema.properties)) {
    const value = inputData[name];
    if (name !== 'idempotency_key' && value !== undefined && value !== null && value !== '') {
      body[name] = value;
    }
  }
  return body;
};

const createOf = (action) => {
  const schema = schemas[action];
  const [noun, label, description] = labels[action];
  const required = new Set(schema.required);
  return {
    key: action,
    noun,
    display: { label, description },
    operation: {
      inputFields: Object.entries(schema.properties).map(([name, property]) =>
        fieldOf(name, property, required.has(name))),
      perform: async (z, bundle) => {
        const body = bodyOf(schema, bundle.inputData);
        const response = await z.request({
          url: url(bundle, `/actions/${action}`),
          method: 'POST',
          headers: { 'Idempotency-Key': idempotencyKey(bundle, action, body) },
          body,
        });
        return response.data;
      },
      sample: {
        ok: true,
        action_id: 'act_0123456789abcdef01234567',
        correlation_id: 'c-0123456789abcdef',
        status: 'accepted',
      },
      outputFields: [
        { key: 'action_id', label: 'Action ID' },
        { key: 'correlation_id', label: 'Correlation ID' },
        { key: 'status', label: 'Status' },
      ],
    },
  };
};

module.exports = Object.keys(schemas).map(createOf);
