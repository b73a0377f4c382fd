// Judges and signs GitHub webhook requests with the official
// @octokit/webhooks-methods (installed by `make tools` under
// .tools/node/node_modules). Run by official_lib.rs through
// inlet_shared::crosscheck::run, which pipes one JSON document in and reads
// one back:
//
//   in:  {"verdicts": [{"name", "secrets": [..], "body_b64", "signature"}],
//         "sign":     [{"name", "secret", "body_b64"}]}
//   out: {"library": "@octokit/webhooks-methods <version>",
//         "verdicts": {name: true|false}, "signed": {name: signature}}
//
// A verdict is verifyWithFallback(secrets[0], body, signature, rest): the
// library's own rotation helper. The library takes the body as a string:
// the bytes are decoded as UTF-8 (every GitHub payload is UTF-8), the way a
// web framework hands it the raw body. A TypeError (empty signature or
// body) is a refusal.
import { readFileSync } from "node:fs";

// ESM ignores NODE_PATH: import the package's Node entry ("exports" → "node"
// → "import" in its package.json) by its path from the repository root.
const root = new URL("../../../.tools/node/node_modules/@octokit/webhooks-methods/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const { sign, verifyWithFallback } = await import(new URL(manifest.exports["."].node.import, root).href);

const input = JSON.parse(readFileSync(0, "utf8"));
const text = (b64) => Buffer.from(b64, "base64").toString("utf8");

const verdicts = {};
for (const c of input.verdicts ?? []) {
  try {
    const [first, ...rest] = c.secrets;
    verdicts[c.name] = (await verifyWithFallback(first, text(c.body_b64), c.signature, rest)) === true;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    verdicts[c.name] = false;
  }
}
const signed = {};
for (const s of input.sign ?? []) {
  signed[s.name] = await sign(s.secret, text(s.body_b64));
}
process.stdout.write(JSON.stringify({ library: `${manifest.name} ${manifest.version}`, verdicts, signed }));
