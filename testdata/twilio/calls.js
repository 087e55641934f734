// Drives pivotua's Calls API with Twilio's own helper library, pointed at pivotua.
// argv: BASE_URL ACCOUNT_SID AUTH_TOKEN. stdin: one JSON command a line,
//   {"op": "create", "params": {...}} | {"op": "update", "sid": "CA...", "params": {...}}
//   {"op": "fetch", "sid": "CA..."} | {"op": "list", "params": {...}}
// stdout: one JSON line per command: {"sentAt": ms since the epoch just before the request,
//   "call": {...} or "calls": [...]} or {"sentAt", "error": {"status", "code", "message"}}.
'use strict';
const readline = require('readline');
const twilio = require('twilio');

const [base, accountSid, authToken] = process.argv.slice(2);
const client = twilio(accountSid, authToken);
client.api.baseUrl = base; // the API's domain, as a region or edge would change it

function pick(c) {
  return {
    sid: c.sid, accountSid: c.accountSid, status: c.status, direction: c.direction, duration: c.duration,
    from: c.from, to: c.to, startTime: c.startTime, endTime: c.endTime, uri: c.uri, apiVersion: c.apiVersion,
  };
}

async function run(cmd) {
  switch (cmd.op) {
    case 'create': return { call: pick(await client.calls.create(cmd.params)) };
    case 'update': return { call: pick(await client.calls(cmd.sid).update(cmd.params)) };
    case 'fetch': return { call: pick(await client.calls(cmd.sid).fetch()) };
    case 'list': return { calls: (await client.calls.list(cmd.params || {})).map(pick) };
  }
  throw new Error('unknown op ' + cmd.op);
}

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  queue = queue.then(async () => {
    const sentAt = Date.now();
    let out;
    try {
      out = { sentAt, ...(await run(JSON.parse(line))) };
    } catch (e) {
      out = { sentAt, error: { status: e.status, code: e.code, message: e.message } };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
