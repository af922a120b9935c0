/*
 * The templates page: our message templates per channel (list, editor with
 * the detected {{variables}} and a live SMS segment counter, preview for a
 * contact, send history) and the WhatsApp providers' own templates.
 *
 * #/templates          the list and the providers' templates
 * #/templates/new      the editor, empty
 * #/templates/12       the editor for template 12, its preview and history
 */
'use strict';

(function () {
    const h = BC.h;
    /* one per render; a render still awaiting when the page moves on draws nothing */
    let visit = 0;

    /* ---------- SMS segments, as common/bc_segments.c counts them ---------- */

    /* the default alphabet outside ASCII (GSM 03.38 6.2.1) */
    const GSM_BASIC = new Set([
        0x00a1, 0x00a3, 0x00a4, 0x00a5, 0x00a7, 0x00bf, 0x00c4, 0x00c5,
        0x00c6, 0x00c7, 0x00c9, 0x00d1, 0x00d6, 0x00d8, 0x00dc, 0x00df,
        0x00e0, 0x00e4, 0x00e5, 0x00e6, 0x00e8, 0x00e9, 0x00ec, 0x00f1,
        0x00f2, 0x00f6, 0x00f8, 0x00f9, 0x00fc, 0x0393, 0x0394, 0x0398,
        0x039b, 0x039e, 0x03a0, 0x03a3, 0x03a6, 0x03a8, 0x03a9]);
    /* the extension table: an escape septet, then the character's */
    const GSM_EXT = new Set([0x000c, 0x005b, 0x005c, 0x005d, 0x005e, 0x007b,
                             0x007c, 0x007d, 0x007e, 0x20ac]);

    function gsmCost(cp) {
        if (GSM_EXT.has(cp)) { return 2; }
        if ((cp >= 0x20 && cp < 0x7f && cp !== 0x60) || cp === 10 || cp === 13) { return 1; }
        return GSM_BASIC.has(cp) ? 1 : 0;
    }

    /* a character that does not fit whole moves to the next part */
    function pack(cps, ucs2, part) {
        let parts = 1, used = 0;
        for (const cp of cps) {
            const w = ucs2 ? (cp > 0xffff ? 2 : 1) : gsmCost(cp);
            if (used + w > part) { parts++; used = 0; }
            used += w;
        }
        return parts;
    }

    /* {characters, encoding: 'GSM-7'|'UCS-2', units, segments} */
    BC.smsSegments = function (text) {
        const cps = Array.from(text || '', (c) => c.codePointAt(0));
        let septets = 0, utf16 = 0, gsm = true;
        for (const cp of cps) {
            const cost = gsmCost(cp);
            if (!cost) { gsm = false; }
            septets += cost;
            utf16 += cp > 0xffff ? 2 : 1;
        }
        const units = gsm ? septets : utf16;
        let segments = 0;
        if (units > 0) {
            segments = units <= (gsm ? 160 : 70) ? 1 : pack(cps, !gsm, gsm ? 153 : 67);
        }
        return { characters: cps.length, encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments };
    };

    /* the placeholder rule of the API: {{name}}, [A-Za-z0-9_.]{1,64} */
    BC.templateVariables = function (...texts) {
        const seen = [];
        for (const t of texts) {
            for (const m of (t || '').matchAll(/\{\{[ \t]*([A-Za-z0-9_.]{1,64})[ \t]*\}\}/g)) {
                if (!seen.includes(m[1])) { seen.push(m[1]); }
            }
        }
        return seen;
    };

    /* ---------- the list ---------- */

    async function renderList(root, params) {
        const channel = params.query.get('channel') || '';
        const select = h('select', { id: 'tpl-channel', onchange: () =>
            BC.go('#/templates' + (select.value ? '?channel=' + select.value : '')) },
            ['', 'sms', 'whatsapp', 'email'].map((c) =>
                h('option', { value: c, selected: c === channel },
                  c ? BC.t('channel.' + c) : BC.t('tpl.all_channels'))));
        const box = h('div', { id: 'tpl-list' }, h('p', { class: 'hint' }, BC.t('common.loading')));
        root.appendChild(h('section', { class: 'card' },
            h('div', { class: 'row' }, h('h2', { class: 'grow' }, BC.t('nav.templates')), select,
              BC.can('manage') && h('button', { id: 'tpl-new', type: 'button',
                  onclick: () => BC.go('#/templates/new') }, BC.t('tpl.new'))),
            box));
        root.appendChild(providerCard());
        let cursor = null;
        const more = h('button', { class: 'secondary hidden', type: 'button', onclick: () => load() },
                       BC.t('common.more'));
        const rows = [];
        async function load() {
            const q = new URLSearchParams({ limit: 50 });
            if (channel) { q.set('channel', channel); }
            if (cursor) { q.set('cursor', cursor); }
            try {
                const r = await BC.api('GET', '/api/templates?' + q);
                rows.push(...r.templates);
                cursor = r.next_cursor;
                BC.clear(box).appendChild(BC.table([
                    { label: 'tpl.name', value: (t) => t.name },
                    { label: 'tpl.channel', value: (t) => BC.t('channel.' + t.channel) },
                    { label: 'tpl.variables', value: (t) => (t.variables || []).join(', ') },
                    { label: 'tpl.updated', value: (t) => BC.fmt.date(t.updated_at) },
                ], rows, { empty: 'tpl.empty', onrow: (t, tr) => {
                    tr.classList.add('clickable');
                    tr.addEventListener('click', () => BC.go('#/templates/' + t.id));
                } }));
                box.appendChild(more);
                more.classList.toggle('hidden', !cursor);
            } catch (e) {
                BC.clear(box).appendChild(h('p', { class: 'error' }, e.message));
                BC.fail(e);
            }
        }
        await load();
    }

    /* the providers' WhatsApp templates (Twilio Content, Meta), paged */
    function providerCard() {
        const provider = h('select', { id: 'wa-provider' },
            h('option', { value: 'twilio' }, 'Twilio Content'), h('option', { value: 'meta' }, 'Meta'));
        const search = h('input', { id: 'wa-search', placeholder: BC.t('common.search') });
        const out = h('div', { id: 'wa-templates' });
        let token = '';
        async function load(next) {
            token = next ? token : '';
            const q = new URLSearchParams({ provider: provider.value, limit: 20 });
            if (search.value) { q.set('search', search.value); }
            if (token) { q.set('page_token', token); }
            BC.clear(out).appendChild(h('p', { class: 'hint' }, BC.t('common.loading')));
            try {
                const r = await BC.api('GET', '/api/whatsapp/templates?' + q);
                token = r.next_page_token || '';
                out.dataset.provider = provider.value;
                BC.clear(out).appendChild(BC.table([
                    { label: 'tpl.name', value: (t) => t.name || t.friendly_name || '' },
                    { label: 'tpl.id', value: (t) => t.id || t.sid || '' },
                    { label: 'tpl.language', value: (t) => t.language || '' },
                    { label: 'tpl.status', value: (t) => t.status || t.approval_status || '' },
                ], r.templates || [], { empty: 'common.none', onrow: (t, tr) => {
                    if (!BC.can('manage')) { return; }
                    /* one of ours that sends this provider template */
                    const q = new URLSearchParams({ channel: 'whatsapp', name: t.name || t.friendly_name || '',
                                                    language: t.language || '' });
                    q.set(provider.value === 'meta' ? 'provider_name' : 'content_sid',
                          provider.value === 'meta' ? t.name || '' : t.sid || t.id || '');
                    tr.classList.add('clickable');
                    tr.title = BC.t('tpl.use_provider');
                    tr.addEventListener('click', () => BC.go('#/templates/new?' + q));
                } }));
                if (token) {
                    out.appendChild(h('button', { class: 'secondary', type: 'button',
                                                  onclick: () => load(true) }, BC.t('common.more')));
                }
            } catch (e) {
                out.dataset.provider = provider.value;
                BC.clear(out).appendChild(h('p', { class: 'error' }, e.message));
            }
        }
        return h('section', { class: 'card' }, h('h2', null, BC.t('tpl.provider_templates')),
            h('div', { class: 'row' }, provider, search,
              h('button', { id: 'wa-load', type: 'button', class: 'secondary',
                            onclick: () => load(false) }, BC.t('tpl.browse'))),
            out);
    }

    /* ---------- the editor ---------- */

    function field(label, input) {
        return h('label', null, h('span', null, BC.t(label)), input);
    }

    async function renderEditor(root, id, query) {
        /* a new one may come prefilled (from a provider template) */
        let tpl = { channel: 'sms', name: '', body: '', language: '', subject: '', html: '',
                    content_sid: '', provider_name: '' };
        for (const k of Object.keys(tpl)) {
            if (!id && query && query.get(k)) { tpl[k] = query.get(k); }
        }
        const me = visit;
        if (id) {
            root.appendChild(h('p', { class: 'hint' }, BC.t('common.loading')));
            tpl = await BC.api('GET', '/api/templates/' + encodeURIComponent(id));
            if (me !== visit) { return; }
            BC.clear(root);
        }
        const f = {
            channel: h('select', { name: 'channel', disabled: !!id },
                ['sms', 'whatsapp', 'email'].map((c) =>
                    h('option', { value: c, selected: c === tpl.channel }, BC.t('channel.' + c)))),
            name: h('input', { name: 'name', value: tpl.name || '', required: true }),
            language: h('input', { name: 'language', value: tpl.language || '' }),
            subject: h('input', { name: 'subject', value: tpl.subject || '' }),
            body: h('textarea', { name: 'body', id: 'tpl-body', rows: 6, value: tpl.body || '' }),
            html: h('textarea', { name: 'html', rows: 4, value: tpl.html || '' }),
            content_sid: h('input', { name: 'content_sid', value: tpl.content_sid || '' }),
            provider_name: h('input', { name: 'provider_name', value: tpl.provider_name || '' }),
        };
        const vars = h('div', { id: 'tpl-vars', class: 'chips' });
        const counter = h('p', { id: 'tpl-segments', class: 'hint' });
        const only = {
            subject: field('tpl.subject', f.subject), html: field('tpl.html', f.html),
            content_sid: field('tpl.content_sid', f.content_sid),
            provider_name: field('tpl.provider_name', f.provider_name),
        };
        function live() {
            const ch = f.channel.value;
            only.subject.classList.toggle('hidden', ch !== 'email');
            only.html.classList.toggle('hidden', ch !== 'email');
            only.content_sid.classList.toggle('hidden', ch !== 'whatsapp');
            only.provider_name.classList.toggle('hidden', ch !== 'whatsapp');
            const names = BC.templateVariables(f.subject.value, f.body.value, f.html.value);
            BC.clear(vars).append(...(names.length
                ? names.map((n) => h('span', { class: 'badge' }, n))
                : [h('span', { class: 'hint' }, BC.t('tpl.no_variables'))]));
            const s = BC.smsSegments(f.body.value);
            counter.dataset.encoding = s.encoding;
            counter.dataset.segments = s.segments;
            counter.dataset.characters = s.characters;
            counter.textContent = ch === 'email' ? ''
                : BC.t('tpl.segments', { chars: s.characters, enc: s.encoding, n: s.segments });
        }
        for (const k of ['channel', 'subject', 'body', 'html']) {
            f[k].addEventListener('input', live);
        }
        async function save(ev) {
            ev.preventDefault();
            /* the fields the channel shows; on a PATCH an emptied optional
               field is null (cleared), an emptied name stays "" for the
               API to refuse by name */
            const body = {};
            for (const k of Object.keys(f)) {
                if ((k === 'channel' && id) || (only[k] && only[k].classList.contains('hidden'))) { continue; }
                const v = f[k].value;
                body[k] = v === '' && id && k !== 'name' ? null : v;
            }
            try {
                const r = id ? await BC.api('PATCH', '/api/templates/' + id, body)
                             : await BC.api('POST', '/api/templates', body);
                BC.toast(BC.t('tpl.saved'));
                if (!id) { BC.go('#/templates/' + r.id); }
            } catch (e) { BC.fail(e); }
        }
        async function remove() {
            if (!confirm(BC.t('common.confirm'))) { return; }
            try {
                await BC.api('DELETE', '/api/templates/' + id);
                BC.go('#/templates');
            } catch (e) { BC.fail(e); }
        }
        const canEdit = BC.can('manage');
        root.appendChild(h('section', { class: 'card' },
            h('h2', null, id ? BC.t('tpl.edit', { name: tpl.name }) : BC.t('tpl.new')),
            h('form', { id: 'tpl-form', onsubmit: save },
                h('div', { class: 'row' }, field('tpl.channel', f.channel), field('tpl.name', f.name),
                  field('tpl.language', f.language)),
                only.subject, field('tpl.body', f.body), counter,
                h('div', null, h('span', { class: 'hint' }, BC.t('tpl.variables') + ': '), vars),
                only.html, only.content_sid, only.provider_name,
                h('div', { class: 'row' },
                  canEdit && h('button', { type: 'submit', id: 'tpl-save' }, BC.t('common.save')),
                  canEdit && id && h('button', { type: 'button', class: 'danger', onclick: remove },
                                     BC.t('common.delete')),
                  h('a', { href: '#/templates' }, BC.t('tpl.back'))))));
        live();
        if (id) {
            root.appendChild(previewCard(tpl));
            const history = await historyCard(tpl);
            if (me === visit) { root.appendChild(history); }
        }
    }

    /* preview for a contact (and extra variables): the API's rendering */
    function previewCard(tpl) {
        const contact = h('input', { id: 'tpl-preview-contact', type: 'number', min: 1,
                                     placeholder: BC.t('tpl.contact_id') });
        const extra = h('input', { id: 'tpl-preview-vars', placeholder: 'name=Ada, code=42' });
        const out = h('div', { id: 'tpl-preview' });
        async function run() {
            const body = {};
            if (contact.value) { body.contact_id = Number(contact.value); }
            const vars = parsePairs(extra.value);
            if (Object.keys(vars).length) { body.variables = vars; }
            try {
                const r = await BC.api('POST', `/api/templates/${tpl.id}/preview`, body);
                BC.clear(out).append(
                    r.rendered.subject ? h('p', null, h('b', null, r.rendered.subject)) : '',
                    h('pre', { id: 'tpl-preview-body' }, r.rendered.body || ''),
                    h('p', { class: 'hint', id: 'tpl-preview-count', dataset: {
                        encoding: r.encoding || '', characters: r.characters,
                        segments: r.segments === undefined ? '' : r.segments } },
                      r.encoding ? BC.t('tpl.segments', { chars: r.characters, enc: r.encoding,
                                                          n: r.segments }) : ''),
                    r.missing && r.missing.length
                        ? h('p', { class: 'warn' }, BC.t('tpl.missing', { names: r.missing.join(', ') })) : '');
            } catch (e) { BC.fail(e); }
        }
        return h('section', { class: 'card' }, h('h2', null, BC.t('tpl.preview')),
            h('div', { class: 'row' }, contact, extra,
              h('button', { id: 'tpl-preview-run', type: 'button', onclick: run }, BC.t('tpl.preview'))),
            out);
    }

    async function historyCard(tpl) {
        const box = h('div', { id: 'tpl-history' });
        let cursor = null;
        const rows = [];
        async function load() {
            const q = new URLSearchParams({ limit: 50 });
            if (cursor) { q.set('cursor', cursor); }
            try {
                const r = await BC.api('GET', `/api/templates/${tpl.id}/history?` + q);
                rows.push(...r.history);
                cursor = r.next_cursor;
                BC.clear(box).appendChild(BC.table([
                    { label: 'tpl.address', value: (x) => x.address },
                    { label: 'tpl.campaign', value: (x) => x.campaign_id
                        ? h('a', { href: '#/campaigns/' + x.campaign_id }, x.campaign_name || String(x.campaign_id))
                        : '' },
                    { label: 'tpl.status', value: (x) => h('span', { class: 'status ' + (x.status || '') },
                                                           x.status || '') },
                    { label: 'tpl.sent_at', value: (x) => BC.fmt.date(x.sent_at || x.created_at) },
                ], rows, { empty: 'tpl.no_history' }));
                if (cursor) {
                    box.appendChild(h('button', { class: 'secondary', type: 'button', onclick: load },
                                      BC.t('common.more')));
                }
            } catch (e) { BC.clear(box).appendChild(h('p', { class: 'error' }, e.message)); }
        }
        await load();
        return h('section', { class: 'card' }, h('h2', null, BC.t('tpl.history')), box);
    }

    /* "a=1, b=two" -> {a: '1', b: 'two'} */
    function parsePairs(text) {
        const out = {};
        for (const part of (text || '').split(/[,\n]/)) {
            const i = part.indexOf('=');
            if (i > 0) { out[part.slice(0, i).trim()] = part.slice(i + 1).trim(); }
        }
        return out;
    }
    BC.parsePairs = parsePairs;

    BC.page('templates', {
        title: 'nav.templates', order: 30, need: 'read',
        leave: () => { visit++; },
        render: (root, params) => {
            visit++;
            const id = params.path[0];
            if (id === 'new') { return renderEditor(root, null, params.query); }
            if (id) { return renderEditor(root, id, null); }
            return renderList(root, params);
        },
    });

    BC.i18n({
        en: {
            'nav.templates': 'Templates',
            'channel.sms': 'SMS', 'channel.whatsapp': 'WhatsApp', 'channel.email': 'E-mail',
            'tpl.all_channels': 'All channels', 'tpl.new': 'New template',
            'tpl.edit': 'Template “{name}”', 'tpl.name': 'Name', 'tpl.channel': 'Channel',
            'tpl.language': 'Language', 'tpl.subject': 'Subject', 'tpl.body': 'Text',
            'tpl.html': 'HTML', 'tpl.content_sid': 'Twilio Content SID (HX…)',
            'tpl.provider_name': 'Meta template name', 'tpl.variables': 'Variables',
            'tpl.no_variables': 'none', 'tpl.updated': 'Updated', 'tpl.empty': 'No templates yet.',
            'tpl.segments': '{chars} characters · {enc} · {n} SMS segment(s)',
            'tpl.saved': 'Template saved.', 'tpl.back': 'Back to templates',
            'tpl.preview': 'Preview', 'tpl.contact_id': 'Contact id',
            'tpl.missing': 'No value for: {names}', 'tpl.history': 'Send history',
            'tpl.no_history': 'Nobody has had this template yet.', 'tpl.address': 'Address',
            'tpl.campaign': 'Campaign', 'tpl.status': 'Status', 'tpl.sent_at': 'Sent',
            'tpl.provider_templates': 'WhatsApp provider templates', 'tpl.browse': 'Browse',
            'tpl.id': 'Id', 'tpl.use_provider': 'Make a template of ours that sends it',
        },
        zh: {
            'nav.templates': '模板',
            'channel.sms': '短信', 'channel.whatsapp': 'WhatsApp', 'channel.email': '电子邮件',
            'tpl.all_channels': '全部渠道', 'tpl.new': '新建模板',
            'tpl.edit': '模板“{name}”', 'tpl.name': '名称', 'tpl.channel': '渠道',
            'tpl.language': '语言', 'tpl.subject': '主题', 'tpl.body': '正文',
            'tpl.html': 'HTML', 'tpl.content_sid': 'Twilio 内容 SID（HX…）',
            'tpl.provider_name': 'Meta 模板名称', 'tpl.variables': '变量',
            'tpl.no_variables': '无', 'tpl.updated': '更新时间', 'tpl.empty': '暂无模板。',
            'tpl.segments': '{chars} 个字符 · {enc} · {n} 条短信',
            'tpl.saved': '模板已保存。', 'tpl.back': '返回模板列表',
            'tpl.preview': '预览', 'tpl.contact_id': '联系人 ID',
            'tpl.missing': '缺少变量值：{names}', 'tpl.history': '发送记录',
            'tpl.no_history': '尚无人收到此模板。', 'tpl.address': '地址',
            'tpl.campaign': '活动', 'tpl.status': '状态', 'tpl.sent_at': '发送时间',
            'tpl.provider_templates': 'WhatsApp 服务商模板', 'tpl.browse': '浏览',
            'tpl.id': 'ID', 'tpl.use_provider': '基于此模板新建我们的模板',
        },
    });
})();
