// Supervision and assessment: cases under yellow and red supervision (督办),
// the notices and interviews the scores raise, a jurisdiction's overview for
// a period, the rankings with their red and black boards (红黑榜), and one
// unit's scorecard indicator by indicator.

import { get } from './api.js';
import { deadlineText } from './cases.js';
import {
  badge, currentPeriod, departmentLabel, enumOptions, facts, field, filterBar, formatTime, h, is,
  jurisdictionLabel, jurisdictionOptions, label, link, notice, number, pager, percent, route, section, table,
  yuan,
} from './ui.js';

const enc = encodeURIComponent;
const PAGE_SIZE = 20;

function periodField(value) {
  return field({
    name: 'period', label: '考核期', value, required: true, pattern: '\\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?',
    hint: `年、季或月：${currentPeriod('year')}、${currentPeriod('quarter')}、${currentPeriod('month')}`,
  });
}

function unitLabel(kind, id, name) {
  if (name) return `${name}（${id}）`;
  return is('unitKind', kind, 'DEPARTMENT') ? departmentLabel(id) : jurisdictionLabel(id);
}

// ---------------------------------------------------------------------------
// 督办

async function supervisedCases(supervision, title) {
  const page = await get('/v1/cases', { supervision, pageSize: 10 });
  const rows = (page.cases ?? []).map((c) => [
    link(`#/cases/${enc(c.id)}`, c.number || c.id),
    c.title ?? '',
    badge('caseState', c.state),
    departmentLabel(c.departmentId),
    deadlineText(c),
  ]);
  return section(title,
    table(['受理编号', '标题', '状态', '承办部门', '办理期限'], rows, '没有案件'),
    page.nextPageToken ? h('p', null, link(route('/cases', { supervision }), '查看全部 »')) : null);
}

/**
 * How long working days can still be counted exactly: the last day of the
 * loaded working-day calendar and the days left, with a request to load the
 * next year's State Council notice from 60 days before.
 */
async function calendarNotice() {
  const calendar = await get('/v1/calendar');
  if (!calendar.lastLoadedDay) return notice('工作日历尚未载入任何年份；请载入国务院节假日安排。', 'error');
  const left = calendar.daysLeft ?? 0;
  const next = Number(calendar.lastLoadedDay.slice(0, 4)) + 1;
  if (!calendar.nextYearDue) {
    return h('p', { class: 'hint' }, `工作日历已载入至${calendar.lastLoadedDay}，剩余${left}天。`);
  }
  const text = left >= 0
    ? `工作日历已载入至${calendar.lastLoadedDay}，剩余${left}天；请载入${next}年国务院节假日安排（zhengqi calendar load FILE）。`
    : `工作日历仅载入至${calendar.lastLoadedDay}，已过${-left}天；其后的办理期限均为暂定，请尽快载入${next}年国务院节假日安排。`;
  return notice(text, left >= 0 ? 'info' : 'error');
}

export async function supervision({ query, claims, can }) {
  const parts = [
    h('h1', null, '督办'),
    // 营商办 (coordinators) keep the calendar loaded; so do admins.
    can.has('coordinator', 'admin') ? await calendarNotice() : null,
    await supervisedCases('SUPERVISION_RED', '红灯督办（已超期）'),
    await supervisedCases('SUPERVISION_YELLOW', '黄灯预警（时限将至）'),
  ];
  if (can.alerts) {
    const filters = { period: query.period ?? currentPeriod('year'), kind: query.kind, jurisdictionCode: query.jurisdictionCode };
    const page = await get('/v1/alerts', { ...filters, pageSize: PAGE_SIZE, pageToken: query.pageToken });
    const rows = (page.alerts ?? []).map((a) => [
      badge('alertKind', a.kind),
      unitLabel(a.unitKind, a.unitId, a.unitName),
      jurisdictionLabel(a.jurisdictionCode),
      a.period ?? '',
      a.reason ?? '',
      alertBasis(a),
      formatTime(a.createTime),
    ]);
    parts.push(section('通报与约谈',
      filterBar('/supervision', [
        field({ name: 'period', label: '考核期', value: filters.period, hint: '空为全部' }),
        field({ name: 'kind', label: '类型', type: 'select', blank: '全部', options: enumOptions('alertKind'), value: filters.kind }),
        field({ name: 'jurisdictionCode', label: '辖区', type: 'select', blank: '全部', options: jurisdictionOptions(claims.jurisdiction), value: filters.jurisdictionCode }),
      ]),
      table(['类型', '单位', '辖区', '考核期', '原因', '依据', '时间'], rows, '没有通报'),
      pager('/supervision', query, page.nextPageToken)));
  }
  return h('div', null, parts);
}

// ---------------------------------------------------------------------------
// 考核

