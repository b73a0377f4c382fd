// Judges Linear webhook requests with Linear's official SDK, @linear/sdk
// (LinearWebhookClient from @linear/sdk/webhooks). Run by official_lib.rs
// through _check.main (_check.py describes the input and output).
//
// A verdict is new LinearWebhookClient(secret).parseData(body, signature)
// with the clock pinned at `now`: parseData calls verify(), which compares
// the hex HMAC-SHA256 of the raw body with the linear-signature header,
// then reads `webhookTimestamp` (milliseconds) from the body and refuses it
// more than 60 s from the clock either way, and returns the parsed body.
// A body whose signature matched but that is not JSON throws a SyntaxError
// from verify(): authenticated, not an event. Every other throw is a
// refusal.
//
// The library has no signer (and its repository pins no vector): what it
// accepts is shown with inlet's samples and forgeries, judged here.
'use strict';

const { LinearWebhookClient } = require('@linear/sdk/webhooks');
const check = require('./_check.js');

async function attempt(item, secret) {
  const body = check.bodyOf(item);
  const signature = item.headers['linear-signature'];
  if (!signature) throw new Error('no linear-signature header');
  try {
    new LinearWebhookClient(secret).parseData(body, signature);
  } catch (error) {
    if (error instanceof SyntaxError) throw new check.NotAnEvent(check.errorText(error));
    throw error;
  }
  return true;
}

async function judge(item) {
  check.pinClock(item.now);
  return check.judgeWithSecrets(item, attempt);
}

check.main('@linear/sdk', judge);
