// sign.mjs signs one HTTP request the way a Web Bot Auth bot does, with
// Cloudflare's npm package web-bot-auth (0.1.3, on top of http-message-sig
// 0.2.0), so Go tests can check botauthz's verifier against a maintained
// RFC 9421 implementation instead of against itself.
//
// Input: one JSON object on stdin (a "job"):
//
//   {
//     "jwk":            {"kty":"OKP","crv":"Ed25519","d":"…","x":"…"},  // private key, required
//     "method":         "GET",                                        // default GET
//     "url":            "https://example.com/path?q=1",               // required; gives @authority, @path, …
//     "signatureAgent": "\"https://agent.example\"",                  // raw Signature-Agent field value to send; omit for none
//     "created":        1767225600,                                   // Unix seconds, required
//     "expires":        1767225900,                                   // Unix seconds, required
//     "nonce":          "…",                                          // optional: base64 of 64 bytes; the library makes one if absent
//     "label":          "sig1",                                       // optional signature label (library default sig1)
//     "components":     ["@authority", "signature-agent"]             // optional; entries are names or
//                                                                     // {"name": "…", "parameters": {"key": "…"}}
//   }
//
// Output: one JSON object on stdout:
//
//   {"keyid": "<JWK SHA-256 thumbprint>",
//    "headers": {"signature": "…", "signature-input": "…", "signature-agent": "…"}}
//
// header names are lower-case; "signature-agent" is present only when the job
// gave one. Errors go to stderr with a non-zero exit status.
//
// Without "components" the library covers ("@authority" "signature-agent")
// when a Signature-Agent is sent, else ("@authority"). Note that 0.1.3 signs
// the whole Signature-Agent field value, so it produces the bare-string form
// of draft-meunier-web-bot-auth-architecture (Signature-Agent: "https://…"
// covered as "signature-agent"), not the dictionary-member form
// ("signature-agent";key="sig1") of draft-ietf-webbotauth-httpsig-protocol.
//
// Module resolution: ES modules ignore NODE_PATH, so the script loads the
// package through require() rooted at a node_modules directory: the first
// entry of NODE_PATH when set, else <repository>/.tools/node/node_modules
// (two directories above this file), where `make test` installs it:
//
//   npm install --prefix .tools/node web-bot-auth@0.1.3
//   NODE_PATH=$PWD/.tools/node/node_modules node internal/webbotauthtest/sign.mjs < job.json

import { createRequire } from "node:module";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const fromEnv = (process.env.NODE_PATH || "").split(delimiter).find((p) => p !== "");
const modules = resolve(fromEnv || join(here, "..", "..", ".tools", "node", "node_modules"));
// createRequire wants a file name; resolution starts in its directory, which
// is the node_modules directory itself.
const require = createRequire(join(modules, "sign.cjs"));
const { signatureHeaders } = require("web-bot-auth");
const { signerFromJWK } = require("web-bot-auth/crypto");

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function component(c) {
  if (typeof c === "string") return c;
  return { name: c.name, parameters: new Map(Object.entries(c.parameters || {})) };
}

async function main() {
  const job = JSON.parse(await readStdin());
  if (!job.jwk || !job.url || !job.created || !job.expires) {
    throw new Error("job needs jwk, url, created and expires");
  }
  const headers = {};
  if (job.signatureAgent) headers["signature-agent"] = job.signatureAgent;
  const request = new Request(job.url, { method: job.method || "GET", headers });
  const signer = await signerFromJWK(job.jwk);
  const params = {
    created: new Date(job.created * 1000),
    expires: new Date(job.expires * 1000),
  };
  if (job.nonce) params.nonce = job.nonce;
  if (job.label) params.key = job.label;
  if (job.components) params.components = job.components.map(component);
  const signed = await signatureHeaders(request, signer, params);
  const out = {
    keyid: signer.keyid,
    headers: {
      "signature": signed["Signature"],
      "signature-input": signed["Signature-Input"],
    },
  };
  if (job.signatureAgent) out.headers["signature-agent"] = job.signatureAgent;
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`sign.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
