'use strict';
// REST-hook triggers: Zapier subscribes a target URL with POST /hooks, cx
// POSTs each sanitized event {type, timestamp, data} there, and Zapier
// unsubscribes with DELETE /hooks/<id>. GET /triggers/<event> gives the
// samples a user picks from while building a Zap.

const crypto = require('crypto');
const { url, canonical } = require('./api');

// withId(payload): the payload and an id Zapier can tell events apart by:
// a digest of its canonical text, so a redelivered event keeps its id.
const withId = (payload) => ({
  id: crypto.createHash('sha256').update(canonical(payload)).digest('hex').slice(0, 32),
  ...payload,
});

// The number of samples to ask for: Zapier's limit when it gives one.
const sampleLimit = (bundle) => {
  const limit = bundle.meta && bundle.meta.limit;
  return Number.isInteger(limit) && limit > 0 && limit <= 100 ? limit : 10;
};

const hookTrigger = ({ event, key, noun, label, description, data }) => ({
  key,
  noun,
  display: { label, description },
  operation: {
    type: 'hook',
    performSubscribe: async (z, bundle) => {
      const response = await z.request({
        url: url(bundle, '/hooks'),
        method: 'POST',
        body: { event, target_url: bundle.targetUrl },
      });
      return response.data;
    },
    performUnsubscribe: async (z, bundle) => {
      const id = encodeURIComponent(bundle.subscribeData.id);
      const response = await z.request({ url: url(bundle, `/hooks/${id}`), method: 'DELETE' });
      return response.data;
    },
    perform: (z, bundle) => [withId(bundle.cleanedRequest)],
    performList: async (z, bundle) => {
      const response = await z.request({
        url: url(bundle, `/triggers/${event}`),
        params: { limit: sampleLimit(bundle) },
      });
      return response.data.map(withId);
    },
    sample: withId({ type: event, timestamp: '2026-11-23T10:00:01Z', data }),
  },
});

module.exports = [
  hookTrigger({
    event: 'message',
    key: 'message',
    noun: 'Message',
    label: 'New Message',
    description: 'Triggers when a message arrives on WhatsApp, Instagram or Messenger.',
    data: {
      direction: 'inbound',
      conversation_id: '+55*******21',
      message_id: 'wamid.HBgNNTUxMTk5OTk5OTk5ORUCABIYFjNFQjA',
      from: { id: '+55*******21', name: 'Ana' },
      to: { id: '1234' },
      text: 'Hi, I would like a quote',
    },
  }),
  hookTrigger({
    event: 'lead',
    key: 'lead',
    noun: 'Lead',
    label: 'New Lead',
    description: 'Triggers when a lead form is submitted.',
    data: {
      leadgen_id: '444444444444',
      form_id: '555555555555',
      page_id: '666666666666',
      created_at: '2026-11-23T10:00:00Z',
    },
  }),
  hookTrigger({
    event: 'email.received',
    key: 'email_received',
    noun: 'E-mail',
    label: 'New E-mail Received',
    description: 'Triggers when an e-mail arrives at one of the tenant\'s addresses.',
    data: {
      message_id: '<20261123100000.1234@example.com>',
      provider_message_id: '0100018c1234abcd',
      from: 'a***@example.com',
      to: ['s***@example.org'],
      subject: 'Quote request',
    },
  }),
  hookTrigger({
    event: 'calendar.event.created',
    key: 'calendar_event_created',
    noun: 'Calendar Event',
    label: 'New Calendar Event',
    description: 'Triggers when an event is created in a synced calendar.',
    data: {
      event_id: 'evt-20261123-1',
      updated_at: '2026-11-23T09:59:00Z',
      status: 'confirmed',
      title: 'Demo call',
      start: { date_time: '2026-11-24T15:00:00Z' },
      end: { date_time: '2026-11-24T15:30:00Z' },
      all_day: false,
    },
  }),
];
