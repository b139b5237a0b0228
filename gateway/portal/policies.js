// Policies (政策): an enterprise's inbox of the policies pushed to it, the
// published policies and the drafts open for consultation (征求意见), one
// policy with its articles, the comments on it and their answers, questions
// and answers, and the enterprise's review of how it is implemented.

import { get, post } from './api.js';
import {
  badge, departmentLabel, enumOptions, errorBox, facts, field, filterBar, form, formatTime, h, is,
  jurisdictionLabel, jurisdictionOptions, label, link, may, notice, pager, rootCode, route, section, table,
} from './ui.js';

const enc = encodeURIComponent;
const PAGE_SIZE = 20;

// ---------------------------------------------------------------------------
// The inbox (政策推送).

export async function inbox({ query, refresh }) {
  const page = await get('/v1/inbox', { unreadOnly: query.unreadOnly === 'true', pageSize: PAGE_SIZE, pageToken: query.pageToken });
  const items = page.items ?? [];
  const unread = items.filter((item) => !item.readTime);
  const rows = items.map((item) => [
    h('span', { class: item.readTime ? 'read' : 'unread' }, item.readTime ? '已读' : '未读'),
    link(route(`/policies/${enc(item.policyId)}`, { item: item.readTime ? '' : item.id, from: 'inbox' }), item.title || item.policyId),
    item.documentNumber || '—',
    label('policyKind', item.kind),
    item.summary ?? '',
    formatTime(item.pushTime),
  ]);
  const markAll = unread.length
    ? h('button', {
      type: 'button',
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          await post('/v1/inbox:markRead', { itemIds: unread.map((item) => item.id) });
          refresh();
        } catch (error) {
          event.target.replaceWith(errorBox(error));
        }
      },
    }, '本页全部标为已读')
    : null;
  return h('div', null,
    h('h1', null, '政策推送'),
    h('p', { class: 'hint' }, `按企业登记信息推送的适用政策。未读 ${page.unreadCount ?? 0} 条。`),
    h('p', { class: 'quick' },
      link(route('/inbox', {}), '全部'), ' · ', link(route('/inbox', { unreadOnly: 'true' }), '仅未读'),
      markAll ? ' · ' : null, markAll),
    table(['', '标题', '文号', '类型', '摘要', '推送时间'], rows, '暂无推送。请先在“企业信息”中登记企业，以便接收适用的政策。'),
    pager('/inbox', query, page.nextPageToken));
}

// ---------------------------------------------------------------------------
// The list.

export async function list({ query, claims, can }) {
  const filters = {
    state: query.state ?? (can.enterprise ? 'POLICY_STATE_PUBLISHED' : ''),
    kind: query.kind, jurisdictionCode: query.jurisdictionCode, industry: query.industry, tag: query.tag,
  };
  const page = await get('/v1/policies', { ...filters, pageSize: PAGE_SIZE, pageToken: query.pageToken });
  const states = can.enterprise
    ? enumOptions('policyState').filter(([value]) => ['PUBLISHED', 'CONSULTATION', 'REPEALED'].some((s) => is('policyState', value, s)))
    : enumOptions('policyState');
  const bar = filterBar('/policies', [
    field({ name: 'state', label: '状态', type: 'select', blank: can.enterprise ? undefined : '全部', options: states, value: filters.state }),
    field({ name: 'kind', label: '类型', type: 'select', blank: '全部', options: enumOptions('policyKind'), value: filters.kind }),
    field({ name: 'jurisdictionCode', label: '适用辖区', type: 'select', blank: '全部', options: jurisdictionOptions(rootCode()), value: filters.jurisdictionCode }),
    field({ name: 'industry', label: '行业', value: filters.industry }),
    field({ name: 'tag', label: '企业标签', type: 'select', blank: '全部', options: enumOptions('tag'), value: filters.tag }),
  ]);
  const rows = (page.policies ?? []).map((p) => [
    link(`#/policies/${enc(p.id)}`, p.title || p.id),
    p.documentNumber || '—',
    label('policyKind', p.kind),
    badge('policyState', p.state),
    jurisdictionLabel(p.jurisdictionCode),
    is('policyState', p.state, 'CONSULTATION') ? `征求意见至 ${formatTime(p.consultationCloseTime)}` : formatTime(p.publishTime || p.updateTime),
  ]);
  const consultation = route('/policies', { state: 'POLICY_STATE_CONSULTATION' });
  return h('div', null,
    h('h1', null, '政策'),
    h('p', { class: 'quick' },
      link(route('/policies', { state: 'POLICY_STATE_PUBLISHED' }), '已发布'), ' · ',
      link(consultation, '征求意见中'), ' · ',
      link(route('/policies', { state: 'POLICY_STATE_PUBLISHED', kind: 'POLICY_KIND_CONDUCT_LIST' }), '亲清清单'),
      may(claims.roles, 'PolicyService_CreatePolicy') ? [' · ', link(route('/policies', { state: 'POLICY_STATE_DRAFT' }), '草案')] : null),
    bar,
    table(['标题', '文号', '类型', '状态', '发布辖区', '时间'], rows, '没有符合条件的政策'),
    pager('/policies', query, page.nextPageToken));
}

