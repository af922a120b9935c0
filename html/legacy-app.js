/*
 * Broadcast admin console. The session lives only in the HttpOnly
 * bc_session cookie set by /api/login: nothing secret is kept in
 * localStorage, so an injected script cannot read a credential.
 */
'use strict';

const $ = (sel) => document.querySelector(sel);

// the session's CSRF token (GET /api/me), fetched once per sign-in: every
// write with the cookie must carry it in X-CSRF-Token
let csrfToken = null;

async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET' && method !== 'HEAD' && path !== '/api/login') {
        if (csrfToken === null) {
            csrfToken = (await api('GET', '/api/me')).csrf_token;
        }
        opts.headers['X-CSRF-Token'] = csrfToken;
    }
    if (path === '/api/login' || path === '/api/logout') {
        csrfToken = null;
    }
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
    loadChatUsers();
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

function lines(v) {
    return v.split(/[\n,]+/).map((x) => x.trim()).filter(Boolean);
}

function sendChannel() {
    return $('#send-form').querySelector('input[name=channel]:checked').value;
}

/* shows the fields of the chosen channel only */
function showChannelFields() {
    const ch = sendChannel();
    for (const c of ['sms', 'whatsapp', 'email']) {
        document.querySelectorAll('.only-' + c)
            .forEach((el) => el.classList.toggle('hidden', c !== ch));
    }
    $('.msg-label').textContent = ch === 'email' ? 'Text' : 'Message';
    if (ch === 'whatsapp') loadWhatsAppSenders();
}

async function loadWhatsAppSenders() {
    const sel = $('#send-form').from_address;
    if (sel.options.length) return;
    try {
        const r = await api('GET', '/api/whatsapp/senders');
        for (const s of r.senders) {
            const o = document.createElement('option');
            o.value = o.textContent = typeof s === 'string' ? s : s.from_address;
            sel.appendChild(o);
        }
    } catch (e) { /* the default sender is used */ }
}

document.querySelectorAll('#send-form input[name=channel]')
    .forEach((el) => el.addEventListener('change', showChannelFields));

function sendBody(f, ch) {
    const body = { recipients: lines(f.recipients.value) };
    const msg = f.message.value;
    if (ch === 'sms') {
        body.message = msg;
        if (f.from_number.value) body.from_number = f.from_number.value.trim();
        if (f.messaging_service_sid.value) body.messaging_service_sid = f.messaging_service_sid.value.trim();
    } else if (ch === 'email') {
        body.subject = f.subject.value;
        if (msg) body.text = msg;
        if (f.html.value) body.html = f.html.value;
        if (f.from_email.value) body.from_email = f.from_email.value.trim();
        if (f.sandbox.checked) body.sandbox = true;
    } else {
        if (f.from_address.value) body.from_address = f.from_address.value;
        if (f.content_sid.value) {
            body.content_sid = f.content_sid.value.trim();
            if (f.content_variables.value) body.content_variables = JSON.parse(f.content_variables.value);
        } else if (f.template_name.value) {
            body.template = { name: f.template_name.value.trim(),
                              language: { code: f.template_language.value.trim() || 'en_US' } };
        } else {
            if (msg) body.body = msg;
            const media = lines(f.media_urls.value);
            if (media.length) body.media_urls = media;
        }
    }
    return body;
}

$('#send-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const ch = sendChannel();
    try {
        const r = await api('POST', `/api/send/${ch}`, sendBody(f, ch));
        $('#send-result').textContent = JSON.stringify(r, null, 2);
        if (r.batch_id) {
            $('#status-form').kind.value = 'batch';
            $('#status-form').id.value = r.batch_id;
        }
    } catch (e) {
        $('#send-result').textContent = `${e.status || ''} ${e.code || ''}: ${e.message}`;
    }
});

/* --- conversations ---------------------------------------------------- */

let chatAddress = null;

async function loadChatUsers() {
    const ch = $('#chat-channel').value;
    const ul = $('#chat-users');
    try {
        const r = await api('GET', '/api/chat/users?limit=100' + (ch ? '&channel=' + ch : ''));
        ul.innerHTML = '';
        for (const u of r.users) {
            const li = document.createElement('li');
            li.classList.toggle('active', u.user_address === chatAddress);
            const name = document.createElement('span');
            name.textContent = u.user_address;
            li.appendChild(name);
            if (u.unread_count) {
                const b = document.createElement('span');
                b.className = 'badge';
                b.textContent = u.unread_count;
                li.appendChild(b);
            }
            const meta = document.createElement('span');
            meta.className = 'meta';
            meta.textContent = `${(u.channels || []).join(', ')} · ${u.total_messages} msgs · ${text(u.last_message_at)}`;
            li.appendChild(meta);
            li.onclick = () => openChat(u.user_address);
            ul.appendChild(li);
        }
        if (!r.users.length) ul.innerHTML = '<li class="hint">No conversations yet.</li>';
    } catch (e) {
        ul.innerHTML = '';
        const li = document.createElement('li');
        li.className = 'error';
        li.textContent = e.message;
        ul.appendChild(li);
    }
}

async function openChat(address) {
    chatAddress = address;
    const ch = $('#chat-channel').value;
    const box = $('#chat-history');
    const r = await api('GET', '/api/chat/history?limit=100&address=' + encodeURIComponent(address)
                        + (ch ? '&channel=' + ch : ''));
    box.innerHTML = '';
    const unread = [];
    for (const m of r.messages) {
        const d = document.createElement('div');
        d.className = 'bubble ' + (m.direction === 'inbound' ? 'inbound' : 'outbound');
        d.textContent = m.subject ? `${m.subject}\n${text(m.body)}` : text(m.body);
        const meta = document.createElement('span');
        meta.className = 'meta';
        meta.textContent = `${m.channel} · ${m.status} · ${text(m.created_at)}`;
        d.appendChild(meta);
        box.appendChild(d);
        if (m.direction === 'inbound' && !m.read_at) unread.push(m.id);
    }
    box.scrollTop = box.scrollHeight;
    if (unread.length) {
        await api('POST', '/api/chat/mark-read', { message_ids: unread });
    }
    loadChatUsers();
}

$('#chat-refresh').addEventListener('click', loadChatUsers);
$('#chat-channel').addEventListener('change', loadChatUsers);

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
