// Judges and signs HubSpot webhook requests (signature v3) with HubSpot's
// official Node client, @hubspot/api-client (Signature). Run by
// official_lib.rs through _check.main (_check.py describes the input and
// output).
//
// A verdict is Signature.isValid({signatureVersion: 'v3', signature,
// clientSecret, requestBody, url, method, timestamp}) with the clock pinned
// at `now`: `signature` is x-hubspot-signature-v3, `timestamp` the number
// in x-hubspot-request-timestamp (milliseconds), `url` the public URL of
// the request as the receiver rebuilt it, handed over as it is. isValid
// throws for a timestamp more than 300 000 ms old (not for one in the
// future) and is true when base64 HMAC-SHA256(secret, method + url + body +
// timestamp) equals the header. true is authenticated; the receiver then
// reads the body with JSON.parse.
//
// Signing is the library's own Signature.getSignature('POST', 'v3', {...})
// (what isValid compares against), checked by isValid at that timestamp.
//
//   sign recipe: {"name", "secret", "url", "method", "timestamp", "body_b64"}
//   answer:      {"signature", "library_accepts"}
'use strict';

const { Signature } = require('@hubspot/api-client');
const check = require('./_check.js');

function options(item, secret, signature, timestamp) {
  return {
    signatureVersion: 'v3',
    signature,
    clientSecret: secret,
    requestBody: check.textOf(item),
    url: item.url,
    method: item.method || 'POST',
    timestamp,
  };
}

async function attempt(item, secret) {
  const signature = item.headers['x-hubspot-signature-v3'];
  if (signature === undefined) throw new Error('no x-hubspot-signature-v3 header');
  const header = item.headers['x-hubspot-request-timestamp'];
  const timestamp = header === undefined ? undefined : Number(header);
  if (!Signature.isValid(options(item, secret, signature, timestamp))) return false;
  return check.jsonEvent(check.textOf(item));
}

async function judge(item) {
  check.pinClock(item.now);
  return check.judgeWithSecrets(item, attempt);
}

async function sign(recipe) {
  const signature = Signature.getSignature(
    recipe.method,
    'v3',
    options(recipe, recipe.secret, '', recipe.timestamp)
  );
  check.pinClock(Math.floor(recipe.timestamp / 1000));
  const accepted = Signature.isValid(options(recipe, recipe.secret, signature, recipe.timestamp));
  return { signature, library_accepts: accepted };
}

check.main('@hubspot/api-client', judge, sign);
