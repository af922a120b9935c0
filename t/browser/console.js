/*
 * Drives the admin console in Debian's Chromium as an operator would and
 * prints what it saw as one JSON object; t/15-console.t makes the
 * assertions. Usage: node console.js <base url> <user> <password> <sim url>
 */
'use strict';

const { chromium } = require('playwright-core');

const [base, user, password, simUrl] = process.argv.slice(2);
const seen = { errors: [] };

async function inbound(body) {
    const res = await fetch(simUrl + '/sim/inbound', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error('sim inbound: ' + res.status);
}

(async () => {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync'],
    });
    try {
        const page = await browser.newPage();
        page.on('pageerror', (e) => seen.errors.push(e.message));
        page.setDefaultTimeout(15000);

        await page.goto(base + '/');
        await page.waitForSelector('#login-view:not(.hidden)');
        seen.login_shown = true;

        /* a wrong password is refused with the API's message */
        await page.fill('input[name=username]', user);
        await page.fill('input[name=password]', password + 'x');
        await page.click('#login-form button');
        await page.waitForFunction(() => document.querySelector('#login-error').textContent !== '');
        seen.login_error = await page.textContent('#login-error');

        await page.fill('input[name=password]', password);
        await page.click('#login-form button');
        await page.waitForSelector('#app-view:not(.hidden)');
        seen.logged_in = true;
        seen.cookie_http_only = (await page.context().cookies())
            .some((c) => c.name === 'bc_session' && c.httpOnly);
        seen.local_storage_keys = await page.evaluate(() => Object.keys(localStorage));

        await page.waitForFunction(() => /redis: ok/.test(document.querySelector('#health').textContent));
        seen.health = await page.textContent('#health');

        /* an API key is shown once */
        await page.fill('#key-form input[name=name]', 'from-console');
        await page.click('#key-form button');
        await page.waitForSelector('#new-key:not(.hidden)');
        seen.new_key = await page.textContent('#new-key');
        /* the list reloads after the key is shown: wait for that reload */
        await page.waitForFunction(() => /from-console/.test(document.querySelector('#keys-table').textContent))
            .catch(() => {});
        seen.keys_table = await page.textContent('#keys-table');

        /* SMS through the form, then the batch lookup shows it delivered */
        await page.fill('textarea[name=recipients]', '+14155550142, bogus');
        await page.fill('textarea[name=message]', 'Console hello');
        await page.click('#send-form button[type=submit]');
        await page.waitForFunction(() => document.querySelector('#send-result').textContent.includes('batch_id'));
        seen.send_result = JSON.parse(await page.textContent('#send-result'));
        const deadline = Date.now() + 20000;
        for (;;) {
            await page.click('#status-form button');
            await page.waitForSelector('#status-table:not(.hidden)');
            seen.status_row = await page.textContent('#status-table tbody');
            if (/delivered/.test(seen.status_row) || Date.now() > deadline) break;
            await page.waitForTimeout(200);
        }

        /* an inbound WhatsApp appears as an unread conversation */
        await inbound({ channel: 'whatsapp', from: '+14155550143', body: 'Hello from WhatsApp' });
        const until = Date.now() + 20000;
        for (;;) {
            await page.click('#chat-refresh');
            await page.waitForTimeout(200);
            const users = await page.textContent('#chat-users');
            if (users.includes('+14155550143') || Date.now() > until) break;
        }
        const li = page.locator('#chat-users li', { hasText: '+14155550143' });
        seen.unread_badge = await li.locator('.badge').textContent().catch(() => null);
        await li.click();
        await page.waitForSelector('.bubble.inbound');
        seen.bubble = await page.textContent('.bubble.inbound');
        await page.waitForFunction(() => {
            const el = [...document.querySelectorAll('#chat-users li')]
                .find((x) => x.textContent.includes('+14155550143'));
            return el && !el.querySelector('.badge');
        });
        seen.badge_cleared = true;

        await page.click('#logout');
        await page.waitForSelector('#login-view:not(.hidden)');
        await page.reload();
        await page.waitForSelector('#login-view:not(.hidden)');
        seen.logged_out = true;
    } catch (e) {
        seen.errors.push(String(e && e.message || e));
    } finally {
        await browser.close();
        process.stdout.write(JSON.stringify(seen) + '\n');
    }
})();
