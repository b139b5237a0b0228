// Appeals (诉求): submitting one, the list of one's appeals, and an appeal
// with its case: where it stands, what the department did, the enterprise's
// answer when asked for more, and its rating (好差评) once resolved. Also the
// enterprise's registration, which decides the policies pushed to it.

import { ApiError, get, post } from './api.js';
import {
  badge, departmentLabel, enumOptions, errorBox, facts, field, filterBar, form, formatTime, h, is, jurisdictionLabel,
  jurisdictionOptions, label, link, notice, pager, rootCode, route, section, table,
} from './ui.js';
import { caseActions, caseFacts, caseHistory } from './cases.js';

const enc = encodeURIComponent;
const PAGE_SIZE = 20;

// ---------------------------------------------------------------------------
// Submitting an appeal.

export async function submitAppeal({ claims, can }) {
  const own = can.enterprise && claims.uscc;
  let registered = null;
  if (own) {
    try {
      registered = await get(`/v1/enterprises/${enc(claims.uscc)}`);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
  }
  const channel = can.enterprise ? 'CHANNEL_ONLINE_PORTAL'
    : can.has('supervisor') ? 'CHANNEL_SUPERVISOR' : 'CHANNEL_HOTLINE_12345';
  const appealForm = form({
    submitLabel: '提交诉求',
    requestId: true,
    fields: [
      field({ name: 'channel', label: '渠道', type: 'select', required: true, options: enumOptions('channel'), value: channel, disabled: can.enterprise }),
      can.enterprise ? h('input', { type: 'hidden', name: 'channel', value: channel }) : null,
      field({ name: 'jurisdiction_code', label: '受理辖区', type: 'select', required: true, blank: '请选择',
        options: jurisdictionOptions(rootCode()), value: registered?.jurisdictionCode || claims.jurisdiction }),
      field({ name: 'enterprise.uscc', label: '统一社会信用代码', required: true, maxlength: 18,
        value: own ? claims.uscc : '', readonly: Boolean(own), pattern: '[0-9A-HJ-NPQRTUWXY]{18}' }),
      field({ name: 'enterprise.name', label: '企业名称', required: true, maxlength: 200, value: registered?.name ?? '' }),
      field({ name: 'kind', label: '诉求类型（决定办理时限）', type: 'select', required: true, blank: '请选择', options: enumOptions('kind') }),
      field({ name: 'category', label: '诉求类别', type: 'select', required: true, blank: '请选择', options: enumOptions('category') }),
      field({ name: 'title', label: '标题', required: true, maxlength: 200, wide: true, placeholder: '一句话说明问题，如：新厂房用电报装三周未办' }),
      field({ name: 'description', label: '诉求内容', type: 'textarea', rows: 8, required: true, maxlength: 10000, wide: true,
        placeholder: '问题经过、已找过哪些部门、希望如何解决' }),
      field({ name: 'contact_name', label: '联系人', maxlength: 50 }),
      field({ name: 'contact_phone', label: '联系电话', type: 'tel', maxlength: 30 }),
    ],
    submit: async (values) => {
      const appeal = await post('/v1/appeals', values);
      window.location.hash = route(`/appeals/${enc(appeal.id)}`, { submitted: '1' });
    },
  });
  return h('div', null,
    h('h1', null, can.enterprise ? '提交诉求' : '登记诉求'),
    h('p', { class: 'hint' }, '诉求提交后即生成受理编号，按类型在 3、7 或 15 个工作日内办理；同一事项30日内重复提交会关联到原诉求，不会丢失。'),
    section('诉求', appealForm));
}

// ---------------------------------------------------------------------------
// The list.

export async function appeals({ query, claims, can }) {
  const filters = {
    status: query.status, category: query.category, channel: query.channel,
    jurisdictionCode: can.enterprise ? '' : query.jurisdictionCode, uscc: can.enterprise ? '' : query.uscc,
  };
  const page = await get('/v1/appeals', { ...filters, pageSize: PAGE_SIZE, pageToken: query.pageToken });
  const bar = filterBar('/appeals', [
    field({ name: 'status', label: '状态', type: 'select', blank: '全部', options: enumOptions('appealStatus'), value: filters.status }),
    field({ name: 'category', label: '类别', type: 'select', blank: '全部', options: enumOptions('category'), value: filters.category }),
    field({ name: 'channel', label: '渠道', type: 'select', blank: '全部', options: enumOptions('channel'), value: filters.channel }),
    can.enterprise ? null : field({ name: 'jurisdictionCode', label: '辖区', type: 'select', blank: '全部', options: jurisdictionOptions(claims.jurisdiction), value: filters.jurisdictionCode }),
    can.enterprise ? null : field({ name: 'uscc', label: '统一社会信用代码', maxlength: 18, value: filters.uscc }),
  ]);
  const rows = (page.appeals ?? []).map((a) => [
    link(`#/appeals/${enc(a.id)}`, a.number || a.id),
    a.title ?? '',
    can.enterprise ? null : a.enterprise?.name ?? '',
    label('kind', a.kind),
    label('category', a.category),
    label('channel', a.channel),
    badge('appealStatus', a.status),
    formatTime(a.createTime),
  ].filter((cell) => cell !== null));
  const headers = ['受理编号', '标题', can.enterprise ? null : '企业', '类型', '类别', '渠道', '状态', '提交时间'].filter(Boolean);
  return h('div', null,
    h('h1', null, can.enterprise ? '我的诉求' : '诉求'),
    can.submitAppeals ? h('p', null, h('a', { href: '#/appeals/new', class: 'button primary' }, can.enterprise ? '提交新诉求' : '登记诉求')) : null,
    bar,
    table(headers, rows, '没有符合条件的诉求'),
    pager('/appeals', query, page.nextPageToken));
}

// ---------------------------------------------------------------------------
// One appeal and its case.

export async function appeal({ params, query, claims, can, refresh }) {
  const [id] = params;
  const a = await get(`/v1/appeals/${enc(id)}`);
  const duplicate = is('appealStatus', a.status, 'DUPLICATE') && a.duplicateOf;
  const found = await get('/v1/cases', { appealId: duplicate ? a.duplicateOf : a.id, pageSize: 1 });
  const c = (found.cases ?? [])[0];
  const parts = [
    h('p', { class: 'crumbs' }, link('#/appeals', can.enterprise ? '我的诉求' : '诉求'), ' / ', a.number || a.id),
    h('h1', null, a.title || '（无标题）'),
    query.submitted ? notice(`诉求已提交，受理编号 ${a.number ?? ''}。`, 'ok') : null,
    section('诉求',
      facts([
        ['受理编号', a.number],
        ['状态', badge('appealStatus', a.status)],
        duplicate ? ['关联的原诉求', link(`#/appeals/${enc(a.duplicateOf)}`, a.duplicateOf)] : null,
        ['类型', label('kind', a.kind)],
        ['类别', label('category', a.category)],
        ['渠道', label('channel', a.channel)],
        ['受理辖区', jurisdictionLabel(a.jurisdictionCode)],
        ['企业', a.enterprise ? `${a.enterprise.name ?? ''}（${a.enterprise.uscc ?? ''}）` : '—'],
        ['联系人', a.personalDataEraseTime
          ? `已于 ${formatTime(a.personalDataEraseTime)} 按保存期限删除`
          : `${a.contactName ?? ''} ${a.contactPhone ?? ''}`.trim() || '—'],
        ['提交时间', formatTime(a.createTime)],
        a.withdrawReason ? ['撤回理由', a.withdrawReason] : null,
      ]),
      h('div', { class: 'text' }, h('h3', null, '诉求内容'), h('p', null, a.description ?? ''))),
  ];
  if (!c) {
    parts.push(notice('案件正在生成，请稍后刷新本页。'));
  } else {
    const title = duplicate ? '原诉求的案件' : '案件办理';
    parts.push(section(title, caseFacts(c),
      can.listCases ? h('p', null, link(`#/cases/${enc(c.id)}`, '在案件页办理')) : null));
    if (!can.listCases) parts.push(caseActions(c, claims, () => refresh()));
    parts.push(await caseHistory(c.id));
    if (can.enterprise && !duplicate && (is('caseState', c.state, 'RESOLVED') || is('caseState', c.state, 'CLOSED'))) {
      parts.push(await review(c, refresh));
    }
  }
  const open = !c || !['REJECTED', 'RESOLVED', 'CLOSED'].some((s) => is('caseState', c.state, s));
  if (can.enterprise && is('appealStatus', a.status, 'RECEIVED') && open) {
    parts.push(section('撤回诉求', form({
      submitLabel: '撤回',
      className: 'danger',
      confirm: '撤回后案件将终止办理，确定撤回吗？',
      fields: [field({ name: 'reason', label: '撤回理由', type: 'textarea', rows: 2, maxlength: 1000 })],
      submit: async (values) => {
        await post(`/v1/appeals/${enc(a.id)}:withdraw`, values);
        refresh();
      },
    })));
  }
  return h('div', null, parts);
}

const DIMENSIONS = [['efficiency', '办事效率'], ['attitude', '服务态度'], ['result', '办理结果']];

/** The rating (好差评) of a resolved case's department: given, or the form to give it once. */
async function review(c, refresh) {
  let given = null;
  try {
    const reviews = await get('/v1/reviews', { caseId: c.id, pageSize: 10 });
    given = (reviews.reviews ?? []).find((r) => is('reviewState', r.state, 'SUBMITTED')) ?? null;
  } catch (error) {
    return section('评价', errorBox(error));
  }
  if (given) {
    return section('评价', facts([
      ['评价', label('rating', given.rating)],
      ['意见', given.comment || '—'],
      ...(given.dimensions ?? []).map((d) => [DIMENSIONS.find(([key]) => key === d.dimension)?.[1] ?? d.dimension, label('rating', d.rating)]),
      ['评价时间', formatTime(given.submitTime)],
      given.rectificationId ? ['整改', `差评已转整改（${given.rectificationId}），将在15个工作日内核实、整改并回访`] : null,
    ]));
  }
  const ratings = enumOptions('rating');
  return section('评价办理部门（好差评）',
    h('p', { class: 'hint' }, '每件案件可评价一次。“不满意”及以下为差评，须写明原因；差评将在15个工作日内核实、整改并回访。评价人信息不向被评部门公开。'),
    form({
      submitLabel: '提交评价',
      requestId: true,
      fields: [
        field({ name: 'rating', label: '总体评价', type: 'select', required: true, blank: '请选择', options: ratings }),
        ...DIMENSIONS.map(([key, text]) => field({ name: `dimension_${key}`, label: text, type: 'select', blank: '不评', options: ratings })),
        field({ name: 'comment', label: '意见', type: 'textarea', rows: 3, maxlength: 2000, wide: true }),
      ],
      submit: async (values) => {
        const dimensions = DIMENSIONS
          .filter(([key]) => values[`dimension${key[0].toUpperCase()}${key.slice(1)}`])
          .map(([key]) => ({ dimension: key, rating: values[`dimension${key[0].toUpperCase()}${key.slice(1)}`] }));
        const body = {
          requestId: values.requestId,
          targetKind: 'TARGET_KIND_DEPARTMENT',
          targetId: c.departmentId ?? '',
          caseId: c.id,
          rating: values.rating,
          comment: values.comment ?? '',
          dimensions,
        };
        await post('/v1/reviews', body);
        refresh();
      },
    }));
}

// ---------------------------------------------------------------------------
// Service windows (窗口服务): the visits and transactions a window registers
// for an enterprise, and the enterprise's rating of each, once.

export async function visits({ query, can, refresh }) {
  const page = await get('/v1/serviceRecords', {
    unratedOnly: query.unrated === '1', pageSize: PAGE_SIZE, pageToken: query.pageToken,
  });
  const records = page.serviceRecords ?? [];
  const parts = [h('h1', null, can.enterprise ? '窗口服务评价' : '窗口办件')];
  if (can.enterprise) {
    parts.push(h('p', { class: 'hint' },
      '窗口为贵企业登记的每次办件可评价一次；“不满意”及以下为差评，须写明原因，将在15个工作日内核实、整改并回访。评价人信息不向被评窗口公开。'));
  }
  parts.push(filterBar('/visits', [
    field({ name: 'unrated', label: '范围', type: 'select', options: [['', '全部'], ['1', '尚未评价']], value: query.unrated ?? '' }),
  ]));
  parts.push(table(
    ['窗口', '事项', '办件编号', can.enterprise ? null : '企业', '办理时间', '评价'].filter(Boolean),
    records.map((r) => [
      `${departmentLabel(r.departmentId)} ${r.windowId}`,
      r.matter ?? '',
      r.transactionNumber ?? '',
      can.enterprise ? null : `${r.enterprise?.name || ''}（${r.enterprise?.uscc ?? ''}）`,
      formatTime(r.serveTime),
      r.reviewId ? '已评价' : can.enterprise ? rateVisit(r, refresh) : '—',
    ].filter((cell) => cell !== null)),
    can.enterprise ? '窗口尚未为贵企业登记办件' : '没有办件记录'));
  parts.push(pager('/visits', query, page.nextPageToken));
  if (can.may('EvaluationService_RegisterServiceRecord')) {
    parts.push(section('登记窗口办件', form({
      submitLabel: '登记',
      requestId: true,
      fields: [
        field({ name: 'window_id', label: '窗口编号（部门编号-窗口，如 510821-xzsp-03）', required: true, maxlength: 64 }),
        field({ name: 'uscc', label: '企业统一社会信用代码', required: true, maxlength: 18, pattern: '[0-9A-HJ-NPQRTUWXY]{18}' }),
        field({ name: 'matter', label: '办理事项', required: true, maxlength: 200 }),
        field({ name: 'transaction_number', label: '办件编号', required: true, maxlength: 64 }),
      ],
      submit: async (values) => {
        await post('/v1/serviceRecords', values);
        refresh();
      },
    })));
  }
  return h('div', null, parts);
}

/** The enterprise's rating of one visit: a small form, given once. */
function rateVisit(record, refresh) {
  return form({
    submitLabel: '评价',
    requestId: true,
    fields: [
      field({ name: 'rating', label: '评价', type: 'select', required: true, blank: '请选择', options: enumOptions('rating') }),
      field({ name: 'comment', label: '意见', maxlength: 2000 }),
    ],
    submit: async (values) => {
      await post('/v1/reviews', {
        requestId: values.requestId,
        targetKind: 'TARGET_KIND_SERVICE_WINDOW',
        targetId: record.windowId,
        serviceRecordId: record.id,
        rating: values.rating,
        comment: values.comment ?? '',
      });
      refresh();
    },
  });
}

// ---------------------------------------------------------------------------
// The enterprise's registration.

export async function registration({ claims, refresh }) {
  if (!claims.uscc) return notice('令牌中没有统一社会信用代码（uscc），无法查看企业信息。', 'error');
  let enterprise = null;
  try {
    enterprise = await get(`/v1/enterprises/${enc(claims.uscc)}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  const saved = h('div', { 'aria-live': 'polite' });
  const editor = form({
    submitLabel: enterprise ? '更新登记' : '登记企业',
    fields: [
      field({ name: 'uscc', label: '统一社会信用代码', value: claims.uscc, readonly: true }),
      field({ name: 'name', label: '企业名称', required: true, maxlength: 200, value: enterprise?.name ?? '' }),
      field({ name: 'jurisdiction_code', label: '注册地', type: 'select', required: true, blank: '请选择',
        options: jurisdictionOptions(rootCode()), value: enterprise?.jurisdictionCode || claims.jurisdiction }),
      field({ name: 'industry', label: '行业（文字或 GB/T 4754 代码）', maxlength: 100, value: enterprise?.industry ?? '' }),
      field({ name: 'size', label: '规模', type: 'select', blank: '未填', options: enumOptions('size'), value: enterprise?.size }),
      field({ name: 'ownership', label: '所有制', type: 'select', blank: '未填', options: enumOptions('ownership'), value: enterprise?.ownership }),
      field({ name: 'tags', label: '标签（可多选）', type: 'select', multiple: true, options: enumOptions('tag'), value: enterprise?.tags ?? [] }),
    ],
    submit: async (values) => {
      await post('/v1/enterprises', values);
      saved.replaceChildren(notice('已保存。', 'ok'));
      setTimeout(refresh, 800);
    },
  });
  return h('div', null,
    h('h1', null, '企业信息'),
    h('p', { class: 'hint' }, '政策按登记的注册地、行业、规模和标签推送到“政策推送”。'),
    enterprise ? section('当前登记', facts([
      ['企业名称', enterprise.name],
      ['注册地', jurisdictionLabel(enterprise.jurisdictionCode)],
      ['行业', enterprise.industry || '—'],
      ['规模', label('size', enterprise.size)],
      ['所有制', label('ownership', enterprise.ownership)],
      ['标签', (enterprise.tags ?? []).map((t) => label('tag', t)).join('、') || '—'],
      ['更新时间', formatTime(enterprise.updateTime)],
    ])) : notice('企业尚未登记。登记后才能收到适用的政策推送。'),
    section(enterprise ? '修改登记' : '登记', saved, editor));
}