export async function scoring({ query, claims, can }) {
  const filters = {
    period: query.period || currentPeriod('year'),
    jurisdictionCode: query.jurisdictionCode || claims.jurisdiction,
    unitKind: query.unitKind || 'UNIT_KIND_DEPARTMENT',
  };
  const parts = [
    h('h1', null, '考核'),
    filterBar('/scoring', [
      periodField(filters.period),
      field({ name: 'jurisdictionCode', label: '辖区', type: 'select', options: jurisdictionOptions(claims.jurisdiction), value: filters.jurisdictionCode }),
      can.rankings ? field({ name: 'unitKind', label: '排名对象', type: 'select', options: enumOptions('unitKind'), value: filters.unitKind }) : null,
    ]),
  ];
  if (can.overview) {
    const o = await get('/v1/overview', { jurisdictionCode: filters.jurisdictionCode, period: filters.period });
    parts.push(overview(o));
  }
  if (can.rankings) {
    const page = await get('/v1/rankings', { ...filters, pageSize: PAGE_SIZE, pageToken: query.pageToken });
    const rows = (page.rankings ?? []).map((r) => [
      r.rank ? String(r.rank) : h('span', { title: r.notRankedReason ?? '' }, '不参与排名'),
      link(route(`/scorecards/${enc(r.unitId)}`, { period: filters.period }), unitLabel(r.unitKind, r.unitId, r.unitName)),
      jurisdictionLabel(r.jurisdictionCode),
      r.rank ? number(r.total) : (r.notRankedReason ?? '—'),
      badge('board', r.board),
      r.previousRank ? String(r.previousRank) : '—',
      trend(r.unitId, r.trend ?? []),
      r.blackBoardStreak ? `${r.blackBoardStreak} 期` : '—',
    ]);
    parts.push(section(`排名（${label('unitKind', filters.unitKind)}，${filters.period}）`,
      table(['名次', '单位', '辖区', '得分', '红黑榜', '上期名次', '近期走势', '连续黑榜'], rows, '该考核期还没有排名'),
      pager('/scoring', { ...query, ...filters }, page.nextPageToken)));
  }
  return h('div', null, parts);
}

/** A unit's standing over the last periods, oldest first: each total (and rank) linking to that period's scorecard. */
function trend(unitId, points) {
  if (points.length < 2) return '—';
  const boards = { RED: '红榜', BLACK: '黑榜' };
  return h('span', { class: 'trend' }, points.flatMap((p, i) => {
    const board = Object.entries(boards).find(([key]) => is('board', p.board, key))?.[1];
    const text = `${p.period} ${number(p.total)}${p.rank ? `（第${p.rank}名）` : ''}${board ? ` ${board}` : ''}`;
    const item = link(route(`/scorecards/${enc(unitId)}`, { period: p.period }), text);
    return i === 0 ? [item] : [' → ', item];
  }));
}

/** What an alert rests on: an interview's black-board entries as links to their scorecards; a notice's cases by acceptance number, and its reviews (which have no number of their own; the id shows on hover). */
function alertBasis(a) {
  const ids = a.factIds ?? [];
  if (ids.length === 0) return '—';
  return h('span', null, ids.flatMap((id, i) => {
    const [period, unit] = id.includes('/') ? id.split('/') : [];
    const number = a.caseNumbers?.[id];
    const item = unit
      ? link(route(`/scorecards/${enc(unit)}`, { period }), `${period} 黑榜`)
      : number ? link(`#/cases/${enc(id)}`, number)
        : h('span', { title: id }, is('alertKind', a.kind, 'BAD_REVIEW_NOTICE') ? '差评' : id);
    return i === 0 ? [item] : ['、', item];
  }));
}

function metric(title, value, hint) {
  return h('div', { class: 'metric' }, h('span', { class: 'value' }, value), h('span', { class: 'title' }, title),
    hint ? h('small', null, hint) : null);
}

function overview(o) {
  const channels = (o.appealsByChannel ?? []).map((c) => [label('channel', c.channel), String(c.count ?? 0)]);
  const categories = (o.appealsByCategory ?? []).map((c) => [label('category', c.category), String(c.count ?? 0)]);
  return section(`${jurisdictionLabel(o.jurisdictionCode)} ${o.period ?? ''} 总览`,
    h('div', { class: 'metrics' },
      metric('诉求（立案）', String(o.appealCount ?? 0)),
      metric('办结', String(o.resolvedCount ?? 0), `其中解决 ${o.solvedCount ?? 0}`),
      metric('按期办结率', percent(o.onTimeRate)),
      metric('超期未办结', String(o.overdueCount ?? 0)),
      metric('满意率', percent(o.satisfactionRate), `评价 ${o.reviewCount ?? 0}，差评 ${o.badReviewCount ?? 0}`),
      metric('未评价率', percent(o.unratedRate)),
      metric('差评整改率', percent(o.rectificationRate)),
      metric('会商', String(o.meetingCount ?? 0), `议定案件 ${o.meetingCaseCount ?? 0}`),
      metric('政策兑现', String(o.fulfillmentCount ?? 0), yuan(o.fulfillmentAmountFen)),
      metric('发布政策', String(o.publishedPolicyCount ?? 0), `采纳意见 ${o.adoptedCommentCount ?? 0}`)),
    h('div', { class: 'two' },
      h('div', null, h('h3', null, '按渠道'), table(['渠道', '诉求'], channels, '暂无')),
      h('div', null, h('h3', null, '按类别'), table(['类别', '诉求'], categories, '暂无'))),
    h('p', { class: 'hint' }, `统计时间 ${formatTime(o.computeTime)}`));
}

