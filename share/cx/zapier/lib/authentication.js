'use strict';
// API-key authentication: the user pastes cx's address and the key that
// `cx integrations create` printed; GET /integrations/me checks both.

const { url } = require('./api');

const test = async (z, bundle) => {
  const response = await z.request({ url: url(bundle, '/integrations/me') });
  return response.data;
};

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'base_url',
      label: 'cx address',
      type: 'string',
      required: true,
      helpText: 'Where `cx-ingest serve` answers, e.g. `https://cx.example.com` (no path).',
    },
    {
      key: 'api_key',
      label: 'API key',
      type: 'password',
      required: true,
      helpText: 'The `cxk_...` key printed once by `cx integrations create --kind zapier`.',
    },
  ],
  test,
  // bundle.inputData is what test returned.
  connectionLabel: (z, bundle) =>
    `${bundle.inputData.tenant} (${bundle.inputData.integration_id})`,
};
