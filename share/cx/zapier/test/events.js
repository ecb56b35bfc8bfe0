'use strict';
// The app's trigger keys and the cx event type each subscribes to.
module.exports = {
  message: 'message',
  lead: 'lead',
  email_received: 'email.received',
  calendar_event_created: 'calendar.event.created',
};
