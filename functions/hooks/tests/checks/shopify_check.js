// Judges and signs Shopify webhook requests with Shopify's official Node
// library, @shopify/shopify-api (shopify.webhooks.validate, with its Web
// API adapter, @shopify/shopify-api/adapters/web-api). Run by
// official_lib.rs through _check.main (_check.py describes the input and
// output).
//
// A verdict is shopifyApi({apiSecretKey: secret, ...}).webhooks.validate({
// rawBody, rawRequest}) where rawRequest is a Fetch Request with the
// case's headers. validate compares the base64 HMAC-SHA256 of the raw body
// with X-Shopify-Hmac-Sha256 (or, for Shopify's newer events, with
// shopify-hmac-sha256), then requires the topic, shop domain, API version
// and webhook id headers. An answer {valid: false} for a missing body or
// HMAC, or an HMAC that does not match, is a refusal; for missing headers
// after the HMAC matched it is "authenticated, not an event"; {valid: true}
// is authenticated, and the receiver then reads the body with JSON.parse.
// The library does not look at the clock (Shopify sends no signed
// timestamp).
//
// Signing is the library's own createSHA256HMAC(secret, body, 'base64')
// (@shopify/shopify-api/runtime, what validate compares against), checked
// by validate before it is returned.
//
//   sign recipe: {"name", "secret", "body_b64", "headers"}
//   answer:      {"hmac", "library_accepts"}
'use strict';

require('@shopify/shopify-api/adapters/web-api');
const { shopifyApi, ApiVersion, LogSeverity } = require('@shopify/shopify-api');
const { createSHA256HMAC, HashFormat } = require('@shopify/shopify-api/runtime');
const check = require('./_check.js');

function shopify(secret) {
  return shopifyApi({
    apiKey: 'inlet-crosscheck',
    apiSecretKey: secret,
    hostName: 'inlet.example',
    apiVersion: ApiVersion.October25 || Object.values(ApiVersion)[0],
    isEmbeddedApp: false,
    logger: { level: LogSeverity.Error, log: async () => {} },
  });
}

async function validate(text, headers, secret) {
  const rawRequest = new Request('https://inlet.example/hooks', { method: 'POST', headers, body: text });
  return shopify(secret).webhooks.validate({ rawBody: text, rawRequest });
}

async function attempt(item, secret) {
  const text = check.textOf(item);
  const result = await validate(text, item.headers, secret);
  if (!result.valid) {
    if (result.reason === 'missing_headers') {
      throw new check.NotAnEvent(`missing headers: ${result.missingHeaders}`);
    }
    throw new Error(`refused: ${result.reason}`);
  }
  return check.jsonEvent(text);
}

async function judge(item) {
  return check.judgeWithSecrets(item, attempt);
}

async function sign(recipe) {
  const text = check.textOf(recipe);
  const hmac = await createSHA256HMAC(recipe.secret, text, HashFormat.Base64);
  const result = await validate(text, { ...recipe.headers, 'x-shopify-hmac-sha256': hmac }, recipe.secret);
  return { hmac, library_accepts: result.valid };
}

check.main('@shopify/shopify-api', judge, sign);
