/*
 * The inbox: two-way conversations across channels. The list (unread
 * counts from /api/chat/users) refreshes by itself; opening a conversation
 * marks its inbound messages read. The reply goes through the send API of
 * the conversation's channel, from the address the customer wrote to: on
 * WhatsApp free text only inside the 24-hour window (the last inbound
 * message is less than a day old), else an approved template. The API has
 * the last word: its refusal is shown as it comes.
 */
'use strict';

(function () {
    const h = BC.h;
    const DAY_MS = 24 * 3600 * 1000;
    let open = null;          /* {address, channel} of the open conversation */
    let replyKey = '';        /* what the reply box was drawn for */
    const ui = {};            /* the page's elements */
    let visit = 0;            /* one per render: a stale one starts no timer */

    function bubble(m) {
        /* a template send may store no text of its own */
        const body = m.body || (m.direction === 'outbound' ? BC.t('inbox.template_msg') : '');
        const text = m.subject ? `${m.subject}\n${body}` : body;
        return h('div', { class: 'bubble ' + (m.direction === 'inbound' ? 'inbound' : 'outbound'),
                          dataset: { id: m.id } },
                 text,
                 h('span', { class: 'meta' },
                   `${BC.t('channel.' + m.channel)} · ${m.status || ''} · ${BC.fmt.date(m.created_at)}`));
    }

    async function loadUsers() {
        const q = new URLSearchParams({ limit: ui.limit });
        if (ui.channel.value) { q.set('channel', ui.channel.value); }
        try {
            const r = await BC.api('GET', '/api/chat/users?' + q);
            const more = r.total > r.users.length
                ? h('li', { class: 'more' }, h('button', { type: 'button', class: 'link', id: 'inbox-more',
                    onclick: (ev) => { ev.stopPropagation(); ui.limit += 50; loadUsers(); } },
                    BC.t('common.more'))) : '';
            BC.clear(ui.users).append(...(r.users.length ? r.users.map((u) => h('li', {
                class: open && open.address === u.user_address ? 'active' : '',
                dataset: { address: u.user_address }, onclick: () => openConversation(u),
            }, h('span', { class: 'who' }, u.user_address),
               u.unread_count ? h('span', { class: 'badge accent' }, String(u.unread_count)) : null,
               h('span', { class: 'meta' }, `${(u.channels || []).map((c) => BC.t('channel.' + c)).join(', ')}`
                 + ` · ${BC.t('inbox.messages', { n: u.total_messages })} · ${BC.fmt.date(u.last_message_at)}`)))
                : [h('li', { class: 'hint' }, BC.t('inbox.empty'))]), more);
        } catch (e) {
            BC.clear(ui.users).appendChild(h('li', { class: 'error' }, e.message));
        }
    }

    async function openConversation(u) {
        open = { address: u.user_address, channel: ui.channel.value || (u.channels || [])[0] || 'sms' };
        BC.clear(ui.head).append(h('h3', null, u.user_address));
        await loadHistory(true);
        loadUsers();
    }

    async function loadHistory(markRead) {
        if (!open) { return; }
        const q = new URLSearchParams({ address: open.address, limit: 100 });
        if (ui.channel.value) { q.set('channel', ui.channel.value); }
        try {
            const r = await BC.api('GET', '/api/chat/history?' + q);
            /* the newest 100: the API pages oldest first */
            let msgs = r.messages;
            if (r.total > msgs.length) {
                q.set('offset', r.total - 100);
                msgs = (await BC.api('GET', '/api/chat/history?' + q)).messages;
            }
            const atEnd = ui.history.scrollTop + ui.history.clientHeight >= ui.history.scrollHeight - 4;
            BC.clear(ui.history).append(...(msgs.length ? msgs.map(bubble)
                : [h('p', { class: 'hint' }, BC.t('common.none'))]));
            if (markRead || atEnd) { ui.history.scrollTop = ui.history.scrollHeight; }
            const last = msgs[msgs.length - 1];
            const lastIn = [...msgs].reverse().find((m) => m.direction === 'inbound');
            open.channel = (lastIn || last || open).channel;
            open.from = lastIn ? lastIn.to : '';
            open.windowOpen = !!lastIn
                && Date.now() - new Date(lastIn.created_at).getTime() < DAY_MS;
            drawReply();
            const unread = msgs.filter((m) => m.direction === 'inbound' && !m.read_at).map((m) => m.id);
            if (markRead && unread.length && BC.can('send')) {
                await BC.api('POST', '/api/chat/mark-read', { message_ids: unread });
            }
        } catch (e) { BC.fail(e); }
    }

    function drawReply() {
        const key = `${open.address}/${open.channel}/${open.windowOpen}`;
        if (key === replyKey) { return; }
        replyKey = key;
        BC.clear(ui.reply);
        if (!BC.can('send')) { return; }
        const error = h('p', { class: 'error', id: 'inbox-reply-error' });
        if (open.channel === 'whatsapp' && !open.windowOpen) {
            ui.reply.append(h('p', { class: 'hint' }, BC.t('inbox.window_closed')), templatePicker(error), error);
            return;
        }
        const subject = h('input', { id: 'inbox-subject', placeholder: BC.t('tpl.subject') });
        const text = h('textarea', { id: 'inbox-text', rows: 3, placeholder: BC.t('inbox.write') });
        const send = h('button', { type: 'submit', id: 'inbox-send' }, BC.t('inbox.send'));
        ui.reply.append(h('form', { onsubmit: async (ev) => {
            ev.preventDefault();
            if (!text.value.trim()) { return; }
            send.disabled = true;
            const body = open.channel === 'sms' ? { message: text.value }
                : open.channel === 'whatsapp' ? { body: text.value }
                    : { subject: subject.value || BC.t('inbox.re'), text: text.value };
            if (await sendReply(body, error)) { text.value = ''; }
            send.disabled = false;
        } }, open.channel === 'email' ? subject : null, text, h('div', { class: 'row' }, send)), error);
    }

    /* WhatsApp outside the window: our approved WhatsApp templates */
    function templatePicker(error) {
        const pick = h('select', { id: 'inbox-template' }, h('option', { value: '' }, BC.t('wiz.pick_template')));
        const vars = h('input', { id: 'inbox-template-vars', placeholder: 'name=Ada' });
        BC.api('GET', '/api/templates?channel=whatsapp&limit=500').then((r) => {
            for (const t of r.templates.filter((x) => x.content_sid || x.provider_name)) {
                pick.appendChild(h('option', { value: t.id }, t.name));
            }
        }).catch(BC.fail);
        return h('form', { id: 'inbox-template-form', onsubmit: async (ev) => {
            ev.preventDefault();
            if (!pick.value) { return; }
            const body = { template_id: Number(pick.value) };
            const v = BC.parsePairs(vars.value);
            if (Object.keys(v).length) { body.template_variables = v; }
            await sendReply(body, error);
        } }, h('div', { class: 'row' }, pick, vars,
               h('button', { type: 'submit', id: 'inbox-template-send' }, BC.t('inbox.send_template'))));
    }

    /* the send API of the channel; a per-recipient refusal is shown */
    async function sendReply(body, error) {
        error.textContent = '';
        const fromKey = { sms: 'from_number', whatsapp: 'from_address', email: 'from_email' }[open.channel];
        body.recipients = [open.address];
        if (open.from && open.channel !== 'email') { body[fromKey] = open.from; }
        try {
            const r = await BC.api('POST', '/api/send/' + open.channel, body);
            if (r.rejected && r.rejected.length) {
                error.textContent = r.rejected[0].error;
                if (/outside_24h_window/.test(r.rejected[0].error)) {
                    open.windowOpen = false;
                    drawReply();
                    ui.reply.querySelector('#inbox-reply-error').textContent = r.rejected[0].error;
                }
                return false;
            }
            await loadHistory(false);
            ui.history.scrollTop = ui.history.scrollHeight;
            return true;
        } catch (e) {
            error.textContent = e.message;
            BC.fail(e);
            return false;
        }
    }


    async function render(root) {
        open = null;
        replyKey = '';
        ui.limit = 50;   /* conversations shown; "Load more" adds a page */
        ui.channel = h('select', { id: 'inbox-channel' }, h('option', { value: '' }, BC.t('tpl.all_channels')),
            ['sms', 'whatsapp', 'email'].map((c) => h('option', { value: c }, BC.t('channel.' + c))));
        ui.users = h('ul', { id: 'inbox-users', class: 'convs' }, h('li', { class: 'hint' }, BC.t('common.loading')));
        ui.head = h('div', { id: 'inbox-head', class: 'row' });
        ui.history = h('div', { id: 'inbox-history', class: 'history' },
                          h('p', { class: 'hint' }, BC.t('inbox.pick')));
        ui.reply = h('div', { id: 'inbox-reply' });
        root.appendChild(h('section', { class: 'card' },
            h('div', { class: 'row' }, h('h2', { class: 'grow' }, BC.t('nav.inbox')), ui.channel,
              h('button', { type: 'button', class: 'secondary', id: 'inbox-refresh', onclick: () => loadUsers() },
                BC.t('common.refresh'))),
            h('div', { class: 'chat' }, ui.users, h('div', null, ui.head, ui.history, ui.reply))));

        ui.channel.addEventListener('change', () => { open = null; replyKey = ''; BC.clear(ui.reply); loadUsers(); });
        const me = ++visit;
        await loadUsers();
        if (me !== visit) { return; }   /* left while loading */
        let first = true;   /* BC.every runs at once: the list is fresh */
        BC.every(3000, async () => {
            if (first) { first = false; return; }
            await loadUsers();
            if (open) { await loadHistory(true); }
        });
    }

    BC.page('inbox', { title: 'nav.inbox', order: 50, need: 'read', render, leave: () => { open = null; visit++; } });

    BC.i18n({
        en: {
            'nav.inbox': 'Inbox', 'inbox.pick': 'Choose a conversation.',
            'inbox.empty': 'No conversations yet.', 'inbox.messages': '{n} messages',
            'inbox.write': 'Write a reply…', 'inbox.send': 'Send', 'inbox.re': 'Re:',
            'inbox.window_closed': 'The customer has not written in the last 24 hours: WhatsApp allows only an approved template.',
            'inbox.send_template': 'Send template', 'inbox.template_msg': '(a template message)',
        },
        zh: {
            'nav.inbox': '收件箱', 'inbox.pick': '请选择一个会话。',
            'inbox.empty': '暂无会话。', 'inbox.messages': '{n} 条消息',
            'inbox.write': '输入回复…', 'inbox.send': '发送', 'inbox.re': '回复：',
            'inbox.window_closed': '客户在过去 24 小时内没有发消息：WhatsApp 只允许发送已批准的模板。',
            'inbox.send_template': '发送模板', 'inbox.template_msg': '（模板消息）',
        },
    });
})();
