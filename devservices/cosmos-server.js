// Azure Cosmos DB stand-in for c360's tests and benchmarks: @vercel/cosmosdb-server over TLS, loopback only.
//
// Usage: node cosmos-server.js [port]      port 0 (the default) lets the OS pick a free one.
// Once listening it writes one line to stdout, {"port": N}, and nothing more; the library's own error traces go
// to stderr. It exits when its stdin closes, so it never outlives the Python process that started it.
//
// Why not the package's CLI: it answers every request with `connection: close`, so each SDK call pays a new TLS
// handshake (point reads 29 ms p50 instead of 1.5 ms). `createHttpsServer({ keepAlive: true })` keeps connections.
//
// One addition for tests: POST /_c360/faults {"status": 429, "count": N, "retryAfterMs": M, "match": "/docs"}
// makes the next N requests whose path contains `match` answer `status` the way the service throttles
// (x-ms-retry-after-ms, x-ms-substatus 3200), so client retry paths run against real HTTP.
// GET /_c360/faults reports how many injected faults were served.
"use strict";

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = Number.parseInt(process.argv[2] || "0", 10);
const faults = { status: 429, remaining: 0, retryAfterMs: 10, match: "/docs", served: 0 };

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {});
      } catch (err) {
        reject(err);
      }
    });
    req.on("error", reject);
  });
}

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", connection: "keep-alive", ...headers });
  res.end(JSON.stringify(body));
}

async function control(req, res) {
  if (req.method === "POST") {
    const spec = await readJson(req);
    faults.status = spec.status ?? 429;
    faults.remaining = spec.count ?? 1;
    faults.retryAfterMs = spec.retryAfterMs ?? 10;
    faults.match = spec.match ?? "/docs";
    faults.served = 0;
  }
  reply(res, 200, { remaining: faults.remaining, served: faults.served });
}

function injectFault(req, res) {
  faults.remaining -= 1;
  faults.served += 1;
  req.resume();
  req.on("end", () => {
    const throttled = faults.status === 429;
    reply(
      res,
      faults.status,
      {
        code: throttled ? "TooManyRequests" : "ServiceUnavailable",
        message: throttled ? "Request rate is large (injected by c360 tests)" : "injected by c360 tests",
      },
      throttled ? { "x-ms-retry-after-ms": String(faults.retryAfterMs), "x-ms-substatus": "3200" } : {}
    );
  });
}

const server = createHttpsServer({ keepAlive: true });
const [cosmosHandler] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  if (req.url.startsWith("/_c360/faults")) {
    control(req, res).catch((err) => reply(res, 400, { message: String(err) }));
  } else if (faults.remaining > 0 && req.url.includes(faults.match)) {
    injectFault(req, res);
  } else {
    cosmosHandler(req, res);
  }
});
// Keep idle client connections open between requests (Node's default closes them after 5 s).
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
