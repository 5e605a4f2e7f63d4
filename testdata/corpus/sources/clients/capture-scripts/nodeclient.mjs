// Node HTTP client requests for botcorpus captures: node nodeclient.mjs LIB
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const lib = process.argv[2];
const H = process.env.HTTPS, P = process.env.HTTP, UA = process.env.UA_MODE || '', BH = process.env.BROWSER_HEADERS || '';
// Copied mode: BROWSER_SET names a browser's complete header set (copied/*.json).
const BS = process.env.BROWSER_SET || '';
const COPIED = BS ? JSON.parse((await import('node:fs')).readFileSync(BS, 'utf8')).headers : [];
let reqs = [
  ['GET', H + '/', null, {}],
  ['GET', H + '/products?page=2', null, {}],
  ['GET', H + '/api/items', null, { 'Accept': 'application/json', 'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok' }],
  ['POST', H + '/api/events', { json: { event: 'view' } }, {}],
  ['GET', H + '/account', null, { 'Cookie': 'session=8f14e45fceea167a' }],
  ['HEAD', H + '/', null, {}],
  ['GET', P + '/', null, {}],
  ['POST', P + '/login', { form: 'user=alice&pass=secret' }, {}],
];
if (BS) {
  // The script sends the browser's headers whole, as an object in the
  // browser's order, to four pages over HTTPS and one over plain http.
  reqs = ['/', '/products?page=2', '/search?q=green+tea', '/products/4711'].map((p) => ['GET', H + p, null, {}]);
  reqs.push(['GET', P + '/', null, {}]);
}
function hdrs(e) {
  const h = {};
  for (const [k, v] of COPIED) h[k] = v;
  if (BH) { h['Accept'] = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'; h['Accept-Language'] = 'en-US,en;q=0.9'; }
  Object.assign(h, e);
  if (UA === 'empty') h['User-Agent'] = ''; else if (UA) h['User-Agent'] = UA;
  return h;
}
function body(b, h) {
  if (!b) return undefined;
  if (b.json) { h['Content-Type'] = 'application/json'; return JSON.stringify(b.json); }
  h['Content-Type'] = 'application/x-www-form-urlencoded'; return b.form;
}
for (const [m, u, b, e] of reqs) {
  const h = hdrs(e);
  if (lib === 'fetch') {
    const r = await fetch(u, { method: m, headers: h, body: body(b, h) }); await r.arrayBuffer();
  } else if (lib === 'axios') {
    const axios = require('axios');
    const data = b ? (b.json ? b.json : b.form) : undefined;
    if (b && b.form) h['Content-Type'] = 'application/x-www-form-urlencoded';
    await axios({ method: m, url: u, headers: h, data });
  } else if (lib === 'node-fetch2') {
    const nf = require('node-fetch');
    const r = await nf(u, { method: m, headers: h, body: body(b, h) }); await r.arrayBuffer();
  } else if (lib === 'node-fetch3') {
    const nf = (await import('nf3')).default;
    const r = await nf(u, { method: m, headers: h, body: body(b, h) }); await r.arrayBuffer();
  } else if (lib === 'got') {
    const got = (await import('got')).default;
    const o = { method: m, headers: h, throwHttpErrors: false };
    if (b && b.json) o.json = b.json; else if (b) o.form = { user: 'alice', pass: 'secret' };
    await got(u, o);
  }
}
