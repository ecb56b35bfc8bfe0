'use strict';
// cx for Zapier: API-key authentication, REST-hook triggers for cx's events
// and the action catalogue as creates (README.md, cx-automation(7)).

const { version: platformVersion } = require('zapier-platform-core');
const { version } = require('./package.json');
const authentication = require('./lib/authentication');
const triggers = require('./lib/triggers');
const creates = require('./lib/creates');
const { addApiKey, handleErrors } = require('./lib/api');

const byKey = (list) => Object.fromEntries(list.map((item) => [item.key, item]));

module.exports = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addApiKey],
  afterResponse: [handleErrors],
  triggers: byKey(triggers),
  searches: {},
  creates: byKey(creates),
  resources: {},
};
