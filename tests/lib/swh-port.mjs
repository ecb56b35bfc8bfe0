// Preloaded into tests/peer/swh/receiver.mjs (node --import) by
// tests/68-triggers.bats: the receiver listens on $SWH_PORT instead of an
// ephemeral port, so a subscription can name its URL before the receiver
// (which needs the subscription's secret) starts, and a receiver that was
// stopped comes back at the same address.
import http from 'node:http';

const listen = http.Server.prototype.listen;

http.Server.prototype.listen = function listenOnSwhPort(port, ...rest) {
  const fixed = Number(process.env.SWH_PORT);
  return listen.call(this, port === 0 && fixed > 0 ? fixed : port, ...rest);
};
