import { chromium } from 'playwright-core';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const ctx = await b.newContext({ ignoreHTTPSErrors: true });
const p = await ctx.newPage();
for (const u of [process.env.HTTPS + '/', process.env.HTTPS + '/products?page=2', process.env.HTTP + '/']) {
  await p.goto(u, { waitUntil: 'load' });
  await new Promise(r => setTimeout(r, 1500));
}
await b.close();
