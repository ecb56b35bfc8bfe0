// A webhook receiver for the trigger tests and bench: every request is
// verified with npm's standardwebhooks (the Standard Webhooks reference
// library), recorded, and answered as a rules file says. It listens on
// 127.0.0.1 at an ephemeral port printed on stdout once it listens.
//
// Environment:
//   SWH_SECRETS  the whsec_ secrets, space-separated (required); during a
//                rotation a request verified by any of them is good.
//   SWH_RECORD   a file that receives one JSON line per request, written
//                before the answer: {"method","path","webhook_id",
//                "webhook_timestamp","webhook_signature","body","verified",
//                "received_ms" (the real clock, epoch milliseconds),
//                "verified_by" (1-based positions of the secrets that verify
//                it),"error" (why not, else null),"status"}.
//   SWH_PORT     the port to listen on (default 0: an ephemeral one), so a
//                receiver can come back where its subscriptions point.
//   SWH_RULES    an optional JSON file, re-read on every request:
//                {"default":200, "delay_ms":0, "sequence":[503,503,200],
//                 "by_webhook_id":{"msg_...":410}, "retry_after":"2",
//                 "now":1614265330}
//                by_webhook_id wins, then the sequence (the Nth request
//                since start gets its Nth status), then default. A request
//                that does not verify is answered 401 whatever the rules.
//                retry_after is sent with 429 and 503. now (epoch seconds)
//                is the clock timestamps are judged by (5 minutes either
//                way), for tests that move CX_NOW.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';

import { Webhook } from 'standardwebhooks';

const MAX_BODY = 1 << 20;
const secrets = (process.env.SWH_SECRETS || '').split(' ').filter((s) => s);
const recordFile = process.env.SWH_RECORD;
const rulesFile = process.env.SWH_RULES;

if (secrets.length === 0) {
  process.stderr.write('receiver.mjs: SWH_SECRETS is not set\n');
  process.exit(64);
}

// The library's verification with its timestamp judged at `now` (epoch
// seconds) when given, else at the real time.
class ReceiverWebhook extends Webhook {
  verifyAt(body, headers, now) {
    const realNow = Date.now;
    if (now !== undefined) Date.now = () => now * 1000;
    try {
      return this.verify(body, headers, { jsonParse: false });
    } finally {
      Date.now = realNow;
    }
  }
}

const hooks = secrets.map((s) => new ReceiverWebhook(s));
let requests = 0;

function rules() {
  if (!rulesFile || !existsSync(rulesFile)) return {};
  return JSON.parse(readFileSync(rulesFile, 'utf8'));
}

function statusFor(r, webhookId, n) {
  if (r.by_webhook_id && webhookId in r.by_webhook_id) return r.by_webhook_id[webhookId];
  if (Array.isArray(r.sequence) && n < r.sequence.length) return r.sequence[n];
  return r.default ?? 200;
}

function verify(body, headers, now) {
  const by = [];
  let error = null;
  hooks.forEach((hook, i) => {
    try {
      hook.verifyAt(body, headers, now);
      by.push(i + 1);
    } catch (err) {
      error = err.message;
    }
  });
  return { verified: by.length > 0, verified_by: by, error: by.length > 0 ? null : error };
}

function answer(req, res, body) {
  const n = requests++;
  const r = rules();
  const check = verify(body, req.headers, r.now);
  const status = check.verified ? statusFor(r, req.headers['webhook-id'], n) : 401;
  const line = {
    method: req.method,
    path: req.url,
    webhook_id: req.headers['webhook-id'] ?? null,
    webhook_timestamp: req.headers['webhook-timestamp'] ?? null,
    webhook_signature: req.headers['webhook-signature'] ?? null,
    body: body.toString('utf8'),
    received_ms: Date.now(),
    ...check,
    status,
  };
  if (recordFile) appendFileSync(recordFile, `${JSON.stringify(line)}\n`);
  const headers = { 'content-type': 'application/json' };
  if (r.retry_after !== undefined && (status === 429 || status === 503)) {
    headers['retry-after'] = String(r.retry_after);
  }
  setTimeout(() => {
    res.writeHead(status, headers);
    res.end(`${JSON.stringify({ ok: status >= 200 && status < 300 })}\n`);
  }, r.delay_ms || 0);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY) {
      res.writeHead(413);
      res.end();
      return;
    }
    try {
      answer(req, res, Buffer.concat(chunks));
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${err.message}\n`);
    }
  });
});

server.keepAliveTimeout = 60000;
server.listen(Number(process.env.SWH_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
