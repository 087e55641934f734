// Checks request signatures with Twilio's published validator.
// stdin: {"authToken": "...", "requests": [{"url": "...", "params": {...}, "signature": "..."}]}
// stdout: a JSON array with twilio.validateRequest's verdict for each request, in order.
'use strict';
const twilio = require('twilio');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { authToken, requests } = JSON.parse(input);
  const verdicts = requests.map((r) => twilio.validateRequest(authToken, r.signature, r.url, r.params || {}));
  process.stdout.write(JSON.stringify(verdicts) + '\n');
});
