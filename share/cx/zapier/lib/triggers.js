'use strict';
// REST-hook triggers: Zapier subscribes a target URL with POST /hooks, cx
// POSTs each sanitized event there (cx-sanitize(5): type, id, timestamp,
// tenant, channel, correlation_id, data), and Zapier unsubscribes with
// DELETE /hooks/<id>. GET /triggers/<event> gives the samples a user picks
// from while building a Zap. The payload's id ("evt_" + 32 hex digits, the
// same for the same event) is the id Zapier tells items apart by.

const { url } = require('./api');

// The number of samples to ask for: Zapier's limit when it gives one.
const sampleLimit = (bundle) => {
  const limit = bundle.meta && bundle.meta.limit;
  return Number.isInteger(limit) && limit > 0 && limit <= 100 ? limit : 10;
};

const hookTrigger = ({ event, key, noun, label, description, id, channel, data }) => ({
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
      const sub = encodeURIComponent(bundle.subscribeData.id);
      const response = await z.request({ url: url(bundle, `/hooks/${sub}`), method: 'DELETE' });
      return response.data;
    },
    perform: (z, bundle) => [bundle.cleanedRequest],
    performList: async (z, bundle) => {
      const response = await z.request({
        url: url(bundle, `/triggers/${event}`),
        params: { limit: sampleLimit(bundle) },
      });
      return response.data;
    },
    sample: {
      type: event,
      id,
      timestamp: '2026-11-23T10:00:00Z',
      tenant: 'default',
      channel,
      correlation_id: 'c-0123456789abcdef',
      data,
    },
  },
});

// The samples are what cx-sanitize(5) makes of cx's test fixtures.
module.exports = [
  hookTrigger({
    event: 'message',
    key: 'message',
    noun: 'Message',
    label: 'New Message',
    description: 'Triggers when a message arrives on WhatsApp, Instagram or Messenger.',
    id: 'evt_72570464eb84af1ba38ab5419a11d24e',
    channel: 'whatsapp',
    data: {
      direction: 'inbound',
      conversation_id: '16*******34',
      message_id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      from: { id: '16*******34', name: 'Sheena Nelson' },
      to: { id: '10***********22' },
      text: 'Does it come in another color?',
      attachments: [],
    },
  }),
  hookTrigger({
    event: 'lead',
    key: 'lead',
    noun: 'Lead',
    label: 'New Lead',
    description: 'Triggers when a lead form is submitted.',
    id: 'evt_01ede1159f1950f35c4891b1953e7292',
    channel: 'instagram',
    data: {
      leadgen_id: '123123123123',
      form_id: '12312312312',
      page_id: '123123123',
      ad_id: '12312312312',
      adgroup_id: '12312312312',
      created_at: '2015-08-21T01:26:24Z',
    },
  }),
  hookTrigger({
    event: 'email.received',
    key: 'email_received',
    noun: 'E-mail',
    label: 'New E-mail Received',
    description: 'Triggers when an e-mail arrives at one of the tenant\'s addresses.',
    id: 'evt_9fc5fd4f341025cc71a18d8b9c770665',
    channel: 'email',
    data: {
      message_id: 'CAEPk3R+4Zr@mail.example.org',
      from: 'f***@example.org',
      from_name: 'Displayed From',
      to: ['t***@inbound.example.com'],
      subject: 'Test subject',
      text: 'Test body plain',
      attachments: [],
    },
  }),
  hookTrigger({
    event: 'calendar.event.created',
    key: 'calendar_event_created',
    noun: 'Calendar Event',
    label: 'New Calendar Event',
    description: 'Triggers when an event is created in a synced calendar.',
    id: 'evt_225f04365cffc3b7550acdfc19ffef81',
    channel: 'calendar',
    data: {
      event_id: 'evt-20261123-1',
      etag: 'etag-1',
      updated_at: '2026-11-23T09:59:00Z',
      status: 'confirmed',
      title: 'Demo call',
      start: { date_time: '2026-11-24T15:00:00Z' },
      end: { date_time: '2026-11-24T15:30:00Z' },
      all_day: false,
      attendees: [{ email: 'a***@example.com', response_status: 'needsAction' }],
    },
  }),
];
