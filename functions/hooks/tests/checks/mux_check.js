// Judges and signs Mux webhook requests with Mux's official Node SDK,
// @mux/mux-node (client.webhooks). Run by official_lib.rs through
// _check.main (_check.py describes the input and output).
//
// A verdict is client.webhooks.verifySignature(body, headers, secret), with
// the clock pinned at `now`, then client.webhooks.unwrap(...) (verify, then
// JSON.parse): a throw from verifySignature is a refusal, a throw from
// unwrap after it passed is "authenticated, not an event". The library
// reads `mux-signature: t=<unix>,v1=<hex>[,v1=...]`, signs `<t>.<body>` with
// HMAC-SHA256 and refuses a `t` more than 300 s old (not one in the future).
//
// Signing is the library's own client.webhooks.computeSignature(`${t}.${body}`,
// secret) (what verifySignature compares against), checked by
// verifySignature at that timestamp before it is returned.
//
//   sign recipe: {"name", "secret", "timestamp", "body_b64"}
//   answer:      {"header", "library_accepts"}
'use strict';

const Mux = require('@mux/mux-node');
const check = require('./_check.js');

const client = new Mux({ tokenId: 'inlet-crosscheck', tokenSecret: 'NOT-A-SECRET' });

async function attempt(item, secret) {
  const text = check.textOf(item);
  await client.webhooks.verifySignature(text, item.headers, secret);
  try {
    await client.webhooks.unwrap(text, item.headers, secret);
  } catch (error) {
    throw new check.NotAnEvent(check.errorText(error));
  }
  return true;
}

async function judge(item) {
  check.pinClock(item.now);
  return check.judgeWithSecrets(item, attempt);
}

async function sign(recipe) {
  const text = check.textOf(recipe);
  const hex = await client.webhooks.computeSignature(`${recipe.timestamp}.${text}`, recipe.secret);
  const header = `t=${recipe.timestamp},v1=${hex}`;
  check.pinClock(recipe.timestamp);
  let accepted = true;
  try {
    await client.webhooks.verifySignature(text, { 'mux-signature': header }, recipe.secret);
  } catch {
    accepted = false;
  }
  return { header, library_accepts: accepted };
}

check.main('@mux/mux-node', judge, sign);