// ---------------------------------------------------------------------------
// One policy.

export async function policy({ params, query, claims, can, refresh }) {
  const [id] = params;
  if (query.item && can.enterprise) {
    // Opening a pushed policy reads it; a failure here must not hide the policy.
    post('/v1/inbox:markRead', { itemIds: [query.item] }).catch(() => {});
  }
  const p = await get(`/v1/policies/${enc(id)}`);
  const open = is('policyState', p.state, 'CONSULTATION')
    && (!p.consultationCloseTime || new Date(p.consultationCloseTime).getTime() > Date.now());
  const published = is('policyState', p.state, 'PUBLISHED');
  const official = may(claims.roles, 'PolicyService_CreatePolicy');
  const applicability = p.applicability ?? {};
  const parts = [
    query.from === 'inbox'
      ? h('p', { class: 'crumbs' }, link('#/inbox', '政策推送'), ' / ', p.documentNumber || p.title || p.id)
      : h('p', { class: 'crumbs' }, link('#/policies', '政策'), ' / ', p.documentNumber || p.title || p.id),
    h('h1', null, p.title || '（无标题）'),
    section('政策',
      facts([
        ['文号', p.documentNumber || '—'],
        ['类型', label('policyKind', p.kind)],
        ['状态', badge('policyState', p.state)],
        ['版本', `第 ${p.version ?? 1} 版`],
        ['发布辖区', jurisdictionLabel(p.jurisdictionCode)],
        ['起草部门', departmentLabel(p.departmentId)],
        p.consultationOpenTime ? ['征求意见', `${formatTime(p.consultationOpenTime)} 至 ${formatTime(p.consultationCloseTime)}`] : null,
        p.publishTime ? ['发布时间', formatTime(p.publishTime)] : null,
        p.effectiveTime ? ['生效时间', formatTime(p.effectiveTime)] : null,
        p.expireTime ? ['失效时间', formatTime(p.expireTime)] : null,
        p.repealTime ? ['废止', `${formatTime(p.repealTime)}：${p.repealReason ?? ''}`] : null,
        p.amendmentReason ? ['修订理由', p.amendmentReason] : null,
        ['适用范围', applicabilityText(applicability)],
        ['意见', `${p.commentCount ?? 0} 条，其中待答复 ${p.unansweredCommentCount ?? 0} 条`],
      ]),
      p.summary ? h('div', { class: 'text' }, h('h3', null, '摘要'), h('p', null, p.summary)) : null),
    section('正文', (p.articles ?? []).length
      ? h('ol', { class: 'articles' }, p.articles.map((a) => h('li', null,
        h('h3', null, `第${a.number ?? ''}条${a.title ? ` ${a.title}` : ''}`), h('p', null, a.text ?? ''))))
      : h('p', { class: 'empty' }, '（无条文）')),
  ];
  if (open && can.enterprise) parts.push(commentForm(p, refresh));
  if (!is('policyState', p.state, 'DRAFT')) parts.push(await comments(p, official, refresh));
  if (published) parts.push(await questions(p, can, official, refresh));
  if (published && can.enterprise) parts.push(ratingForm(p));
  return h('div', null, parts);
}

function applicabilityText(a) {
  const pieces = [];
  if (a.jurisdictionCodes?.length) pieces.push(`辖区：${a.jurisdictionCodes.map(jurisdictionLabel).join('、')}`);
  if (a.industries?.length) pieces.push(`行业：${a.industries.join('、')}`);
  if (a.sizes?.length) pieces.push(`规模：${a.sizes.map((s) => label('size', s)).join('、')}`);
  if (a.tags?.length) pieces.push(`标签：${a.tags.map((t) => label('tag', t)).join('、')}`);
  return pieces.length ? pieces.join('；') : '全部企业';
}

