// Prints TwiML documents made by Twilio's own VoiceResponse builder, as a JSON object of name -> XML.
// argv[2]: the base URL the documents' media and action URLs point to.
'use strict';
const { twiml } = require('twilio');

const base = process.argv[2] || 'http://127.0.0.1:9';
const docs = {};
const build = (name, fill) => {
  const r = new twiml.VoiceResponse();
  fill(r);
  docs[name] = r.toString();
};

build('say', (r) => {
  r.say({ voice: 'woman', language: 'en-US', loop: 2 }, 'Hello from Twilio\'s own builder.');
  r.say('Goodbye.');
});
build('play', (r) => {
  r.play({ loop: 1 }, base + '/tone.wav');
  r.play({ digits: 'ww1234#' });
});
build('gather', (r) => {
  const g = r.gather({ action: '/gathered', method: 'POST', numDigits: 4, timeout: 3, finishOnKey: '#', input: 'dtmf' });
  g.say('Please enter your PIN.');
  g.pause({ length: 1 });
  g.play(base + '/tone.wav');
  r.say('We did not receive any input.');
  r.redirect({ method: 'POST' }, '/voice');
});
build('record', (r) => {
  r.say('Leave a message after the beep.');
  r.record({ action: '/recorded', method: 'POST', timeout: 3, finishOnKey: '#', maxLength: 30, playBeep: true, trim: 'trim-silence' });
  r.hangup();
});
build('pause-hangup', (r) => {
  r.pause({ length: 1 });
  r.play(base + '/tone.wav');
  r.hangup();
});
build('reject', (r) => {
  r.reject({ reason: 'busy' });
});
build('redirect', (r) => {
  r.redirect({ method: 'GET' }, 'next?step=2');
});

process.stdout.write(JSON.stringify(docs) + '\n');
