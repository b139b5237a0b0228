//! The tonic implementation of `zhengqi.scoring.v1.ScoringService`: proto in,
//! proto out; the rules are in `domain`, the writes in `engine`, the data in
//! `store`.
//!
//! Who may call each method is declared once, on the method in
//! `proto/zhengqi/scoring/v1/scoring.proto` (`zhengqi.common.v1.access`), and
//! checked before a handler runs; here the scope: units within the caller's
//! jurisdictions, and the assessment itself set by the city alone.
//! Enterprises read none of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::scoring::v1 as pb;
use zhengqi_proto::zhengqi::scoring::v1::scoring_service_server::ScoringService;
use zhengqi_shared::access::{self, Scope};
use zhengqi_shared::appeal;
use zhengqi_shared::auth::Principal;
use zhengqi_shared::error::Why;
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::fields;
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::JurisdictionCode;
use zhengqi_shared::storage::timestamp;
use zhengqi_shared::{Error, Violations};

use crate::Core;
use crate::convert;
use crate::domain::facts::{Fact, FactKind, UnitKey, metric};
use crate::domain::model;
use crate::domain::period::Period;
use crate::domain::{Board, UnitKind};
use crate::store::{self, AlertFilter, StoredScore};

/// Most characters of a unit id (a department id or a GB/T 2260 code).
const MAX_UNIT_ID: usize = 100;
/// The periods a ranking's trend shows, this one included.
const TREND_PERIODS: usize = 6;

pub struct ScoringApi {
    core: Arc<Core>,
}

