// The frame every Node check of tests/official_lib.rs shares, as _check.py
// is for the Python ones (its docstring describes the input and output):
// one JSON document on stdin, one on stdout. It holds no part of any
// sender's scheme; each script next to it uses its official library.
'use strict';

const fs = require('fs');
const path = require('path');

/** The request body of a case, as a Buffer. */
function bodyOf(item) {
  return Buffer.from(item.body_b64, 'base64');
}

/** The request body as text; strict UTF-8 (a body that is not throws before anything is verified). */
function textOf(item) {
  return new TextDecoder('utf-8', { fatal: true }).decode(bodyOf(item));
}

/** Date.now() answers `now` (Unix seconds) from here on. */
function pinClock(now) {
  Date.now = () => now * 1000;
}

class NotAnEvent extends Error {}

function errorText(error) {
  return `${error && error.constructor ? error.constructor.name : 'Error'}: ${error && error.message}`;
}

/** The receiver's next step after a library that only verifies: JSON.parse. */
function jsonEvent(text) {
  try {
    JSON.parse(text);
  } catch (error) {
    throw new NotAnEvent(errorText(error));
  }
  return true;
}

/**
 * Runs attempt(item, secret) for each secret: it resolves to true (an event)
 * or false (refused), or throws the library's refusal, or NotAnEvent. The
 * best outcome over the secrets is the verdict.
 */
async function judgeWithSecrets(item, attempt) {
  let authenticated = false;
  let event = false;
  const errors = [];
  for (const secret of item.secrets) {
    try {
      if (await attempt(item, secret)) {
        authenticated = true;
        event = true;
      } else {
        errors.push('refused');
      }
    } catch (error) {
      if (error instanceof NotAnEvent) {
        authenticated = true;
        errors.push(`not an event: ${error.message}`);
      } else {
        errors.push(errorText(error));
      }
    }
  }
  if (!item.secrets.length) errors.push('no secret for this source');
  return { authenticated, event, error: errors.join('; ').slice(0, 300) };
}

/** The version of an installed package (its package.json). */
function versionOf(name) {
  const modules = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
  for (const dir of modules) {
    const file = path.join(dir, name, 'package.json');
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  }
  return require(`${name}/package.json`).version;
}

async function main(name, judge, sign) {
  const spec = JSON.parse(fs.readFileSync(0, 'utf8'));
  const report = { library: `${name} ${versionOf(name)}`, verdicts: {}, signed: {} };
  for (const item of spec.verdicts || []) report.verdicts[item.name] = await judge(item);
  for (const recipe of spec.sign || []) report.signed[recipe.name] = await sign(recipe);
  process.stdout.write(JSON.stringify(report));
}

module.exports = { bodyOf, textOf, pinClock, NotAnEvent, errorText, jsonEvent, judgeWithSecrets, main };
