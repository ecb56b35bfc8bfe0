'use strict';
// The cx server the tests run against (a real `cx-ingest serve`, started by
// tests/69-zapier-app.bats): its address and keys from the environment. Its
// state file has samples of each trigger's event (two of lead), recorded by
// `cx-publish triggers` from cx's test fixtures.

const zapier = require('zapier-platform-core');
const App = require('../index');

const baseUrl = process.env.CX_ZAPIER_BASE_URL;
const apiKey = process.env.CX_ZAPIER_API_KEY;
const narrowKey = process.env.CX_ZAPIER_NARROW_KEY;
if (!baseUrl || !apiKey || !narrowKey) {
  throw new Error('CX_ZAPIER_BASE_URL, CX_ZAPIER_API_KEY and CX_ZAPIER_NARROW_KEY must name ' +
    'a running cx-ingest serve, a key with every scope and one with action:create_lead only');
}

const authData = { base_url: baseUrl, api_key: apiKey };
const narrowAuthData = { base_url: baseUrl, api_key: narrowKey };

// failure(promise): the parsed message of the Zapier error it rejects with.
const failure = async (promise) => {
  try {
    await promise;
  } catch (error) {
    return { name: error.name, ...JSON.parse(error.message) };
  }
  throw new Error('expected a rejection');
};

module.exports = { App, appTester: zapier.createAppTester(App), authData, narrowAuthData, failure };
