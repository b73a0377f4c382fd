// Times @larksuiteoapi/node-sdk's EventDispatcher on one request (make
// bench-peers). Reads {"encrypt_key", "verification_token", "headers", "body",
// "iterations", "runs"} as JSON on stdin; prints {"sdk", "accepted",
// "us_per_event"}, the best run's mean. Each iteration is what the SDK's own
// adapters do per request: parse the body, attach the headers, and invoke the
// dispatcher, which checks the signature, decrypts, checks the token and calls
// the registered handler (here: one that counts).
const lark = require("@larksuiteoapi/node-sdk");

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const testCase = JSON.parse(input);
  let handled = 0;
  const dispatcher = new lark.EventDispatcher({
    encryptKey: testCase.encrypt_key,
    verificationToken: testCase.verification_token,
    // Silent, so logging costs nothing in the timed loop and stdout carries
    // only the report.
    logger: { error() {}, warn() {}, info() {}, debug() {}, trace() {} },
    loggerLevel: lark.LoggerLevel.error,
  }).register({ "im.message.receive_v1": async () => { handled += 1; } });
  const handle = () => {
    const data = Object.assign(Object.create({ headers: testCase.headers }), JSON.parse(testCase.body));
    return dispatcher.invoke(data);
  };
  await handle();
  const accepted = handled === 1;
  let best = Infinity;
  for (let run = 0; run < testCase.runs; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < testCase.iterations; i++) await handle();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / testCase.iterations);
  }
  const version = require("@larksuiteoapi/node-sdk/package.json").version;
  console.log(JSON.stringify({ sdk: `@larksuiteoapi/node-sdk ${version}`, accepted, us_per_event: best }));
}

main().catch((e) => { console.error(e); process.exit(1); });
