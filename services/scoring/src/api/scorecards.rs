//! A unit's scorecard for a period and the facts behind each of its figures.

use super::*;
impl ScoringApi {
    /// The unit `unit_id` names and the period, checked (each bad field named)
    /// and within `principal`'s scope; with the unit's jurisdiction.
    pub(super) fn unit_in_scope(
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

    pub(super) async fn scorecard(
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

    pub(super) async fn indicator_facts(
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
}