fn non_empty(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

fn ratio(numerator: i64, denominator: i64) -> f64 {
    if denominator > 0 {
        (numerator.max(0) as f64 / denominator as f64).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn count(value: i64) -> i32 {
    i32::try_from(value.max(0)).unwrap_or(i32::MAX)
}

/// The first answer to `(caller, request_id)`, when the key was used for `method`.
async fn remembered<M: Message + Default>(
    conn: &mut sqlx::AnyConnection,
    principal: &Principal,
    request_id: &str,
    method: &str,
) -> Result<Option<M>, Error> {
    if request_id.is_empty() {
        return Ok(None);
    }
    match store::remembered(conn, &principal.sub, request_id).await? {
        Some((used_for, response)) if used_for == method => M::decode(response.as_slice())
            .map(Some)
            .map_err(|e| Error::internal(format!("a remembered answer does not decode: {e}"))),
        Some((used_for, _)) => Err(Error::invalid(
            "request_id",
            Why::new(
                format!("was used for {used_for}; use a new key"),
                "该请求编号已用于其他操作，请换用新的请求编号",
            ),
        )),
        None => Ok(None),
    }
}

/// Keeps `answer` as the answer to `(caller, request_id)`; nothing without a key.
async fn remember(
    conn: &mut sqlx::AnyConnection,
    principal: &Principal,
    request_id: &str,
    method: &str,
    answer: &impl Message,
    now: i64,
) -> Result<(), Error> {
    if request_id.is_empty() {
        return Ok(());
    }
    store::remember(
        conn,
        &principal.sub,
        request_id,
        method,
        &answer.encode_to_vec(),
        now,
    )
    .await
}

impl ScoringApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    fn scope(&self, principal: &Principal) -> Scope {
        Scope::of(principal, &self.core.directory)
    }

    /// The city's coordinators and admins set the assessment (the city runs
    /// it); those of a county may not, whatever their role (the roles
    /// themselves are the method's declared rule, checked before the handler).
    fn require_assessor(&self, principal: &Principal, action: &str) -> Result<(), Error> {
        if principal.jurisdiction.as_deref() == Some(self.core.city.as_str()) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "{action}仅限市级（{}）营商环境办和管理员（{action} is for the city's coordinators and admins）",
                self.core.city
            ))
            .zh(format!("{action}仅限市级营商环境办和管理员办理")))
        }
    }

    /// The jurisdiction a whole-jurisdiction read is about: the requested one or
    /// the caller's own (the city for callers without one), within scope.
    fn jurisdiction(
        &self,
        principal: &Principal,
        scope: &Scope,
        requested: &str,
    ) -> Result<String, Error> {
        let code = match non_empty(requested) {
            Some(requested) => self
                .core
                .directory
                .parse_known(requested)
                .map_err(|e| Error::invalid("jurisdiction_code", e))?
                .as_str()
                .to_owned(),
            None => principal
                .jurisdiction
                .clone()
                .filter(|j| {
                    JurisdictionCode::parse(j)
                        .map(|c| self.core.directory.contains(&c))
                        .unwrap_or(false)
                })
                .unwrap_or_else(|| self.core.city.clone()),
        };
        if scope.covers_jurisdiction(&code) {
            Ok(code)
        } else {
            Err(Error::PermissionDenied(format!(
                "jurisdiction {code} is outside your jurisdiction"
            ))
            .zh(format!("{}不在您的辖区内，您无权查看", self.place(&code))))
        }
    }

    /// A jurisdiction as people know it: its name and code, or the code alone.
    fn place(&self, code: &str) -> String {
        match JurisdictionCode::parse(code)
            .ok()
            .and_then(|c| self.core.directory.current_name(&c).map(str::to_owned))
        {
            Some(name) => format!("{name}（{code}）"),
            None => code.to_owned(),
        }
    }

    fn descendants(&self, code: &str) -> Vec<String> {
        JurisdictionCode::parse(code)
            .map(|c| {
                self.core
                    .directory
                    .descendants(&c)
                    .into_iter()
                    .map(|c| c.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn put_model(
        &self,
        principal: &Principal,
        request: pb::PutIndicatorModelRequest,
    ) -> Result<pb::IndicatorModel, Error> {
        self.require_assessor(principal, "设置考核指标模型")?;
        let (period, mut model) = convert::model_from_request(&request)?;
        let period_text = period.to_string();
        let request_id = request.request_id.trim();
        let core = &self.core;
        let mut tx = core.store.begin_write().await?;
        store::lock_scores(&mut tx, core.store.backend()).await?;
        if let Some(first) = remembered(&mut tx, principal, request_id, "PutIndicatorModel").await?
        {
            return Ok(first);
        }
        let current = store::model_of(&mut tx, &period_text).await?;
        let current_etag = current
            .as_ref()
            .map(convert::model_etag)
            .unwrap_or_default();
        if request.etag.trim() != current_etag {
            return Err(match current_etag.as_str() {
                "" => Error::Aborted(format!(
                    "period {period_text} has no model of its own yet; send an empty etag"
                ))
                .zh(format!(
                    "考核期 {period_text} 尚未单独设置指标模型，请刷新后重试"
                )),
                etag => Error::Aborted(format!(
                    "the model of {period_text} changed since it was read (etag is now {etag}); read it again"
                ))
                .zh(format!(
                    "考核期 {period_text} 的指标模型已被他人修改，请刷新后重试"
                )),
            });
        }
        let now = core.clock.now();
        model.period = period_text.clone();
        model.version = current.map_or(1, |m| m.version.saturating_add(1));
        model.updated_by = principal.sub.clone();
        model.update_time = now;
        store::write_model(&mut tx, &model).await?;
        let proto = convert::model_to_proto(&model, &period_text);
        core.events
            .append(
                &mut tx,
                &period_text,
                &core.city,
                &pb::IndicatorModelPut {
                    model: Some(proto.clone()),
                },
            )
            .await?;
        core.rerank_period_and_inside(&mut tx, period).await?;
        remember(
            &mut tx,
            principal,
            request_id,
            "PutIndicatorModel",
            &proto,
            now,
        )
        .await?;
        tx.commit().await?;
        core.events.wake();
        Ok(proto)
    }

    /// The unit `unit_id` names and the period, checked (each bad field named)
    /// and within `principal`'s scope; with the unit's jurisdiction.
    fn unit_in_scope(
        &self,
        principal: &Principal,
        unit_id: &str,
        period: &str,
        mut violations: Violations,
    ) -> Result<(UnitKind, String, Period, String), Error> {
        let unit_id = fields::optional_text(&mut violations, "unit_id", unit_id, MAX_UNIT_ID);
        if unit_id.is_empty() {
            violations.add(
                "unit_id",
                Why::new(
                    "is required: a department id or a GB/T 2260 code",
                    "请填写部门编号或行政区划代码",
                ),
            );
        }
        let period = violations.check("period", Period::parse(period));
        violations.finish()?;
        let period = period.ok_or_else(|| Error::internal("a checked period is missing"))?;
        let kind = if unit_id.len() == 6 && unit_id.bytes().all(|b| b.is_ascii_digit()) {
            UnitKind::Jurisdiction
        } else {
            UnitKind::Department
        };
        let what = format!("unit {unit_id}");
        let not_found =
            || Error::NotFound(what.clone()).zh(format!("未找到考核单位 {unit_id}，或您无权查看"));
        let jurisdiction = self
            .core
            .units()
            .jurisdiction_of(kind, &unit_id)
            .ok_or_else(not_found)?;
        self.scope(principal)
            .check_read(&jurisdiction, "", &what)
            .map_err(|_| not_found())?;
        Ok((kind, unit_id, period, jurisdiction))
    }

    async fn scorecard(
        &self,
        principal: &Principal,
        request: pb::GetScorecardRequest,
    ) -> Result<pb::Scorecard, Error> {
        let (kind, unit_id, period, jurisdiction) = self.unit_in_scope(
            principal,
            &request.unit_id,
            &request.period,
            Violations::new(),
        )?;
        let units = self.core.units();
        let period_text = period.to_string();
        let mut conn = self.core.store.pool().acquire().await?;
        let model = self.core.effective_model(&mut conn, period).await?;
        let unit = UnitKey {
            kind,
            id: unit_id.clone(),
        };
        let metrics = store::metrics_of_unit(&mut conn, &period_text, &unit).await?;
        let score = model::score(&model, kind, &metrics);
        let group = units.group_of(kind, &unit_id);
        let stored = store::score_of(&mut conn, &period_text, &unit).await?;
        let (rank, ranked_units, board, compute_time, not_ranked_reason) = match &stored {
            Some(s) => (
                s.rank,
                s.ranked_units,
                s.board,
                Some(timestamp(s.compute_time)),
                s.not_ranked_reason.clone(),
            ),
            None => (
                0,
                count(
                    store::units_in_ranking(&mut conn, &period_text, kind, &group)
                        .await?
                        .1,
                ),
                Board::None,
                None,
                String::new(),
            ),
        };
        Ok(pb::Scorecard {
            unit_name: units.name_of(kind, &unit_id),
            unit_id,
            unit_kind: convert::unit_kind_to_proto(kind),
            jurisdiction_code: jurisdiction,
            period: period_text,
            total: score.total,
            rank,
            ranked_units,
            board: convert::board_to_proto(board),
            indicators: score
                .indicators
                .iter()
                .map(convert::indicator_score_to_proto)
                .collect(),
            compute_time,
            not_ranked_reason,
        })
    }

    async fn indicator_facts(
        &self,
        principal: &Principal,
        request: pb::ListIndicatorFactsRequest,
    ) -> Result<pb::ListIndicatorFactsResponse, Error> {
        let mut violations = Violations::new();
        let known = model::known(request.indicator_key.trim());
        if known.is_none() {
            let keys: Vec<_> = model::CATALOGUE.iter().map(|k| k.key).collect();
            violations.add(
                "indicator_key",
                Why::new(
                    format!(
                        "没有此指标（unknown indicator; known: {}）",
                        keys.join(", ")
                    ),
                    "没有此指标",
                ),
            );
        }
        let limit = violations.check("page_size", ids::page_size(request.page_size));
        let (kind, unit_id, period, _) =
            self.unit_in_scope(principal, &request.unit_id, &request.period, violations)?;
        let (Some(known), Some(limit)) = (known, limit) else {
            return Err(Error::internal("checked fields are missing"));
        };
        let period_text = period.to_string();
        let filters = format!("{period_text}|{unit_id}|{}", known.key);
        let after = PageToken::decode(&request.page_token, &filters)?;
        let (numerator, denominator) = model::counters(known.measure);
        let counts = |fact: &Fact, counter: Option<&str>| {
            counter.is_some_and(|name| fact.metrics().iter().any(|(m, v)| m == name && *v > 0))
        };
        // The kinds of fact that can count in either, whatever their flags.
        let kinds: Vec<FactKind> = FactKind::ALL
            .iter()
            .copied()
            .filter(|kind| {
                [false, true].into_iter().any(|flag| {
                    let probe = Fact::probe(*kind, flag);
                    counts(&probe, numerator) || counts(&probe, denominator)
                })
            })
            .collect();
        let unit = UnitKey { kind, id: unit_id };
        let mut conn = self.core.store.pool().acquire().await?;
        let page =
            store::facts_of_unit(&mut conn, &period_text, &unit, &kinds, after, limit).await?;
        let (page, next_page_token) = ids::paginate(page, limit, &filters, |(fact, _)| PageToken {
            sort_key: fact.occur_time,
            id: fact.id.clone(),
        });
        Ok(pb::ListIndicatorFactsResponse {
            facts: page
                .into_iter()
                .map(|(fact, case_number)| pb::IndicatorFact {
                    in_numerator: counts(&fact, numerator),
                    in_denominator: counts(&fact, denominator),
                    kind: fact.kind.as_str().to_owned(),
                    occur_time: Some(timestamp(fact.occur_time)),
                    id: fact.id,
                    subject_id: fact.subject_id,
                    case_number,
                    department_id: fact.department_id,
                })
                .collect(),
            next_page_token,
        })
    }

    pub async fn rankings(
        &self,
        principal: &Principal,
        request: pb::ListRankingsRequest,
    ) -> Result<pb::ListRankingsResponse, Error> {
        let mut violations = Violations::new();
        let period = violations.check("period", Period::parse(&request.period));
        let kind = convert::unit_kind(request.unit_kind);
        if kind.is_none() {
            violations.add("unit_kind", convert::unit_kind_unknown());
        }
        let limit = violations.check("page_size", ids::page_size(request.page_size));
        violations.finish()?;
        let (Some(period), Some(kind), Some(limit)) = (period, kind, limit) else {
            return Err(Error::internal("checked fields are missing"));
        };
        let scope = self.scope(principal);
        let code = self.jurisdiction(principal, &scope, &request.jurisdiction_code)?;
        let period_text = period.to_string();
        let filters = format!("{period_text}|{}|{code}", kind.as_str());
        let after = PageToken::decode(&request.page_token, &filters)?.map_or(0, |t| t.sort_key);
        let mut conn = self.core.store.pool().acquire().await?;
        let page =
            store::ranking_page(&mut conn, &period_text, kind, &code, after, limit + 1).await?;
        // Each unit's trend: its standing in the last periods of the same
        // length, oldest first, then in this one.
        let point = |period: &str, s: &StoredScore| pb::TrendPoint {
            period: period.to_owned(),
            total: s.total,
            rank: s.rank,
            board: convert::board_to_proto(s.board),
        };
        let earlier: Vec<Period> = std::iter::successors(period.previous(), |p| p.previous())
            .take(TREND_PERIODS - 1)
            .collect();
        let mut trends: BTreeMap<String, Vec<pb::TrendPoint>> = BTreeMap::new();
        for p in earlier.iter().rev() {
            let text = p.to_string();
            for s in store::scores_of_group(&mut conn, &text, kind, &code).await? {
                trends
                    .entry(s.unit_id.clone())
                    .or_default()
                    .push(point(&text, &s));
            }
        }
        let previous_text = period.previous().map(|p| p.to_string());
        let (page, next_page_token) = ids::paginate(page, limit, &filters, |s| PageToken {
            sort_key: i64::from(s.position),
            id: s.unit_id.clone(),
        });
        let units = self.core.units();
        Ok(pb::ListRankingsResponse {
            rankings: page
                .into_iter()
                .map(|s| {
                    let mut trend = trends.remove(&s.unit_id).unwrap_or_default();
                    let previous_rank = trend
                        .last()
                        .filter(|t| Some(&t.period) == previous_text.as_ref())
                        .map_or(0, |t| t.rank);
                    trend.push(point(&period_text, &s));
                    pb::Ranking {
                        rank: s.rank,
                        unit_name: units.name_of(kind, &s.unit_id),
                        jurisdiction_code: units
                            .jurisdiction_of(kind, &s.unit_id)
                            .unwrap_or_else(|| code.clone()),
                        unit_kind: convert::unit_kind_to_proto(kind),
                        total: s.total,
                        board: convert::board_to_proto(s.board),
                        previous_rank,
                        black_board_streak: s.black_streak,
                        not_ranked_reason: s.not_ranked_reason,
                        unit_id: s.unit_id,
                        trend,
                    }
                })
                .collect(),
            next_page_token,
        })
    }

    async fn alerts(
        &self,
        principal: &Principal,
        request: pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, Error> {
        let mut violations = Violations::new();
        let period = match non_empty(&request.period) {
            Some(text) => violations
                .check("period", Period::parse(text))
                .map(|p| p.to_string()),
            None => None,
        };
        let kind = match request.kind {
            0 => None,
            value => {
                let kind = convert::alert_kind(value);
                if kind.is_none() {
                    violations.add(
                        "kind",
                        Why::new(
                            "must be BAD_REVIEW_NOTICE, INACTION_NOTICE or LEADER_INTERVIEW",
                            "请选择差评通报、不作为通报或约谈",
                        ),
                    );
                }
                kind
            }
        };
        let unit_id =
            fields::optional_text(&mut violations, "unit_id", &request.unit_id, MAX_UNIT_ID);
        let unit_id = non_empty(&unit_id).map(str::to_owned);
        let limit = violations.check("page_size", ids::page_size(request.page_size));
        violations.finish()?;
        let limit = limit.ok_or_else(|| Error::internal("a checked page size is missing"))?;
        let scope = self.scope(principal);
        let jurisdictions = match (non_empty(&request.jurisdiction_code), &scope) {
            (None, Scope::Everything) => None,
            (None, Scope::Jurisdictions(codes)) => {
                Some(codes.iter().map(|c| c.as_str().to_owned()).collect())
            }
            (None, Scope::Enterprise(_) | Scope::Nothing) => {
                return Err(Error::PermissionDenied(
                    "your token names no known jurisdiction".into(),
                )
                .zh("您的登录凭证未指明所属辖区，无法查看"));
            }
            (Some(requested), _) => {
                let code = self.jurisdiction(principal, &scope, requested)?;
                Some(self.descendants(&code))
            }
        };
        let filters = format!(
            "{}|{}|{}|{}",
            period.as_deref().unwrap_or(""),
            kind.map_or("", |k| k.as_str()),
            request.jurisdiction_code.trim(),
            unit_id.as_deref().unwrap_or("")
        );
        let after = PageToken::decode(&request.page_token, &filters)?.map(|t| (t.sort_key, t.id));
        let filter = AlertFilter {
            period,
            kind,
            jurisdictions,
            unit_id,
            after,
        };
        let mut conn = self.core.store.pool().acquire().await?;
        let alerts = store::list_alerts(&mut conn, &filter, limit).await?;
        let (alerts, next_page_token) = ids::paginate(alerts, limit, &filters, |a| PageToken {
            sort_key: a.create_time,
            id: a.id.clone(),
        });
        // Each case behind a notice by its acceptance number, for people.
        let fact_ids: Vec<String> = alerts.iter().flat_map(|a| a.fact_ids.clone()).collect();
        let numbers = store::case_numbers(&mut conn, &fact_ids).await?;
        Ok(pb::ListAlertsResponse {
            alerts: alerts
                .iter()
                .map(|alert| pb::Alert {
                    case_numbers: alert
                        .fact_ids
                        .iter()
                        .filter_map(|id| numbers.get(id).map(|n| (id.clone(), n.clone())))
                        .collect(),
                    ..convert::alert_to_proto(alert)
                })
                .collect(),
            next_page_token,
        })
    }

    async fn overview(
        &self,
        principal: &Principal,
        request: pb::GetOverviewRequest,
    ) -> Result<pb::Overview, Error> {
        let period = convert::period("period", &request.period)?;
        let scope = self.scope(principal);
        let code = self.jurisdiction(principal, &scope, &request.jurisdiction_code)?;
        let jurisdictions = self.descendants(&code);
        let period_text = period.to_string();
        let now = self.core.clock.now();
        let mut conn = self.core.store.pool().acquire().await?;
        let metrics =
            store::summed_jurisdiction_metrics(&mut conn, &period_text, &jurisdictions).await?;
        let overdue =
            store::overdue_at(&mut conn, &jurisdictions, period.end_micros().min(now)).await?;
        let get = |name: &str| metrics.get(name).copied().unwrap_or(0);
        let mut by_channel: Vec<pb::ChannelCount> = metrics
            .iter()
            .filter_map(|(name, value)| {
                let channel = appeal::Channel::parse(name.strip_prefix(metric::CHANNEL)?)?;
                (*value > 0).then(|| pb::ChannelCount {
                    channel: appeal::channel_to_proto(channel),
                    count: count(*value),
                })
            })
            .collect();
        by_channel.sort_by_key(|c| c.channel);
        let mut by_category: Vec<pb::CategoryCount> = metrics
            .iter()
            .filter_map(|(name, value)| {
                let category = appeal::Category::parse(name.strip_prefix(metric::CATEGORY)?)?;
                (*value > 0).then(|| pb::CategoryCount {
                    category: appeal::category_to_proto(category),
                    count: count(*value),
                })
            })
            .collect();
        by_category.sort_by_key(|c| c.category);
        let invited = get(metric::INVITED);
        Ok(pb::Overview {
            jurisdiction_code: code,
            period: period_text,
            appeal_count: count(get(metric::APPEALS)),
            appeals_by_channel: by_channel,
            appeals_by_category: by_category,
            resolved_count: count(get(metric::RESOLVED)),
            solved_count: count(get(metric::SOLVED)),
            on_time_rate: ratio(get(metric::ON_TIME), get(metric::DUE)),
            overdue_count: count(overdue),
            satisfaction_rate: ratio(get(metric::SATISFIED), get(metric::REVIEWS)),
            review_count: count(get(metric::REVIEWS)),
            bad_review_count: count(get(metric::BAD_REVIEWS)),
            unrated_rate: ratio(invited - get(metric::RATED_INVITATIONS), invited),
            rectification_rate: ratio(get(metric::RECTIFIED), get(metric::VALID_BAD_REVIEWS)),
            meeting_count: count(get(metric::MEETINGS)),
            meeting_case_count: count(get(metric::MEETING_CASES)),
            fulfillment_count: count(get(metric::FULFILLMENTS)),
            fulfillment_amount_fen: get(metric::FULFILLMENT_FEN).max(0),
            published_policy_count: count(get(metric::POLICIES_PUBLISHED)),
            adopted_comment_count: count(get(metric::COMMENTS_ADOPTED)),
            compute_time: Some(timestamp(now)),
        })
    }

    async fn recompute_period(
        &self,
        principal: &Principal,
        request: pb::RecomputeRequest,
    ) -> Result<pb::RecomputeResponse, Error> {
        self.require_assessor(principal, "重算考核期")?;
        let mut violations = Violations::new();
        let period = violations.check("period", Period::parse(&request.period));
        let request_id = request.request_id.trim();
        convert::request_id(&mut violations, request_id);
        violations.finish()?;
        let period = period.ok_or_else(|| Error::internal("a checked period is missing"))?;
        let core = &self.core;
        let mut tx = core.store.begin_write().await?;
        store::lock_scores(&mut tx, core.store.backend()).await?;
        if let Some(first) = remembered(&mut tx, principal, request_id, "Recompute").await? {
            return Ok(first);
        }
        let rebuilt = core.rebuild(&mut tx, period).await?;
        let now = core.clock.now();
        let response = pb::RecomputeResponse {
            period: rebuilt.period.clone(),
            scorecard_count: rebuilt.scorecard_count,
            matched: rebuilt.mismatched_unit_ids.is_empty(),
            mismatched_unit_ids: rebuilt.mismatched_unit_ids,
            compute_time: Some(timestamp(now)),
        };
        if !response.matched {
            tracing::warn!(period = %response.period, units = ?response.mismatched_unit_ids, "the rebuilt scores differ from the incremental ones");
        }
        core.events
            .append(
                &mut tx,
                &response.period,
                &core.city,
                &pb::PeriodRecomputed {
                    result: Some(response.clone()),
                },
            )
            .await?;
        remember(&mut tx, principal, request_id, "Recompute", &response, now).await?;
        tx.commit().await?;
        core.events.wake();
        Ok(response)
    }
}

#[tonic::async_trait]
impl ScoringService for ScoringApi {
    async fn put_indicator_model(
        &self,
        request: Request<pb::PutIndicatorModelRequest>,
    ) -> Result<Response<pb::IndicatorModel>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.put_model(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_indicator_model(
        &self,
        request: Request<pb::GetIndicatorModelRequest>,
    ) -> Result<Response<pb::IndicatorModel>, Status> {
        let period = convert::period("period", &request.get_ref().period)?;
        let mut conn = self
            .core
            .store
            .pool()
            .acquire()
            .await
            .map_err(Error::from)?;
        let model = self.core.effective_model(&mut conn, period).await?;
        Ok(Response::new(convert::model_to_proto(
            &model,
            &period.to_string(),
        )))
    }

    async fn get_scorecard(
        &self,
        request: Request<pb::GetScorecardRequest>,
    ) -> Result<Response<pb::Scorecard>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.scorecard(&principal, request.into_inner()).await?,
        ))
    }

    async fn list_indicator_facts(
        &self,
        request: Request<pb::ListIndicatorFactsRequest>,
    ) -> Result<Response<pb::ListIndicatorFactsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.indicator_facts(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn list_rankings(
        &self,
        request: Request<pb::ListRankingsRequest>,
    ) -> Result<Response<pb::ListRankingsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.rankings(&principal, request.into_inner()).await?,
        ))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.alerts(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_overview(
        &self,
        request: Request<pb::GetOverviewRequest>,
    ) -> Result<Response<pb::Overview>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.overview(&principal, request.into_inner()).await?,
        ))
    }

    async fn recompute(
        &self,
        request: Request<pb::RecomputeRequest>,
    ) -> Result<Response<pb::RecomputeResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        Ok(Response::new(
            self.recompute_period(&principal, request.into_inner())
                .await?,
        ))
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.core.events, request, &self.core.directory)
    }
}
