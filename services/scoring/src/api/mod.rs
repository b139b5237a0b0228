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

mod alerts;
mod models;
mod overview;
mod scorecards;

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
