/*
 * The contacts page, in tabs (#/contacts/<tab>): the contact list with
 * search and tag/group filters (#/contacts?q=&tag=&group=, keyset pages of
 * 50 with "load more": a million contacts are never loaded at once), the
 * create/edit form and bulk "add to group"; groups and their members;
 * tags (rename, delete); CSV import with its upload and import progress
 * and per-line errors; export of the filtered list as a plain download.
 */
'use strict';

(function () {
    const h = BC.h;
    const t = BC.t;
    const attempt = BC.attempt;
    const pagedTable = BC.pagedTable;
    const PAGE = 50;

    function field(label, input) {
        return h('label', null, h('span', null, t(label)), input);
    }

    function options(select, items, blank) {
        BC.clear(select).appendChild(h('option', { value: '' }, t(blank)));
        for (const [value, label] of items) {
            select.appendChild(h('option', { value }, label));
        }
    }

    async function groupOptions(select, blank, chosen) {
        const r = await attempt(() => BC.api('GET', '/api/groups?limit=1000'));
        if (r) {
            options(select, r.groups.map((g) => [g.id, g.name]), blank);
            select.value = chosen || '';
        }
    }

    /* ---------- the list ---------- */

    function contactForm(onsaved) {
        const f = h('form', { id: 'ct-form', class: 'card hidden' },
            h('h3', { class: 'ct-form-title' }),
            h('div', { class: 'grid' },
              field('contacts.name', h('input', { name: 'name' })),
              field('contacts.phone', h('input', { name: 'phone', placeholder: '+14155552671' })),
              field('contacts.whatsapp', h('input', { name: 'whatsapp' })),
              field('contacts.email', h('input', { name: 'email', type: 'email' })),
              field('contacts.tags', h('input', { name: 'tags', placeholder: 'vip, beta' })),
              field('contacts.locale', h('input', { name: 'locale', placeholder: 'en-US' })),
              field('contacts.timezone', h('input', { name: 'timezone', placeholder: 'Europe/Berlin' }))),
            h('div', { class: 'row' },
              h('button', { type: 'submit' }, t('common.save')),
              h('button', { type: 'button', class: 'secondary',
                            onclick: () => f.classList.add('hidden') }, t('common.cancel'))));
        const names = ['name', 'phone', 'whatsapp', 'email', 'locale', 'timezone'];
        f.open = (c) => {
            f.dataset.id = c ? c.id : '';
            f.querySelector('.ct-form-title').textContent = t(c ? 'contacts.edit' : 'contacts.new');
            for (const n of names) { f[n].value = c && c[n] ? c[n] : ''; }
            f.tags.value = c ? c.tags.join(', ') : '';
            f.classList.remove('hidden');
            f.name.focus();
        };
        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const id = f.dataset.id;
            const b = {};
            for (const n of names) {
                const v = f[n].value.trim();
                if (v || id) { b[n] = v || null; }
            }
            b.tags = f.tags.value.split(/[,;]/).map((x) => x.trim()).filter(Boolean);
            const c = await attempt(() => (id ? BC.api('PATCH', '/api/contacts/' + id, b)
                                              : BC.api('POST', '/api/contacts', b)));
            if (c) {
                f.classList.add('hidden');
                BC.toast(t('contacts.saved'));
                onsaved();
            }
        });
        return f;
    }

    function list(box, query) {
        const manage = BC.can('manage');
        const filter = { q: query.get('q') || '', tag: query.get('tag') || '',
                         group: query.get('group') || '' };
        const tag = h('select', { name: 'tag', id: 'ct-tag' });
        const group = h('select', { name: 'group', id: 'ct-group' });
        const f = h('form', { id: 'ct-filter', class: 'row' },
            h('input', { name: 'q', id: 'ct-search', value: filter.q, placeholder: t('contacts.search') }),
            tag, group, h('button', { type: 'submit' }, t('common.search')));
        f.addEventListener('submit', (ev) => {
            ev.preventDefault();
            const q = new URLSearchParams();
            for (const k of ['q', 'tag', 'group']) { if (f[k].value) { q.set(k, f[k].value); } }
            BC.go('#/contacts?' + q);
        });
        options(tag, filter.tag ? [[filter.tag, filter.tag]] : [], 'contacts.any_tag');
        tag.value = filter.tag;
        BC.api('GET', '/api/contacts/tags').then((r) => {
            options(tag, r.tags.map((x) => [x.tag, `${x.tag} (${x.count})`]), 'contacts.any_tag');
            tag.value = filter.tag;
        }).catch(BC.fail);
        groupOptions(group, 'contacts.any_group', filter.group);

        const api = new URLSearchParams();
        if (filter.q) { api.set('search', filter.q); }
        if (filter.tag) { api.set('tag', filter.tag); }
        if (filter.group) { api.set('group_id', filter.group); }
        const exportQuery = new URLSearchParams(api);
        exportQuery.delete('search');

        const total = h('span', { id: 'ct-total', class: 'hint' });
        const selected = new Set();
        const table = h('div');
        const form = contactForm(() => load(true));
        const columns = [
            manage ? { label: 'contacts.pick', value: (c) => h('input', { type: 'checkbox',
                class: 'ct-pick', onchange: (ev) => (ev.target.checked ? selected.add(c.id)
                                                                         : selected.delete(c.id)) }) }
                : null,
            { label: 'contacts.name', value: (c) => c.name },
            { label: 'contacts.phone', value: (c) => c.phone },
            { label: 'contacts.whatsapp', value: (c) => c.whatsapp },
            { label: 'contacts.email', value: (c) => c.email },
            { label: 'contacts.tags', value: (c) => c.tags.map((x) => h('span', { class: 'badge' }, x)) },
            { label: 'contacts.created', value: (c) => BC.fmt.date(c.created_at) },
            manage ? { label: 'contacts.actions', value: (c) => [
                h('button', { type: 'button', class: 'link', onclick: () => form.open(c) }, t('common.edit')),
                ' ',
                h('button', { type: 'button', class: 'link danger', onclick: async () => {
                    if (confirm(t('contacts.delete_confirm', { name: c.name || c.phone || c.email || c.id }))
                        && await attempt(() => BC.api('DELETE', '/api/contacts/' + c.id))) {
                        load(true);
                    }
                } }, t('common.delete')),
            ] } : null,
        ].filter(Boolean);
        const load = pagedTable(table, columns, async (cursor) => {
            const q = new URLSearchParams(api);
            q.set('limit', PAGE);
            if (cursor) { q.set('cursor', cursor); }
            const r = await BC.api('GET', '/api/contacts?' + q);
            return { rows: r.contacts, next: r.next_cursor, total: r.total };
        }, 'ct-table', (r) => { total.textContent = t('contacts.total', { n: BC.fmt.num(r.total) }); });

        const bulkGroup = h('select', { id: 'ct-bulk-group' });
        const bulk = h('div', { class: 'row', hidden: !manage }, bulkGroup,
            h('button', { type: 'button', class: 'secondary', id: 'ct-add-to-group', onclick: async () => {
                if (!bulkGroup.value || !selected.size) { BC.toast(t('contacts.pick_first'), 'error'); return; }
                const r = await attempt(() => BC.api('POST', `/api/groups/${bulkGroup.value}/members`,
                                                     { contact_ids: [...selected] }));
                if (r) { BC.toast(t('contacts.added_to_group', { n: r.added })); }
            } }, t('contacts.add_to_group')));
        if (manage) { groupOptions(bulkGroup, 'contacts.choose_group'); }

        box.append(
            h('div', { class: 'card' },
              h('div', { class: 'row' }, f,
                manage ? h('button', { type: 'button', id: 'ct-new', onclick: () => form.open(null) },
                           t('contacts.new')) : null,
                h('a', { class: 'button secondary', id: 'ct-export', download: '',
                         href: '/api/contacts/export' + (String(exportQuery) ? '?' + exportQuery : '') },
                  t('contacts.export'))),
              total, bulk),
            form,
            h('div', { class: 'card' }, table));
        load(true);
    }

    /* ---------- groups ---------- */

    function groups(box) {
        const manage = BC.can('manage');
        const table = h('div');
        const columns = [
            { label: 'contacts.group', value: (g) => h('a', { href: '#/contacts/groups/' + g.id }, g.name) },
            { label: 'contacts.description', value: (g) => g.description },
            { label: 'contacts.members', value: (g) => BC.fmt.num(g.member_count) },
            { label: 'contacts.created', value: (g) => BC.fmt.date(g.created_at) },
            manage ? { label: 'contacts.actions', value: (g) => [
                h('button', { type: 'button', class: 'link', onclick: async () => {
                    const name = prompt(t('contacts.rename_group'), g.name);
                    if (name && await attempt(() => BC.api('PATCH', '/api/groups/' + g.id, { name }))) {
                        load(true);
                    }
                } }, t('contacts.rename')),
                ' ',
                h('button', { type: 'button', class: 'link danger', onclick: async () => {
                    if (confirm(t('contacts.delete_group_confirm', { name: g.name }))
                        && await attempt(() => BC.api('DELETE', '/api/groups/' + g.id))) {
                        load(true);
                    }
                } }, t('common.delete')),
            ] } : null,
        ].filter(Boolean);
        const load = pagedTable(table, columns, async (cursor) => {
            const r = await BC.api('GET', '/api/groups?limit=' + PAGE + (cursor ? '&cursor=' + cursor : ''));
            return { rows: r.groups, next: r.next_cursor };
        }, 'grp-table');
        const f = h('form', { id: 'grp-form', class: 'row', hidden: !manage },
            h('input', { name: 'name', required: true, placeholder: t('contacts.group') }),
            h('input', { name: 'description', placeholder: t('contacts.description') }),
            h('button', { type: 'submit' }, t('common.create')));
        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            if (await attempt(() => BC.api('POST', '/api/groups', { name: f.name.value,
                description: f.description.value || null }))) {
                f.reset();
                load(true);
            }
        });
        box.appendChild(h('div', { class: 'card' }, f, table));
        load(true);
    }

    async function members(box, id) {
        const manage = BC.can('manage');
        const g = await BC.api('GET', '/api/groups/' + id);
        const table = h('div');
        const columns = [
            { label: 'contacts.name', value: (c) => c.name },
            { label: 'contacts.phone', value: (c) => c.phone },
            { label: 'contacts.email', value: (c) => c.email },
            { label: 'contacts.tags', value: (c) => c.tags.join(', ') },
            manage ? { label: 'contacts.actions', value: (c) => h('button', {
                type: 'button', class: 'link danger', onclick: async () => {
                    if (await attempt(() => BC.api('DELETE', `/api/groups/${id}/members`,
                                                   { contact_ids: [c.id] }))) {
                        load(true);
                    }
                } }, t('contacts.remove')) } : null,
        ].filter(Boolean);
        const count = h('span', { class: 'hint', id: 'members-total' });
        const load = pagedTable(table, columns, async (cursor) => {
            const r = await BC.api('GET', `/api/groups/${id}/members?limit=${PAGE}`
                                   + (cursor ? '&cursor=' + cursor : ''));
            return { rows: r.members, next: r.next_cursor, total: r.total };
        }, 'members-table', (r) => { count.textContent = t('contacts.total', { n: BC.fmt.num(r.total) }); });
        const f = h('form', { id: 'members-add', class: 'row', hidden: !manage },
            h('input', { name: 'ids', required: true, placeholder: t('contacts.member_ids') }),
            h('button', { type: 'submit' }, t('contacts.add_members')));
        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const ids = f.ids.value.split(/[\s,]+/).filter(Boolean).map(Number);
            const r = await attempt(() => BC.api('POST', `/api/groups/${id}/members`, { contact_ids: ids }));
            if (r) {
                f.reset();
                BC.toast(t('contacts.added_to_group', { n: r.added }));
                load(true);
            }
        });
        box.appendChild(h('div', { class: 'card' },
            h('h2', null, h('a', { href: '#/contacts/groups' }, t('contacts.tab.groups')), ' › ', g.name),
            g.description ? h('p', { class: 'hint' }, g.description) : null,
            h('div', { class: 'row' }, f, count), table));
        load(true);
    }

    /* ---------- tags ---------- */

    function tags(box) {
        const manage = BC.can('manage');
        const table = h('div');
        const columns = [
            { label: 'contacts.tag', value: (x) => h('a', { href: '#/contacts?tag=' + encodeURIComponent(x.tag) }, x.tag) },
            { label: 'contacts.count', value: (x) => BC.fmt.num(x.count) },
            manage ? { label: 'contacts.actions', value: (x) => [
                h('button', { type: 'button', class: 'link', onclick: async () => {
                    const to = prompt(t('contacts.rename_tag'), x.tag);
                    if (to && to !== x.tag && await attempt(() => BC.api('POST', '/api/contacts/tags/rename',
                                                                 { from_tag: x.tag, to_tag: to }))) {
                        load(true);
                    }
                } }, t('contacts.rename')),
                ' ',
                h('button', { type: 'button', class: 'link danger', onclick: async () => {
                    if (confirm(t('contacts.delete_tag_confirm', { tag: x.tag, n: x.count }))
                        && await attempt(() => BC.api('DELETE', '/api/contacts/tags/'
                                                      + encodeURIComponent(x.tag)))) {
                        load(true);
                    }
                } }, t('common.delete')),
            ] } : null,
        ].filter(Boolean);
        const load = pagedTable(table, columns, async () => {
            const r = await BC.api('GET', '/api/contacts/tags');
            return { rows: r.tags, next: null };
        }, 'tags-table');
        box.appendChild(h('div', { class: 'card' }, table));
        load(true);
    }

    /* ---------- CSV import ---------- */

    function importer(box) {
        const upload = h('progress', { id: 'imp-upload', max: 1, value: 0 });
        const pct = h('span', { id: 'imp-upload-pct', class: 'hint' });
        const status = h('div', { id: 'imp-status' });
        const errors = h('div', { id: 'imp-errors-box' });
        const group = h('select', { name: 'group_id' });
        const f = h('form', { id: 'imp-form', 'data-painted': '' },
            field('contacts.csv_file', h('input', { name: 'file', type: 'file', required: true,
                                                   accept: '.csv,text/csv,text/plain' })),
            h('div', { class: 'row' },
              field('contacts.import_tags', h('input', { name: 'tags', placeholder: 'imported, 2026' })),
              field('contacts.import_group', group)),
            h('button', { type: 'submit', disabled: !BC.can('manage') }, t('contacts.upload')),
            h('div', { class: 'row' }, upload, pct));
        groupOptions(group, 'contacts.no_group');
        const showUpload = (x) => {
            upload.value = x;
            pct.textContent = Math.round(100 * x) + '%';
        };
        let importId = null;
        const poll = async () => {
            if (!importId) { return; }
            const r = await BC.api('GET', '/api/contacts/imports/' + importId);
            BC.clear(status).appendChild(h('div', null,
                h('p', null, h('span', { class: 'status ' + r.status, id: 'imp-state' }, t('contacts.import.' + r.status)),
                  ' ', t('contacts.import_counts', { rows: BC.fmt.num(r.rows), created: BC.fmt.num(r.created),
                                                       updated: BC.fmt.num(r.updated),
                                                       rejected: BC.fmt.num(r.rejected) })),
                r.message ? h('p', { class: 'error' }, r.message) : null));
            if (r.status !== 'running') {
                importId = null;
                const table = BC.table([
                    { label: 'contacts.line', value: (e) => e.line },
                    { label: 'contacts.error', value: (e) => e.error },
                ], r.errors || [], { empty: 'contacts.no_errors' });
                table.id = 'imp-errors';
                BC.clear(errors).append(h('h3', null, t('contacts.rejected_lines')), table);
            }
        };
        f.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const file = f.file.files[0];
            const q = new URLSearchParams();
            if (f.tags.value.trim()) { q.set('tags', f.tags.value.trim()); }
            if (group.value) { q.set('group_id', group.value); }
            showUpload(0);
            BC.clear(status);
            BC.clear(errors);
            const progress = (x) => {
                upload.dataset.sent = x;    /* what the browser reported, for the tests */
                showUpload(x);
            };
            const r = await attempt(() => BC.api('POST', '/api/contacts/import' + (String(q) ? '?' + q : ''),
                                                 file, { type: 'text/csv', onUploadProgress: progress }));
            if (!r) { return; }
            /* the answer comes once the whole body is in, whatever events fired */
            showUpload(1);
            importId = r.import_id;
            status.dataset.importId = r.import_id;
        });
        BC.every(1000, poll);
        box.appendChild(h('div', { class: 'card' }, h('p', { class: 'hint' }, t('contacts.import_help')),
                          f, status, errors));
    }

    const tabs = { list, groups, tags, import: importer };

    BC.page('contacts', {
        title: 'nav.contacts', order: 20, need: 'read',
        async render(root, params) {
            const name = tabs[params.path[0]] ? params.path[0] : 'list';
            root.appendChild(h('div', { class: 'tabs', id: 'contacts-tabs' }, Object.keys(tabs).map((x) =>
                h('button', { type: 'button', id: 'ct-tab-' + x, class: x === name ? 'active' : '',
                              onclick: () => BC.go('#/contacts/' + (x === 'list' ? '' : x)) },
                  t('contacts.tab.' + x)))));
            const box = h('div', { id: 'contacts-' + name });
            root.appendChild(box);
            if (name === 'groups' && params.path[1]) {
                await members(box, params.path[1]);
            } else if (name === 'list') {
                list(box, params.query);
            } else {
                tabs[name](box);
            }
        },
    });

    BC.i18n({
        en: {
            'nav.contacts': 'Contacts',
            'contacts.tab.list': 'Contacts', 'contacts.tab.groups': 'Groups',
            'contacts.tab.tags': 'Tags', 'contacts.tab.import': 'Import',
            'contacts.search': 'Name, phone or e-mail starts with…', 'contacts.any_tag': 'Any tag',
            'contacts.any_group': 'Any group', 'contacts.total': '{n} contacts',
            'contacts.pick': '✓', 'contacts.name': 'Name', 'contacts.phone': 'Phone',
            'contacts.whatsapp': 'WhatsApp', 'contacts.email': 'E-mail', 'contacts.tags': 'Tags',
            'contacts.locale': 'Locale', 'contacts.timezone': 'Time zone',
            'contacts.created': 'Created', 'contacts.actions': 'Actions',
            'contacts.new': 'New contact', 'contacts.edit': 'Edit contact', 'contacts.saved': 'Contact saved.',
            'contacts.delete_confirm': 'Delete contact {name}?', 'contacts.export': 'Export CSV',
            'contacts.choose_group': 'Choose a group…', 'contacts.add_to_group': 'Add selected to group',
            'contacts.pick_first': 'Tick some contacts and choose a group first.',
            'contacts.added_to_group': '{n} added to the group.',
            'contacts.group': 'Group', 'contacts.description': 'Description',
            'contacts.members': 'Members', 'contacts.rename': 'Rename', 'contacts.remove': 'Remove',
            'contacts.rename_group': 'New name of the group', 'contacts.rename_tag': 'New name of the tag',
            'contacts.delete_group_confirm': 'Delete group {name}? Its contacts stay.',
            'contacts.member_ids': 'Contact ids, comma-separated', 'contacts.add_members': 'Add members',
            'contacts.tag': 'Tag', 'contacts.count': 'Contacts',
            'contacts.delete_tag_confirm': 'Remove tag {tag} from {n} contacts?',
            'contacts.import_help': 'A CSV file with a header line: name, phone, whatsapp, email, tags (split on ;), locale, timezone; other columns become attributes. Rows are matched by address, so a re-import updates.',
            'contacts.csv_file': 'CSV file', 'contacts.import_tags': 'Add tags to every row',
            'contacts.import_group': 'Add every row to group', 'contacts.no_group': 'No group',
            'contacts.upload': 'Upload and import',
            'contacts.import.running': 'importing', 'contacts.import.done': 'done',
            'contacts.import.failed': 'failed',
            'contacts.import_counts': '{rows} rows: {created} created, {updated} updated, {rejected} rejected',
            'contacts.rejected_lines': 'Rejected lines', 'contacts.no_errors': 'No line was rejected.',
            'contacts.line': 'Line', 'contacts.error': 'Why',
        },
        zh: {
            'nav.contacts': '联系人',
            'contacts.tab.list': '联系人', 'contacts.tab.groups': '分组',
            'contacts.tab.tags': '标签', 'contacts.tab.import': '导入',
            'contacts.search': '姓名、电话或邮箱开头…', 'contacts.any_tag': '全部标签',
            'contacts.any_group': '全部分组', 'contacts.total': '共 {n} 个联系人',
            'contacts.pick': '✓', 'contacts.name': '姓名', 'contacts.phone': '电话',
            'contacts.whatsapp': 'WhatsApp', 'contacts.email': '邮箱', 'contacts.tags': '标签',
            'contacts.locale': '语言', 'contacts.timezone': '时区',
            'contacts.created': '创建时间', 'contacts.actions': '操作',
            'contacts.new': '新建联系人', 'contacts.edit': '编辑联系人', 'contacts.saved': '联系人已保存。',
            'contacts.delete_confirm': '删除联系人 {name}？', 'contacts.export': '导出 CSV',
            'contacts.choose_group': '选择分组…', 'contacts.add_to_group': '将所选加入分组',
            'contacts.pick_first': '请先勾选联系人并选择分组。',
            'contacts.added_to_group': '已有 {n} 个加入分组。',
            'contacts.group': '分组', 'contacts.description': '说明',
            'contacts.members': '成员', 'contacts.rename': '重命名', 'contacts.remove': '移除',
            'contacts.rename_group': '分组的新名称', 'contacts.rename_tag': '标签的新名称',
            'contacts.delete_group_confirm': '删除分组 {name}？其中的联系人会保留。',
            'contacts.member_ids': '联系人 ID，用逗号分隔', 'contacts.add_members': '添加成员',
            'contacts.tag': '标签', 'contacts.count': '联系人数',
            'contacts.delete_tag_confirm': '从 {n} 个联系人中移除标签 {tag}？',
            'contacts.import_help': 'CSV 文件，首行为表头：name/姓名、phone/手机号、whatsapp、email/邮箱、tags/标签（用 ; 分隔）、locale、timezone；其他列作为属性保存。按地址匹配，重复导入会更新。',
            'contacts.csv_file': 'CSV 文件', 'contacts.import_tags': '给每行添加标签',
            'contacts.import_group': '将每行加入分组', 'contacts.no_group': '不加入分组',
            'contacts.upload': '上传并导入',
            'contacts.import.running': '导入中', 'contacts.import.done': '已完成',
            'contacts.import.failed': '失败',
            'contacts.import_counts': '{rows} 行：新建 {created}，更新 {updated}，拒绝 {rejected}',
            'contacts.rejected_lines': '被拒绝的行', 'contacts.no_errors': '没有被拒绝的行。',
            'contacts.line': '行号', 'contacts.error': '原因',
        },
    });
})();
