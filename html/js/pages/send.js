/*
 * The send page: one message to a list of recipients on SMS, WhatsApp or
 * e-mail (POST /api/send/<channel>), and the status lookup of a message,
 * a batch or a Twilio SID. Ported from the one-page console.
 */
'use strict';

(function () {
    const h = BC.h;
    const t = BC.t;

    /* recipients and media URLs: one a line or comma-separated */
    function lines(v) {
        return v.split(/[\n,]+/).map((x) => x.trim()).filter(Boolean);
    }

    function field(label, input, cls) {
        return h('label', { class: cls }, h('span', null, t(label)), input);
    }

    /* a <select> of a channel's senders, the configured default first */
    async function fillSenders(select, path, pick) {
        try {
            const r = await BC.api('GET', path);
            BC.clear(select);
            select.appendChild(h('option', { value: '' }, t('send.default_sender')));
            for (const s of r.senders) {
                const v = pick(s);
                select.appendChild(h('option', { value: v }, v));
            }
        } catch (e) {
            BC.fail(e);
        }
    }

    function body(f, ch) {
        const b = { recipients: lines(f.recipients.value) };
        const msg = f.message.value;
        if (ch === 'sms') {
            b.message = msg;
            if (f.from_number.value.trim()) { b.from_number = f.from_number.value.trim(); }
            if (f.append_opt_out.checked) { b.append_opt_out = true; }
        } else if (ch === 'email') {
            b.subject = f.subject.value;
            if (msg) { b.text = msg; }
            if (f.html.value) { b.html = f.html.value; }
            if (f.from_email.value) { b.from_email = f.from_email.value; }
            if (f.sandbox.checked) { b.sandbox = true; }
        } else {
            if (f.from_address.value) { b.from_address = f.from_address.value; }
            if (f.content_sid.value.trim()) {
                b.content_sid = f.content_sid.value.trim();
                if (f.content_variables.value.trim()) {
                    b.content_variables = JSON.parse(f.content_variables.value);
                }
            } else {
                if (msg) { b.body = msg; }
                const media = lines(f.media_urls.value);
                if (media.length) { b.media_urls = media; }
            }
        }
        return b;
    }

    function sendForm(statusForm) {
        const result = h('pre', { id: 'send-result', class: 'hidden' });
        const waFrom = h('select', { name: 'from_address' });
        const mailFrom = h('select', { name: 'from_email' });
        const only = (ch, ...nodes) => h('div', { class: 'only only-' + ch }, nodes);
        const channels = ['sms', 'whatsapp', 'email'];

        const f = h('form', { id: 'send-form' },
            h('div', { class: 'row' }, channels.map((ch) =>
                h('label', { class: 'inline' },
                  h('input', { type: 'radio', name: 'channel', value: ch,
                               checked: ch === 'sms' }),
                  t('send.channel.' + ch)))),
            field('send.recipients', h('textarea', { name: 'recipients', rows: 3, required: true,
                                                     placeholder: '+14155552671, +8613800138000' })),
            only('email', field('send.subject', h('input', { name: 'subject' }))),
            field('send.message', h('textarea', { name: 'message', rows: 4 })),
            only('sms', h('div', { class: 'row' },
                field('send.from_number', h('input', { name: 'from_number',
                                                       placeholder: t('send.default_sender') })),
                h('label', { class: 'inline' },
                  h('input', { type: 'checkbox', name: 'append_opt_out' }),
                  t('send.append_opt_out')))),
            only('whatsapp',
                field('send.from_address', waFrom),
                field('send.media_urls', h('textarea', { name: 'media_urls', rows: 2 })),
                h('div', { class: 'row' },
                  field('send.content_sid', h('input', { name: 'content_sid', placeholder: 'HX…' })),
                  field('send.content_variables', h('input', { name: 'content_variables',
                                                               placeholder: '{"1":"Ann"}' })))),
            only('email',
                field('send.from_email', mailFrom),
                field('send.html', h('textarea', { name: 'html', rows: 3 })),
                h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'sandbox' }),
                  t('send.sandbox'))),
            h('button', { type: 'submit', disabled: !BC.can('send') }, t('send.submit')),
            result);

        const show = () => {
            const ch = f.channel.value;
            for (const el of f.querySelectorAll('.only')) {
                el.classList.toggle('hidden', !el.classList.contains('only-' + ch));
            }
        };
        f.addEventListener('change', (ev) => { if (ev.target.name === 'channel') { show(); } });
        show();
        fillSenders(waFrom, '/api/whatsapp/senders', (s) => s);
        fillSenders(mailFrom, '/api/email/senders', (s) => s.from_email);

        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const ch = f.channel.value;
            try {
                const r = await BC.api('POST', '/api/send/' + ch, body(f, ch));
                result.textContent = JSON.stringify(r, null, 2);
                result.classList.remove('hidden');
                if (r.batch_id) {
                    statusForm.kind.value = 'batch';
                    statusForm.id.value = r.batch_id;
                }
                BC.toast(t('send.queued', { n: (r.messages || []).length }));
            } catch (e) {
                if (e instanceof SyntaxError) { e.message = t('send.bad_variables'); }
                result.textContent = '';
                result.classList.add('hidden');
                BC.fail(e);
            }
        });
        return f;
    }

    function statusForm() {
        const out = h('div', { id: 'status-out' });
        const f = h('form', { id: 'status-form', class: 'row' },
            h('select', { name: 'kind' },
              h('option', { value: 'batch' }, t('send.kind.batch')),
              h('option', { value: 'status' }, t('send.kind.message')),
              h('option', { value: 'status/twilio' }, t('send.kind.twilio'))),
            h('input', { name: 'id', required: true, placeholder: t('send.lookup_id') }),
            h('button', { type: 'submit' }, t('send.lookup')));
        const columns = [
            { label: 'send.col.id', value: (m) => m.id },
            { label: 'send.col.to', value: (m) => m.to },
            { label: 'send.col.status', value: (m) => h('span', { class: 'status ' + m.status }, m.status) },
            { label: 'send.col.provider_id', value: (m) => m.provider_message_id },
            { label: 'send.col.error', value: (m) => m.error_code
                ? `${m.error_code} ${m.error_message || ''}` : '' },
            { label: 'send.col.price', value: (m) => m.price !== null && m.price !== undefined
                ? `${m.price} ${m.price_unit || ''}` : '' },
            { label: 'send.col.updated', value: (m) => BC.fmt.date(m.updated_at || m.created_at) },
        ];
        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            BC.clear(out).appendChild(h('p', { class: 'hint' }, t('send.loading')));
            try {
                const r = await BC.api('GET', `/api/${f.kind.value}/`
                                       + encodeURIComponent(f.id.value.trim()));
                BC.clear(out).appendChild(BC.table(columns, r.messages || [r],
                    { empty: 'common.none', class: 'status-table' }));
                out.firstChild.id = 'status-table';
            } catch (e) {
                BC.clear(out).appendChild(h('p', { class: 'error' }, e.message));
            }
        });
        return h('div', null, f, out);
    }

    BC.page('send', {
        title: 'nav.send', order: 70, need: 'read',
        render(root) {
            const lookup = statusForm();
            root.appendChild(h('div', { class: 'card', 'data-painted': '' },
                h('h2', null, t('send.title')),
                BC.can('send') ? null : h('p', { class: 'hint' }, t('send.read_only')),
                sendForm(lookup.querySelector('form'))));
            root.appendChild(h('div', { class: 'card' }, h('h2', null, t('send.status_title')),
                               lookup));
        },
    });

    BC.i18n({
        en: {
            'nav.send': 'Send', 'send.title': 'Send a message',
            'send.read_only': 'Your role can look messages up but not send them.',
            'send.channel.sms': 'SMS', 'send.channel.whatsapp': 'WhatsApp',
            'send.channel.email': 'E-mail', 'send.recipients': 'Recipients (one a line or comma-separated)',
            'send.subject': 'Subject', 'send.message': 'Message',
            'send.from_number': 'From number or messaging service (MG…)',
            'send.default_sender': 'the configured default',
            'send.append_opt_out': 'Append the opt-out footer',
            'send.from_address': 'WhatsApp sender', 'send.media_urls': 'Media URLs',
            'send.content_sid': 'Content template SID', 'send.content_variables': 'Content variables (JSON)',
            'send.from_email': 'From address', 'send.html': 'HTML part',
            'send.sandbox': 'Sandbox (validate, do not send)', 'send.submit': 'Send',
            'send.queued': '{n} message(s) queued.',
            'send.bad_variables': 'Content variables must be a JSON object such as {"1":"Ann"}.',
            'send.status_title': 'Status lookup', 'send.kind.batch': 'Batch id',
            'send.kind.message': 'Message id', 'send.kind.twilio': 'Twilio SID',
            'send.lookup_id': 'id', 'send.lookup': 'Look up', 'send.loading': 'Loading…',
            'send.col.id': 'Message', 'send.col.to': 'To', 'send.col.status': 'Status',
            'send.col.provider_id': 'Provider id', 'send.col.error': 'Error',
            'send.col.price': 'Price', 'send.col.updated': 'Updated',
        },
        zh: {
            'nav.send': '发送', 'send.title': '发送消息',
            'send.read_only': '您的角色只能查询消息，不能发送。',
            'send.channel.sms': '短信', 'send.channel.whatsapp': 'WhatsApp',
            'send.channel.email': '邮件', 'send.recipients': '收件人（每行一个或用逗号分隔）',
            'send.subject': '主题', 'send.message': '内容',
            'send.from_number': '发送号码或消息服务（MG…）',
            'send.default_sender': '默认发送方',
            'send.append_opt_out': '附加退订提示',
            'send.from_address': 'WhatsApp 发送方', 'send.media_urls': '媒体链接',
            'send.content_sid': '内容模板 SID', 'send.content_variables': '内容变量（JSON）',
            'send.from_email': '发件地址', 'send.html': 'HTML 正文',
            'send.sandbox': '沙箱（只校验，不发送）', 'send.submit': '发送',
            'send.queued': '已排队 {n} 条消息。',
            'send.bad_variables': '内容变量必须是 JSON 对象，例如 {"1":"Ann"}。',
            'send.status_title': '状态查询', 'send.kind.batch': '批次 ID',
            'send.kind.message': '消息 ID', 'send.kind.twilio': 'Twilio SID',
            'send.lookup_id': 'ID', 'send.lookup': '查询', 'send.loading': '加载中…',
            'send.col.id': '消息', 'send.col.to': '收件人', 'send.col.status': '状态',
            'send.col.provider_id': '服务商 ID', 'send.col.error': '错误',
            'send.col.price': '费用', 'send.col.updated': '更新时间',
        },
    });
})();
