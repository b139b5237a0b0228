//! The ledger (台账) of a jurisdiction: its hash chain checked, exported as
//! xlsx or csv.

use super::*;
impl RoutingApi {
    /// The jurisdiction a whole-ledger call is about: the requested one or the
    /// caller's own, which the caller's scope must cover.
    pub(super) fn ledger_jurisdiction(
        &self,
        principal: &Principal,
        requested: &str,
    ) -> Result<String, Error> {
        let requested = non_empty(requested)
            .or_else(|| principal.jurisdiction.clone())
            .unwrap_or_else(|| self.core.city.clone());
        let code = self
            .core
            .directory
            .parse_known(&requested)
            .map_err(|e| Error::invalid("jurisdiction_code", e))?;
        if !self.scope(principal).covers_jurisdiction(code.as_str()) {
            return Err(Error::PermissionDenied(format!(
                "the ledger of {code} is outside your jurisdiction"
            ))
            .zh(format!(
                "{}的台账不在您的辖区内，您无权查看",
                self.jurisdiction_name(code.as_str())
            )));
        }
        Ok(code.as_str().to_owned())
    }
}

pub(super) async fn verify_ledger(
    api: &RoutingApi,
    request: Request<pb::VerifyLedgerRequest>,
) -> Result<Response<pb::VerifyLedgerResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let jurisdiction = api.ledger_jurisdiction(&principal, &request.get_ref().jurisdiction_code)?;
    let code = zhengqi_shared::reference::JurisdictionCode::parse(&jurisdiction)
        .map_err(Error::internal)?;
    let mut response = pb::VerifyLedgerResponse {
        ok: true,
        ..Default::default()
    };
    // The requested jurisdiction's own ledger first, then those below it.
    let mut codes: Vec<String> = api
        .core
        .directory
        .descendants(&code)
        .into_iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| *c != jurisdiction)
        .collect();
    codes.insert(0, jurisdiction.clone());
    for code in codes {
        let verification = api.core.store.verify_ledger(&code).await?;
        let (broken, problem) = match (&verification.broken, &verification.missing_tail) {
            (Some((entry, problem)), _) => (Some(entry), problem.clone()),
            (None, Some(problem)) => (None, problem.clone()),
            (None, None) => (None, String::new()),
        };
        let ok = problem.is_empty();
        if code == jurisdiction {
            response.head_hash = verification.head_hash.clone();
        } else if ok && verification.checked == 0 {
            continue;
        }
        if !ok && response.ok {
            response.ok = false;
            response.first_broken_entry = broken.map(convert::entry_to_proto);
            response.problem = format!("{code}：{problem}");
        }
        response.checked_entries += verification.checked;
        response.ledgers.push(pb::LedgerCheck {
            jurisdiction_code: code,
            ok,
            checked_entries: verification.checked,
            head_hash: verification.head_hash,
            problem,
        });
    }
    Ok(Response::new(response))
}

pub(super) async fn export_ledger(
    api: &RoutingApi,
    request: Request<pb::ExportLedgerRequest>,
) -> Result<Response<HttpBody>, Status> {
    /// The most rows one export carries.
    const MAX_ROWS: usize = 100_000;
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let jurisdiction = api.ledger_jurisdiction(&principal, &request.jurisdiction_code)?;
    let format = match request.format {
        0 | 1 => pb::ExportFormat::Xlsx,
        2 => pb::ExportFormat::Csv,
        other => {
            return Err(Error::invalid("format", Problem::UnknownValue(other)).into());
        }
    };
    let code = zhengqi_shared::reference::JurisdictionCode::parse(&jurisdiction)
        .map_err(Error::internal)?;
    let mut v = Violations::new();
    let filter = CaseFilter {
        jurisdictions: Some(
            api.core
                .directory
                .descendants(&code)
                .into_iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        ),
        state: fields::optional_enum(&mut v, "state", request.state, convert::state),
        level: fields::optional_enum(&mut v, "level", request.level, convert::level),
        department_id: non_empty(&request.department_id),
        meeting_id: non_empty(&request.meeting_id),
        created_from: request.start_time.as_ref().map(micros_of),
        created_before: request.end_time.as_ref().map(micros_of),
        ..CaseFilter::default()
    };
    v.finish()?;
    let cases = api.core.store.all_cases(&filter, MAX_ROWS).await?;
    let rows: Vec<_> = cases
        .iter()
        .map(|case| ledger_sheet::row(case, |id| api.department_name(id)))
        .collect();
    let (content_type, data) = match format {
        pb::ExportFormat::Csv => (export::CSV_CONTENT_TYPE, export::csv(&rows)),
        _ => (export::XLSX_CONTENT_TYPE, export::xlsx(&rows)?),
    };
    Ok(Response::new(HttpBody {
        content_type: content_type.to_owned(),
        data,
        extensions: Vec::new(),
    }))
}