function commentForm(p, refresh) {
  return section('提出意见',
    h('p', { class: 'hint' }, `征求意见截止 ${formatTime(p.consultationCloseTime)}。每条意见都会得到答复（采纳、部分采纳或不予采纳及理由）。`),
    form({
      submitLabel: '提交意见',
      requestId: true,
      fields: [
        field({ name: 'article', label: '针对条款', type: 'select', blank: '全文',
          options: (p.articles ?? []).map((a) => [a.number, `第${a.number}条${a.title ? ` ${a.title}` : ''}`]) }),
        field({ name: 'text', label: '意见', type: 'textarea', rows: 5, required: true, maxlength: 5000, wide: true }),
      ],
      submit: async (values) => {
        await post('/v1/comments', { ...values, policyId: p.id });
        refresh();
      },
    }));
}

async function comments(p, official, refresh) {
  let page;
  try {
    page = await get('/v1/comments', { policyId: p.id, pageSize: 100 });
  } catch (error) {
    return section('意见', errorBox(error));
  }
  const list = page.comments ?? [];
  if (list.length === 0) return section('意见', h('p', { class: 'empty' }, '暂无意见'));
  return section('意见与答复', h('ul', { class: 'comments' }, list.map((c) => h('li', null,
    h('p', { class: 'meta' },
      c.article ? `第${c.article}条` : '全文', ' · ', c.enterprise?.name ?? '', ' · ', formatTime(c.createTime), ' · ',
      badge('disposition', c.disposition)),
    h('p', null, c.text ?? ''),
    c.reply ? h('p', { class: 'reply' }, h('strong', null, '答复：'), c.reply) : null,
    official && !c.reply && !is('policyState', p.state, 'PUBLISHED') ? h('details', { class: 'action' }, h('summary', null, '答复'), form({
      submitLabel: '答复',
      requestId: true,
      fields: [
        field({ name: 'disposition', label: '采纳情况', type: 'select', required: true, blank: '请选择', options: enumOptions('disposition') }),
        field({ name: 'reply', label: '答复（不予采纳须说明理由）', type: 'textarea', rows: 3, required: true, wide: true }),
      ],
      submit: async (values) => {
        await post(`/v1/comments/${enc(c.id)}:respond`, { ...values, etag: c.etag });
        refresh();
      },
    })) : null))),
  page.nextPageToken ? h('p', { class: 'hint' }, '仅显示前 100 条。') : null);
}

async function questions(p, can, official, refresh) {
  let page;
  try {
    page = await get('/v1/questions', { policyId: p.id, pageSize: 100 });
  } catch (error) {
    return section('政策问答', errorBox(error));
  }
  const list = page.questions ?? [];
  const items = list.map((q) => h('li', null,
    h('p', { class: 'meta' }, formatTime(q.createTime), q.public ? ' · 公开问答' : ''),
    h('p', null, h('strong', null, '问：'), q.text ?? ''),
    q.answer ? h('p', { class: 'reply' }, h('strong', null, '答：'), q.answer) : h('p', { class: 'hint' }, '待答复'),
    official && !q.answer ? h('details', { class: 'action' }, h('summary', null, '答复'), form({
      submitLabel: '答复',
      requestId: true,
      fields: [
        field({ name: 'answer', label: '答复', type: 'textarea', rows: 3, required: true, wide: true }),
        field({ name: 'public', label: '作为公开问答发布（不显示企业）', type: 'checkbox' }),
      ],
      submit: async (values) => {
        await post(`/v1/questions/${enc(q.id)}:answer`, { ...values, etag: q.etag });
        refresh();
      },
    })) : null));
  return section('政策问答',
    items.length ? h('ul', { class: 'comments' }, items) : h('p', { class: 'empty' }, '暂无问答'),
    can.enterprise ? form({
      submitLabel: '提问',
      requestId: true,
      fields: [field({ name: 'text', label: '我要提问', type: 'textarea', rows: 3, required: true, maxlength: 2000, wide: true })],
      submit: async (values) => {
        await post('/v1/questions', { ...values, policyId: p.id });
        refresh();
      },
    }) : null);
}

function ratingForm(p) {
  const done = h('div', { 'aria-live': 'polite' });
  return section('政策实施评价',
    h('p', { class: 'hint' }, '评价本政策的落实情况；再次评价会替换上一次。'),
    done,
    form({
      submitLabel: '提交评价',
      requestId: true,
      fields: [
        field({ name: 'rating', label: '评价', type: 'select', required: true, blank: '请选择', options: enumOptions('rating') }),
        field({ name: 'comment', label: '意见', type: 'textarea', rows: 3, maxlength: 2000, wide: true }),
      ],
      submit: async (values) => {
        await post(`/v1/policies/${enc(p.id)}:rate`, values);
        done.replaceChildren(notice('评价已提交，感谢。', 'ok'));
      },
    }));
}
