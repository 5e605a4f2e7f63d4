import puppeteer from 'puppeteer-core';
const b = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--ignore-certificate-errors'], acceptInsecureCerts: true });
const p = await b.newPage();
for (const u of [process.env.HTTPS + '/', process.env.HTTPS + '/products?page=2', process.env.HTTP + '/']) {
  await p.goto(u, { waitUntil: 'load' });
  await new Promise(r => setTimeout(r, 1500));
}
await b.close();
