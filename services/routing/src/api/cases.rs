//! Reading cases: one case in scope, lists with filters and pages, a case's
//! history (its ledger entries). The case's steps are the trait's one-liners
//! through `RoutingApi::mutate`.

use super::*;
impl RoutingApi {
    pub(super) async fn readable_case(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<crate::domain::Case, Error> {
        let mut v = Violations::new();
        let id = fields::id(&mut v, "id", id);
        v.finish()?;
        let not_found = || Error::NotFound(format!("case {id}")).zh("未找到该案件，或您无权查看");
        let case = self.core.store.get_case(&id).await?.ok_or_else(not_found)?;
        if self
            .scope(principal)
            .covers(&case.jurisdiction_code, &case.uscc)
        {
            return Ok(case);
        }
        // A butler sees every case of their enterprises, wherever it is handled.
        if principal.has_any(GOVERNMENT)
            && let Some(butler) = self.core.store.get_butler(&case.uscc).await?
            && butler.official == principal.sub
        {
            return Ok(case);
        }
        Err(not_found())
    }
}

pub(super) async fn get_case(
    api: &RoutingApi,
    request: Request<pb::GetCaseRequest>,
) -> Result<Response<pb::Case>, Status> {
    let principal = access::principal(&request)?.clone();
    let case = api
        .readable_case(&principal, request.get_ref().id.trim())
        .await?;
    Ok(Response::new(convert::case_for(&principal, &case)))
}

pub(super) async fn list_cases(
    api: &RoutingApi,
    request: Request<pb::ListCasesRequest>,
) -> Result<Response<pb::ListCasesResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let scope = api.scope(&principal);
    let limit = ids::page_size(request.page_size)?;
    let butler = non_empty(&request.butler);
    // A butler lists their own enterprises' cases whatever the jurisdiction.
    let own_enterprises =
        butler.as_deref() == Some(principal.sub.as_str()) && principal.has_any(GOVERNMENT);
    let jurisdictions = if own_enterprises && request.jurisdiction_code.trim().is_empty() {
        None
    } else {
        api.visible_jurisdictions(&scope, &request.jurisdiction_code)?
    };
    let mut v = Violations::new();
    let mut filter = CaseFilter {
        jurisdictions,
        butler,
        uscc: non_empty(&request.uscc),
        state: fields::optional_enum(&mut v, "state", request.state, convert::state),
        level: fields::optional_enum(&mut v, "level", request.level, convert::level),
        department_id: non_empty(&request.department_id),
        meeting_id: non_empty(&request.meeting_id),
        supervision: fields::optional_enum(
            &mut v,
            "supervision",
            request.supervision,
            convert::supervision,
        ),
        category: fields::optional_enum(&mut v, "category", request.category, convert::category),
        appeal_id: non_empty(&request.appeal_id),
        ..CaseFilter::default()
    };
    v.finish()?;
    if let Scope::Enterprise(own) = &scope {
        match &filter.uscc {
            Some(uscc) if uscc != own => {
                return Err(Error::PermissionDenied(
                    "an enterprise may list only its own cases".into(),
                )
                .zh("企业只能查看本企业的案件")
                .into());
            }
            _ => filter.uscc = Some(own.clone()),
        }
    }
    let fingerprint = format!("{}|{filter:?}|{}", principal.sub, request.overdue_only);
    // The overdue cut-off moves with the clock, so it is not part of the fingerprint.
    filter.overdue_at = request.overdue_only.then(|| api.core.clock.now());
    let after = PageToken::decode(&request.page_token, &fingerprint)?;
    let cases = api
        .core
        .store
        .list_cases(&filter, limit, after.as_ref())
        .await?;
    let (page, next_page_token) = ids::paginate(cases, limit, &fingerprint, |last| PageToken {
        sort_key: last.create_time,
        id: last.id.clone(),
    });
    Ok(Response::new(pb::ListCasesResponse {
        cases: page
            .iter()
            .map(|case| convert::case_for(&principal, case))
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn get_case_history(
    api: &RoutingApi,
    request: Request<pb::GetCaseHistoryRequest>,
) -> Result<Response<pb::CaseHistory>, Status> {
    let principal = access::principal(&request)?.clone();
    let case = api
        .readable_case(&principal, request.get_ref().id.trim())
        .await?;
    let entries = api.core.store.history(&case).await?;
    Ok(Response::new(pb::CaseHistory {
        id: case.id,
        entries: entries.iter().map(convert::entry_to_proto).collect(),
    }))
}
