/*
 * Broadcast admin console. The session lives only in the HttpOnly
 * bc_session cookie set by /api/login: nothing secret is kept in
 * localStorage, so an injected script cannot read a credential.
 */
'use strict';

const $ = (sel) => document.querySelector(sel);

async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    const text = await res.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
    if (!res.ok) {
        const err = new Error(data && data.error ? data.error.message : res.statusText);
        err.status = res.status;
        err.code = data && data.error ? data.error.code : '';
        throw err;
    }
    return data;
}

function text(v) { return v === null || v === undefined ? '' : String(v); }

function cell(tr, value) {
    const td = document.createElement('td');
    td.textContent = text(value);
    tr.appendChild(td);
    return td;
}

function show(view) {
    $('#login-view').classList.toggle('hidden', view !== 'login');
    $('#app-view').classList.toggle('hidden', view !== 'app');
    $('#logout').classList.toggle('hidden', view !== 'app');
}

async function loadHealth() {
    try {
        const res = await fetch('/health');
        const h = await res.json();
        $('#health').innerHTML = '';
        for (const k of ['redis', 'mysql']) {
            const span = document.createElement('span');
            span.className = h[k] === 'ok' ? 'ok' : 'bad';
            span.textContent = `${k}: ${h[k]}  `;
            $('#health').appendChild(span);
        }
    } catch (e) {
        $('#health').textContent = 'health check failed: ' + e.message;
    }
}

async function loadKeys() {
    const data = await api('GET', '/api/keys');
    const tbody = $('#keys-table tbody');
    tbody.innerHTML = '';
    for (const k of data.keys) {
        const tr = document.createElement('tr');
        [k.id, k.name, k.prefix, k.scope, k.created_at, k.last_used_at, k.revoked_at]
            .forEach((v) => cell(tr, v));
        const td = cell(tr, '');
        if (!k.revoked_at) {
            const b = document.createElement('button');
            b.className = 'link';
            b.textContent = 'revoke';
            b.onclick = async () => {
                if (!confirm(`Revoke key ${k.prefix}…?`)) return;
                await api('POST', `/api/keys/${k.id}/revoke`);
                loadKeys();
            };
            td.appendChild(b);
        }
        tbody.appendChild(tr);
    }
}

async function enterApp() {
    show('app');
    loadHealth();
    try {
        await loadKeys();
    } catch (e) {
        if (e.status === 401) { show('login'); return; }
        throw e;
    }
}

$('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $('#login-error').textContent = '';
    try {
        const r = await api('POST', '/api/login',
            { username: f.username.value, password: f.password.value });
        $('#who').textContent = r.username;
        f.password.value = '';
        enterApp();
    } catch (e) {
        $('#login-error').textContent = e.message;
    }
});

$('#logout').addEventListener('click', async () => {
    try { await api('POST', '/api/logout'); } catch (e) { /* already gone */ }
    $('#who').textContent = '';
    show('login');
});

$('#send-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = {
        recipients: f.recipients.value.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean),
        message: f.message.value,
    };
    if (f.from_number.value) body.from_number = f.from_number.value.trim();
    if (f.messaging_service_sid.value) body.messaging_service_sid = f.messaging_service_sid.value.trim();
    try {
        const r = await api('POST', '/api/send/sms', body);
        $('#send-result').textContent = JSON.stringify(r, null, 2);
        if (r.batch_id) {
            $('#status-form').kind.value = 'batch';
            $('#status-form').id.value = r.batch_id;
        }
    } catch (e) {
        $('#send-result').textContent = `${e.status} ${e.code}: ${e.message}`;
    }
});

$('#status-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $('#status-error').textContent = '';
    try {
        const r = await api('GET', `/api/${f.kind.value}/${encodeURIComponent(f.id.value.trim())}`);
        const rows = r.messages || [r];
        const tbody = $('#status-table tbody');
        tbody.innerHTML = '';
        for (const m of rows) {
            const tr = document.createElement('tr');
            [m.id, m.to, m.status, m.provider_message_id,
             m.error_code ? `${m.error_code} ${text(m.error_message)}` : '',
             m.price !== null && m.price !== undefined ? `${m.price} ${text(m.price_unit)}` : '',
             m.updated_at || m.created_at].forEach((v) => cell(tr, v));
            tbody.appendChild(tr);
        }
        $('#status-table').classList.remove('hidden');
    } catch (e) {
        $('#status-table').classList.add('hidden');
        $('#status-error').textContent = e.message;
    }
});

$('#key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = { name: f.name.value, scope: f.scope.value };
    if (f.expires_in_days.value) body.expires_in_days = parseInt(f.expires_in_days.value, 10);
    try {
        const k = await api('POST', '/api/keys', body);
        const p = $('#new-key');
        p.textContent = `New key (shown once, copy it now): ${k.api_key}`;
        p.classList.remove('hidden');
        f.name.value = '';
        loadKeys();
    } catch (e) {
        alert(e.message);
    }
});

/* A session cookie may already exist: /api/keys tells us. */
api('GET', '/api/keys').then(() => enterApp()).catch(() => show('login'));
