/*
 * The compliance page, in tabs (#/compliance/<tab>): opt-outs and the
 * blacklist (search by address prefix, keyset pages, add, remove) and the
 * keyword auto-reply rules (create, edit, enable/disable, delete). The
 * sender consults these lists on every claim; this page only edits them.
 */
'use strict';

(function () {
    const h = BC.h;
    const t = BC.t;
    const attempt = BC.attempt;
    const pagedTable = BC.pagedTable;
    const PAGE = 50;

    function removeButton(path, reload) {
        return h('button', { type: 'button', class: 'link danger', onclick: async () => {
            if (confirm(t('common.confirm')) && await attempt(() => BC.api('DELETE', path))) {
                reload(true);
            }
        } }, t('comp.remove'));
    }

    /*
     * opt-outs and blacklist share a shape: kind 'opt-outs' (with a
     * channel) or 'blacklist'; the list's JSON member is named by listKey
     */
    function addressList(box, kind, listKey) {
        const manage = BC.can('manage');
        const withChannel = kind === 'opt-outs';
        const id = withChannel ? 'oo' : 'bl';
        const table = h('div');
        const search = h('input', { name: 'search', id: id + '-search', placeholder: t('comp.search') });
        const channel = withChannel ? h('select', { name: 'channel', id: 'oo-channel' },
            h('option', { value: '' }, t('comp.any_channel')),
            ['all', 'sms', 'whatsapp', 'email'].map((c) => h('option', { value: c }, t('comp.channel.' + c))))
            : null;
        const columns = [
            { label: 'comp.address', value: (x) => x.address },
            withChannel ? { label: 'comp.channel', value: (x) => t('comp.channel.' + (x.channel || 'all')) } : null,
            { label: 'comp.reason', value: (x) => x.reason },
            withChannel ? { label: 'comp.source', value: (x) => x.source } : null,
            { label: 'comp.created', value: (x) => BC.fmt.date(x.created_at) },
            manage ? { label: 'comp.actions', value: (x) => removeButton(`/api/${kind}/${x.id}`, load) } : null,
        ].filter(Boolean);
        const load = pagedTable(table, columns, async (cursor) => {
            const q = new URLSearchParams({ limit: PAGE });
            if (search.value.trim()) { q.set('search', search.value.trim()); }
            if (channel && channel.value) { q.set('channel', channel.value); }
            if (cursor) { q.set('cursor', cursor); }
            const r = await BC.api('GET', `/api/${kind}?` + q);
            return { rows: r[listKey], next: r.next_cursor };
        }, id + '-table');
        const filter = h('form', { class: 'row' }, search, channel,
                         h('button', { type: 'submit' }, t('common.search')));
        filter.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });

        const add = h('form', { id: id + '-form', class: 'row', hidden: !manage },
            h('input', { name: 'address', required: true, placeholder: t('comp.address_hint') }),
            withChannel ? h('select', { name: 'channel' },
                ['all', 'sms', 'whatsapp', 'email'].map((c) =>
                    h('option', { value: c === 'all' ? '' : c }, t('comp.channel.' + c)))) : null,
            h('input', { name: 'reason', placeholder: t('comp.reason') }),
            h('button', { type: 'submit' }, t('comp.add')));
        add.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const b = { address: add.address.value.trim() };
            if (add.reason.value.trim()) { b.reason = add.reason.value.trim(); }
            if (withChannel && add.channel.value) { b.channel = add.channel.value; }
            if (await attempt(() => BC.api('POST', '/api/' + kind, b))) {
                add.reset();
                BC.toast(t('comp.added'));
                load(true);
            }
        });
        box.appendChild(h('div', { class: 'card' },
            h('p', { class: 'hint' }, t('comp.help.' + id)), add, filter, table));
        load(true);
    }

    function ruleForm(onsaved) {
        const f = h('form', { id: 'kw-form', class: 'card' },
            h('h3', { class: 'kw-form-title' }, t('comp.rule_new')),
            h('div', { class: 'grid' },
              h('label', null, h('span', null, t('comp.keyword')),
                h('input', { name: 'keyword', required: true })),
              h('label', null, h('span', null, t('comp.match')),
                h('select', { name: 'match_type' }, ['exact', 'contains', 'regex'].map((m) =>
                    h('option', { value: m }, t('comp.match.' + m))))),
              h('label', null, h('span', null, t('comp.channel')),
                h('select', { name: 'channel' }, ['all', 'sms', 'whatsapp'].map((c) =>
                    h('option', { value: c === 'all' ? '' : c }, t('comp.channel.' + c))))),
              h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'enabled', checked: true }),
                t('comp.enabled'))),
            h('label', null, h('span', null, t('comp.response')),
              h('textarea', { name: 'response_text', rows: 2, required: true, maxlength: 1600 })),
            h('div', { class: 'row' },
              h('button', { type: 'submit' }, t('common.save')),
              h('button', { type: 'button', class: 'secondary', onclick: () => f.edit(null) },
                t('common.cancel'))));
        f.edit = (r) => {
            f.dataset.id = r ? r.id : '';
            f.querySelector('.kw-form-title').textContent = t(r ? 'comp.rule_edit' : 'comp.rule_new');
            f.keyword.value = r ? r.keyword : '';
            f.match_type.value = r ? r.match_type : 'exact';
            f.channel.value = r && r.channel ? r.channel : '';
            f.enabled.checked = r ? r.enabled : true;
            f.response_text.value = r ? r.response_text : '';
            if (r) { f.keyword.focus(); }
        };
        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const id = f.dataset.id;
            const b = { keyword: f.keyword.value, match_type: f.match_type.value,
                        channel: f.channel.value || null, enabled: f.enabled.checked,
                        response_text: f.response_text.value };
            if (await attempt(() => (id ? BC.api('PATCH', '/api/keyword-rules/' + id, b)
                                        : BC.api('POST', '/api/keyword-rules', b)))) {
                f.edit(null);
                BC.toast(t('comp.saved'));
                onsaved();
            }
        });
        return f;
    }

    function rules(box) {
        const manage = BC.can('manage');
        const table = h('div');
        const form = manage ? ruleForm(() => load(true)) : null;
        const columns = [
            { label: 'comp.keyword', value: (r) => r.keyword },
            { label: 'comp.match', value: (r) => t('comp.match.' + r.match_type) },
            { label: 'comp.channel', value: (r) => t('comp.channel.' + (r.channel || 'all')) },
            { label: 'comp.response', value: (r) => r.response_text },
            { label: 'comp.enabled', value: (r) => (r.enabled ? '✓' : '—') },
            manage ? { label: 'comp.actions', value: (r) => [
                h('button', { type: 'button', class: 'link', onclick: () => form.edit(r) }, t('common.edit')),
                ' ',
                h('button', { type: 'button', class: 'link', onclick: async () => {
                    if (await attempt(() => BC.api('PATCH', '/api/keyword-rules/' + r.id,
                                                   { enabled: !r.enabled }))) {
                        load(true);
                    }
                } }, t(r.enabled ? 'comp.disable' : 'comp.enable')),
                ' ',
                removeButton('/api/keyword-rules/' + r.id, load),
            ] } : null,
        ].filter(Boolean);
        const load = pagedTable(table, columns, async (cursor) => {
            const r = await BC.api('GET', '/api/keyword-rules?limit=' + PAGE
                                   + (cursor ? '&cursor=' + cursor : ''));
            return { rows: r.keyword_rules, next: r.next_cursor };
        }, 'kw-table');
        box.appendChild(h('div', { class: 'card' }, h('p', { class: 'hint' }, t('comp.help.kw')), table));
        if (form) { box.appendChild(form); }
        load(true);
    }

    const tabs = {
        'opt-outs': (box) => addressList(box, 'opt-outs', 'opt_outs'),
        blacklist: (box) => addressList(box, 'blacklist', 'blacklist'),
        keywords: rules,
    };

    BC.page('compliance', {
        title: 'nav.compliance', order: 60, need: 'read',
        render(root, params) {
            const name = tabs[params.path[0]] ? params.path[0] : 'opt-outs';
            root.appendChild(h('div', { class: 'tabs', id: 'compliance-tabs' }, Object.keys(tabs).map((x) =>
                h('button', { type: 'button', id: 'comp-tab-' + x, class: x === name ? 'active' : '',
                              onclick: () => BC.go('#/compliance/' + x) }, t('comp.tab.' + x)))));
            const box = h('div', { id: 'compliance-' + name });
            root.appendChild(box);
            tabs[name](box);
        },
    });

    BC.i18n({
        en: {
            'nav.compliance': 'Compliance',
            'comp.tab.opt-outs': 'Opt-outs', 'comp.tab.blacklist': 'Blacklist',
            'comp.tab.keywords': 'Keyword rules',
            'comp.help.oo': 'Addresses that asked not to be messaged, on one channel or all. The sender skips them.',
            'comp.help.bl': 'Addresses never messaged on any channel.',
            'comp.help.kw': 'Inbound texts that match a rule (oldest first) are answered with its reply, at most once per address per rule in the reply window.',
            'comp.search': 'Address starts with…', 'comp.any_channel': 'Any channel',
            'comp.channel': 'Channel', 'comp.channel.all': 'All channels', 'comp.channel.sms': 'SMS',
            'comp.channel.whatsapp': 'WhatsApp', 'comp.channel.email': 'E-mail',
            'comp.address': 'Address', 'comp.address_hint': '+14155552671 or name@example.com',
            'comp.reason': 'Reason', 'comp.source': 'Source', 'comp.created': 'Added',
            'comp.actions': 'Actions', 'comp.add': 'Add', 'comp.added': 'Added.',
            'comp.remove': 'Remove', 'comp.keyword': 'Keyword', 'comp.match': 'Match',
            'comp.match.exact': 'whole message', 'comp.match.contains': 'contains',
            'comp.match.regex': 'regular expression', 'comp.response': 'Reply text',
            'comp.enabled': 'Enabled', 'comp.enable': 'Enable', 'comp.disable': 'Disable',
            'comp.rule_new': 'New keyword rule', 'comp.rule_edit': 'Edit keyword rule',
            'comp.saved': 'Rule saved.',
        },
        zh: {
            'nav.compliance': '合规',
            'comp.tab.opt-outs': '退订', 'comp.tab.blacklist': '黑名单',
            'comp.tab.keywords': '关键词规则',
            'comp.help.oo': '要求不再接收消息的地址（单个渠道或全部渠道），发送时会跳过。',
            'comp.help.bl': '任何渠道都不会发送的地址。',
            'comp.help.kw': '匹配规则的入站消息（按创建顺序）会收到该规则的回复；在回复窗口内每个地址每条规则最多回复一次。',
            'comp.search': '地址开头…', 'comp.any_channel': '全部渠道',
            'comp.channel': '渠道', 'comp.channel.all': '所有渠道', 'comp.channel.sms': '短信',
            'comp.channel.whatsapp': 'WhatsApp', 'comp.channel.email': '邮件',
            'comp.address': '地址', 'comp.address_hint': '+8613800138000 或 name@example.com',
            'comp.reason': '原因', 'comp.source': '来源', 'comp.created': '添加时间',
            'comp.actions': '操作', 'comp.add': '添加', 'comp.added': '已添加。',
            'comp.remove': '移除', 'comp.keyword': '关键词', 'comp.match': '匹配方式',
            'comp.match.exact': '整条消息', 'comp.match.contains': '包含',
            'comp.match.regex': '正则表达式', 'comp.response': '回复内容',
            'comp.enabled': '启用', 'comp.enable': '启用', 'comp.disable': '停用',
            'comp.rule_new': '新建关键词规则', 'comp.rule_edit': '编辑关键词规则',
            'comp.saved': '规则已保存。',
        },
    });
})();