export async function scorecard({ params, query }) {
  const [unitId] = params;
  const period = query.period || currentPeriod('year');
  const card = await get(`/v1/scorecards/${enc(unitId)}`, { period });
  const rows = (card.indicators ?? []).map((i) => [
    link(route(`/scorecards/${enc(unitId)}/indicators/${enc(i.key)}`, { period }), i.name || i.key),
    number(i.rawValue, 3),
    `${number(i.numerator, 0)} / ${number(i.denominator, 0)}`,
    `${number(i.target, 3)}（${is('direction', i.direction, 'LOWER_IS_BETTER') ? '越低越好' : '越高越好'}）`,
    i.applicable ? number(i.normalizedValue, 3) : '不适用（本期无可考核事项）',
    number(i.weight, 1),
    i.applicable ? number(i.contribution, 2) : '—',
  ]);
  return h('div', null,
    h('p', { class: 'crumbs' }, link(route('/scoring', { period, unitKind: card.unitKind }), '考核'), ' / ', unitId),
    h('h1', null, `${unitLabel(card.unitKind, card.unitId ?? unitId, card.unitName)} · ${card.period ?? period}`),
    section('得分', facts([
      ['总分', number(card.total)],
      ['名次', card.rank ? `${card.rank} / ${card.rankedUnits ?? 0}` : (card.notRankedReason || '—')],
      ['红黑榜', badge('board', card.board)],
      ['辖区', jurisdictionLabel(card.jurisdictionCode)],
      ['统计时间', formatTime(card.computeTime)],
    ])),
    section('指标', table(['指标', '实际值', '分子 / 分母', '目标', '得分率', '权重', '得分'], rows, '没有指标'),
      h('p', { class: 'hint' }, '本期无可考核事项的指标不适用，不得分也不扣分；总分按适用指标的权重折算为百分制（100 × 各项得分之和 ÷ 适用指标权重之和）。')),
    card.indicators?.length ? null : notice('该考核期还没有数据。'));
}

/** The facts behind one indicator of a scorecard: which cases and reviews its numerator and denominator count. */
export async function indicatorFacts({ params, query }) {
  const [unitId, key] = params;
  const period = query.period || currentPeriod('year');
  const page = await get(`/v1/scorecards/${enc(unitId)}/indicators/${enc(key)}/facts`,
    { period, pageSize: PAGE_SIZE, pageToken: query.pageToken });
  const subject = (f) => (f.kind.startsWith('CASE_')
    ? link(`#/cases/${enc(f.subjectId)}`, f.caseNumber || f.subjectId)
    : f.subjectId);
  const rows = (page.facts ?? []).map((f) => [
    subject(f),
    FACT_KINDS[f.kind] ?? f.kind,
    f.inNumerator ? '✓' : '—',
    f.inDenominator ? '✓' : '—',
    f.departmentId ? departmentLabel(f.departmentId) : '—',
    formatTime(f.occurTime),
  ]);
  return h('div', null,
    h('p', { class: 'crumbs' }, link(route('/scoring', { period }), '考核'), ' / ',
      link(route(`/scorecards/${enc(unitId)}`, { period }), unitId), ' / ', key),
    h('h1', null, `${key} · ${period} 的计分依据`),
    section('计入该指标的事项', table(['案件或事项', '类型', '计入分子', '计入分母', '部门', '时间'], rows, '该考核期没有计入该指标的事项'),
      pager(`/scorecards/${enc(unitId)}/indicators/${enc(key)}`, { ...query, period }, page.nextPageToken)));
}

/** What each kind of fact records, for people. */
const FACT_KINDS = {
  CASE_OPENED: '立案',
  CASE_DUE: '到期（办结或超期）',
  CASE_RESOLVED: '办结',
  CASE_OVERDUE: '超期',
  CASE_RETURNED: '退单',
  MEETING_SCHEDULED: '会商',
  MEETING_DECISION: '会商议定',
  REVIEW_INVITED: '邀请评价',
  INVITATION_RATED: '已评价',
  REVIEW_SUBMITTED: '评价',
  BAD_REVIEW_VALID: '差评核实有效',
  RECTIFICATION_CLOSED: '整改办结',
  ASSESSMENT: '第三方评估',
  COMMENT_RESPONDED: '意见答复',
  POLICY_PUBLISHED: '政策发布',
  FULFILLMENT: '政策兑现',
};
