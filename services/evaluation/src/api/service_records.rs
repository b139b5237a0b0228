//! Service records: the visits and transactions a window served an enterprise
//! with, each the one thing a window review may rate.

use super::*;
pub(super) async fn register_service_record(
    api: &EvaluationApi,
    request: Request<pb::RegisterServiceRecordRequest>,
) -> Result<Response<pb::ServiceRecord>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let now = api.core.clock.now();
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    let window_id = req.window_id.trim().to_owned();
    let department = if window_id.is_empty() {
        v.add(
            "window_id",
            Why::new(
                "须指明服务窗口（must name the service window, like 510821-xzsp-03）",
                "须指明服务窗口，如 510821-xzsp-03",
            ),
        );
        None
    } else {
        let department = review::window_department(&window_id)
            .filter(|_| window_id.len() <= 64)
            .ok_or_else(|| {
                Why::new(
                    "不是服务窗口编号，如 510821-xzsp-03（must be a service window id like 510821-xzsp-03）",
                    "不是服务窗口编号，服务窗口编号形如 510821-xzsp-03",
                )
            })
            .and_then(|d| api.department(&d).map(|j| (d, j)));
        v.check("window_id", department)
    };
    let uscc = uscc(&mut v, "uscc", &req.uscc);
    fields::text(&mut v, "matter", &req.matter, TITLE_MAX_CHARS);
    let transaction_number = req.transaction_number.trim().to_owned();
    let number_ok = !transaction_number.is_empty()
        && transaction_number.len() <= 64
        && transaction_number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b));
    if !number_ok {
        v.add(
            "transaction_number",
            Why::new(
                "须为 1 至 64 个字母、数字或 - _ / .（must be 1 to 64 letters, digits, '-', '_', '/' or '.'）",
                "须为 1 至 64 个字母、数字或 - _ / .",
            ),
        );
    }
    let serve_time = match req.serve_time.as_ref() {
        None => Some(now),
        Some(t) => fields::time(&mut v, "serve_time", Some(t)),
    };
    if serve_time.is_some_and(|t| t > now.saturating_add(FUTURE_TOLERANCE_MICROS)) {
        v.add(
            "serve_time",
            Why::new(
                "不能是将来的时间（must not be in the future）",
                "不能是将来的时间",
            ),
        );
    }
    v.finish()?;
    let (Some((department_id, jurisdiction_code)), Some(uscc), Some(serve_time)) =
        (department, uscc, serve_time)
    else {
        return Err(Error::internal("validated fields are missing").into());
    };
    // The window's department registers its own visits; its office, or the
    // platform's service token, those of its jurisdictions.
    access::acting_department(&principal, &scope, &department_id)?;
    scope.check_write(&jurisdiction_code, "", &format!("window {window_id}"))?;
    let mut work = api
        .core
        .store
        .work(
            &principal.sub,
            &req.request_id,
            "RegisterServiceRecord",
            now,
        )
        .await?;
    let id = ids::new_id(&jurisdiction_code);
    if let Some(first) = work.claim(&id).await? {
        let existing = store::get_service_record(work.conn(), &first)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("service record {first}")).zh("未找到该服务记录")
            })?;
        return Ok(Response::new(convert::service_record_to_proto(
            &existing, false,
        )));
    }
    let record = ServiceRecord {
        id,
        enterprise_name: store::enterprise_name(work.conn(), &uscc).await?,
        window_id,
        department_id,
        jurisdiction_code,
        uscc,
        matter: req.matter.trim().to_owned(),
        transaction_number,
        serve_time,
        registered_by: principal.sub.clone(),
        review_id: String::new(),
        create_time: now,
    };
    if !store::insert_service_record(work.conn(), &record).await? {
        // The platform sending one transaction again gets the record it
        // made; a number taken by another enterprise's is a conflict.
        let existing = store::service_record_of_transaction(
            work.conn(),
            &record.window_id,
            &record.transaction_number,
        )
        .await?
        .ok_or_else(|| Error::internal("a taken transaction number has no record"))?;
        if existing.uscc == record.uscc {
            return Ok(Response::new(convert::service_record_to_proto(
                &existing, false,
            )));
        }
        return Err(Error::AlreadyExists(format!(
            "窗口 {} 的办件编号 {} 已登记给其他企业（transaction number {} of window {} is registered for another enterprise）",
            record.window_id, record.transaction_number, record.transaction_number, record.window_id
        ))
        .zh(format!(
            "窗口 {} 的办件编号 {} 已登记给其他企业",
            record.window_id, record.transaction_number
        ))
        .into());
    }
    work.record(
        &record.id,
        &record.jurisdiction_code,
        &pb::ServiceRecordRegistered {
            service_record: Some(convert::service_record_to_proto(&record, false)),
        },
    );
    work.commit(&record.id).await?;
    Ok(Response::new(convert::service_record_to_proto(
        &record, false,
    )))
}

pub(super) async fn list_service_records(
    api: &EvaluationApi,
    request: Request<pb::ListServiceRecordsRequest>,
) -> Result<Response<pb::ListServiceRecordsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let limit = ids::page_size(req.page_size)?;
    let mut v = Violations::new();
    let uscc_filter = match non_empty(&req.uscc) {
        Some(u) => uscc(&mut v, "uscc", &u),
        None => None,
    };
    v.finish()?;
    let jurisdictions = scope.list_jurisdictions(&api.core.directory, &req.jurisdiction_code)?;
    let mut filter = ServiceRecordFilter {
        jurisdictions,
        department_id: non_empty(&req.department_id),
        window_id: non_empty(&req.window_id),
        uscc: uscc_filter,
        unrated_only: req.unrated_only,
    };
    // Whom a window served: the enterprise its own, the offices of the
    // jurisdictions theirs, a department's staff their own windows'; not
    // third-party evaluators or supervisors (aggregates only).
    let office = principal.has_any(&[Role::Coordinator, Role::Leader, Role::Admin, Role::Service]);
    let none = || Ok(Response::new(pb::ListServiceRecordsResponse::default()));
    if let Scope::Enterprise(_) = scope {
        let own = enterprise_uscc(&scope)?;
        if filter.uscc.as_ref().is_some_and(|u| *u != own) {
            return none();
        }
        filter.uscc = Some(own);
    } else if !office {
        let Some(own) = principal.department.as_deref().filter(|d| !d.is_empty()) else {
            return none();
        };
        if !principal.has_role(Role::Handler)
            || filter.department_id.as_ref().is_some_and(|d| d != own)
        {
            return none();
        }
        filter.department_id = Some(own.to_owned());
    }
    let protect = protects_reviewers(&principal, &scope);
    let fingerprint = format!("{filter:?}|{protect}");
    let after = PageToken::decode(&req.page_token, &fingerprint)?;
    let mut conn = api.core.store.read().await?;
    let rows = store::list_service_records(&mut conn, &filter, after, limit).await?;
    let (page, next_page_token) = ids::paginate(rows, limit, &fingerprint, |record| PageToken {
        sort_key: record.serve_time,
        id: record.id.clone(),
    });
    Ok(Response::new(pb::ListServiceRecordsResponse {
        service_records: page
            .iter()
            .map(|record| convert::service_record_to_proto(record, protect))
            .collect(),
        next_page_token,
    }))
}
