//! The working-day calendar (工作日历): loading a year, reading what is loaded.

use super::*;
pub(super) async fn put_calendar_year(
    api: &RoutingApi,
    request: Request<pb::PutCalendarYearRequest>,
) -> Result<Response<pb::PutCalendarYearResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    // The calendar is the whole deployment's: its city's admin loads it.
    if !principal.has_role(Role::Admin)
        || principal.jurisdiction.as_deref() != Some(api.core.city.as_str())
    {
        return Err(Error::PermissionDenied(format!(
            "载入工作日历须由本市（{}）的管理员（admin）操作",
            api.core.city
        ))
        .zh(format!(
            "载入工作日历须由本市（{}）的管理员操作",
            api.jurisdiction_name(&api.core.city)
        ))
        .into());
    }
    let request = request.into_inner();
    if request.content.trim().is_empty() {
        const EMPTY: &str = "日历文件为空：请提供该年国务院节假日安排的TOML文件内容";
        return Err(Error::invalid("content", Why::new(EMPTY, EMPTY)).into());
    }
    let calendar = api.core.calendar.current();
    let next = calendar
        .with_year_toml(&request.content)
        .map_err(|e| Error::invalid("content", e))?;
    let (year, source) =
        Calendar::check_year_toml(&request.content).map_err(|e| Error::invalid("content", e))?;
    let now = api.core.clock.now();
    let loaded = LoadedYear {
        year,
        source: source.unwrap_or_default(),
        content: request.content,
        loaded_by: principal.sub.clone(),
        load_time: now,
    };
    let recounted = api
        .core
        .store
        .put_calendar_year(&loaded, &next, &api.core.city, request.request_id.trim())
        .await?;
    // Every task of this part sees the year from now on; cases opened
    // meanwhile on the calendar before are counted again.
    api.core
        .calendar
        .load_year_toml(&loaded.content)
        .map_err(|e| Error::invalid("content", e))?;
    let late = api
        .core
        .store
        .recount_deadlines(&api.core.calendar.current(), Some(year), now)
        .await?;
    api.core.calendar.report_days_left("routing", now);
    tracing::info!(
        year,
        by = %principal.sub,
        recounted = recounted + late,
        "a working-day calendar year was loaded"
    );
    Ok(Response::new(pb::PutCalendarYearResponse {
        calendar_year: Some(convert::calendar_year_to_proto(&loaded, true)),
        recounted_cases: (recounted + late) as i32,
    }))
}

pub(super) async fn get_calendar(
    api: &RoutingApi,
    request: Request<pb::GetCalendarRequest>,
) -> Result<Response<pb::WorkingCalendar>, Status> {
    access::principal(&request)?;
    let calendar = api.core.calendar.current();
    let loaded = api.core.store.calendar_years().await?;
    let years = calendar
        .loaded_years()
        .into_iter()
        .map(|year| {
            let stored = loaded.iter().find(|y| y.year == year);
            let shown = stored.cloned().unwrap_or_else(|| LoadedYear {
                year,
                source: calendar.source(year).unwrap_or_default().to_owned(),
                content: String::new(),
                loaded_by: String::new(),
                load_time: 0,
            });
            convert::calendar_year_to_proto(&shown, false)
        })
        .collect();
    let today = zhengqi_shared::clock::beijing_date(api.core.clock.now());
    let days_left = calendar.days_left(today).unwrap_or_default();
    Ok(Response::new(pb::WorkingCalendar {
        years,
        last_loaded_day: calendar
            .last_loaded_day()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        days_left: days_left.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        next_year_due: days_left <= WARN_DAYS_LEFT,
    }))
}
