// s3rver (npm), an S3-compatible server keeping buckets on the local file
// system, for the S3 scenario's second peer (tests/66-s3rver.bats) and the
// bench. It listens on 127.0.0.1 at an ephemeral port printed on stdout
// once it listens, the buckets already created.
//
//   node server.mjs DIR BUCKET...
//
// DIR holds the buckets and objects (created if missing). The one account
// is s3rver's own: access key S3RVER, secret S3RVER. It ends on SIGTERM or
// SIGINT. s3rver 3.7.1 checks less than S3 (tests/66-s3rver.bats says
// what): its log goes to stderr only when S3RVER_LOG is set.
import { mkdirSync } from 'node:fs';

import S3rver from 's3rver';

const [directory, ...buckets] = process.argv.slice(2);
if (!directory || buckets.length === 0) {
  process.stderr.write('usage: node server.mjs DIR BUCKET...\n');
  process.exit(64);
}
mkdirSync(directory, { recursive: true });

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: !process.env.S3RVER_LOG,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`${port}\n`);

const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
