//! The tonic implementation of `zhengqi.intake.v1.IntakeService`: proto in,
//! proto out; the rules are in `domain`, the data in `store`.

use std::sync::Arc;

use futures_util::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::intake::v1 as pb;
use zhengqi_proto::zhengqi::intake::v1::intake_service_server::IntakeService;
use zhengqi_shared::Error;
use zhengqi_shared::access::{self, Scope};
use zhengqi_shared::auth::Principal;
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::Directory;

use crate::convert;
use crate::domain::{self, Appeal};
use crate::store::{AppealFilter, EnterpriseFilter, IntakeStore};

/// How many items of an import are in flight at once.
const IMPORT_CONCURRENCY: usize = 64;

#[derive(Clone)]
pub struct IntakeApi {
    store: IntakeStore,
    directory: Arc<Directory>,
}

impl IntakeApi {
    pub fn new(store: IntakeStore, directory: Arc<Directory>) -> Self {
        Self { store, directory }
    }

    fn scope(&self, principal: &Principal) -> Scope {
        Scope::of(principal, &self.directory)
    }

    async fn submit(
        &self,
        principal: &Principal,
        request: pb::SubmitAppealRequest,
    ) -> Result<Appeal, Error> {
        let appeal = convert::new_appeal(request, &self.directory)?;
        if !principal
            .roles
            .iter()
            .any(|role| domain::may_file_on(*role, appeal.channel))
        {
            let allowed: Vec<&str> = domain::channels_for(&principal.roles)
                .iter()
                .map(|c| c.as_str())
                .collect();
            return Err(Error::invalid(
                "channel",
                format!(
                    "您不能以 {} 渠道登记诉求，可用渠道：{}（not a channel your role files on）",
                    appeal.channel.as_str(),
                    allowed.join("、")
                ),
            ));
        }
        self.scope(principal).check_write(
            appeal.jurisdiction.as_str(),
            appeal.enterprise.uscc.as_str(),
            "this appeal",
        )?;
        self.store.submit(&principal.sub, appeal).await
    }

    /// The jurisdictions a list may show, given the caller's scope and the
    /// optional `jurisdiction_code` filter; `None` means no restriction.
    fn visible_jurisdictions(
        &self,
        scope: &Scope,
        requested: &str,
    ) -> Result<Option<Vec<String>>, Error> {
        scope.list_jurisdictions(&self.directory, requested)
    }
}

fn optional_enum<T>(
    field: &str,
    value: i32,
    convert: fn(i32) -> Option<T>,
) -> Result<Option<T>, Error> {
    if value == 0 {
        return Ok(None);
    }
    convert(value)
        .map(Some)
        .ok_or_else(|| Error::invalid(field, format!("{value} is not a known value")))
}

fn required_id(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        Err(Error::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_appeal(
        &self,
        request: Request<pb::SubmitAppealRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        let principal = access::principal(&request)?.clone();
        let appeal = self.submit(&principal, request.into_inner()).await?;
        Ok(Response::new(convert::appeal_to_proto(&appeal)))
    }

    async fn import_appeals(
        &self,
        request: Request<Streaming<pb::SubmitAppealRequest>>,
    ) -> Result<Response<pb::ImportAppealsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let items = request.into_inner();
        let principal = &principal;
        let results: Vec<pb::ImportResult> = items
            .enumerate()
            .map(|(index, item)| async move {
                let index = index as u32;
                let item = match item {
                    Ok(item) => item,
                    Err(status) => {
                        return pb::ImportResult {
                            index,
                            code: status.code() as i32,
                            message: status.message().to_owned(),
                            ..Default::default()
                        };
                    }
                };
                let request_id = item.request_id.clone();
                match self.submit(principal, item).await {
                    Ok(appeal) => pb::ImportResult {
                        index,
                        request_id,
                        appeal: Some(convert::appeal_to_proto(&appeal)),
                        ..Default::default()
                    },
                    Err(error) => {
                        let invalid_fields = match &error {
                            Error::InvalidArgument(violations) => {
                                violations.iter().map(|v| v.field.clone()).collect()
                            }
                            _ => Vec::new(),
                        };
                        let status = Status::from(error);
                        pb::ImportResult {
                            index,
                            request_id,
                            appeal: None,
                            code: status.code() as i32,
                            message: status.message().to_owned(),
                            invalid_fields,
                        }
                    }
                }
            })
            .buffered(IMPORT_CONCURRENCY)
            .collect()
            .await;
        let accepted_count = results.iter().filter(|r| r.code == 0).count() as u32;
        Ok(Response::new(pb::ImportAppealsResponse {
            rejected_count: results.len() as u32 - accepted_count,
            accepted_count,
            results,
        }))
    }

    async fn get_appeal(
        &self,
        request: Request<pb::GetAppealRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        let principal = access::principal(&request)?.clone();
        let id = request.into_inner().id;
        required_id("id", &id)?;
        let not_found = || Error::NotFound(format!("appeal {id}"));
        let appeal = self.store.get_appeal(&id).await?.ok_or_else(not_found)?;
        self.scope(&principal).check_read(
            &appeal.jurisdiction_code,
            &appeal.uscc,
            &format!("appeal {id}"),
        )?;
        Ok(Response::new(convert::appeal_for(&principal, &appeal)))
    }

    async fn list_appeals(
        &self,
        request: Request<pb::ListAppealsRequest>,
    ) -> Result<Response<pb::ListAppealsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(request.page_size)?;
        let mut filter = AppealFilter {
            jurisdictions: self.visible_jurisdictions(&scope, &request.jurisdiction_code)?,
            uscc: (!request.uscc.trim().is_empty()).then(|| request.uscc.trim().to_owned()),
            status: optional_enum("status", request.status, convert::status)?,
            channel: optional_enum("channel", request.channel, convert::channel)?,
            category: optional_enum("category", request.category, convert::category)?,
        };
        if let Scope::Enterprise(own) = &scope {
            match &filter.uscc {
                Some(uscc) if uscc != own => {
                    return Err(Error::PermissionDenied(
                        "an enterprise may list only its own appeals".into(),
                    )
                    .into());
                }
                _ => filter.uscc = Some(own.clone()),
            }
        }
        let fingerprint = format!(
            "{}|{:?}|{:?}|{}|{}|{}",
            principal.sub,
            filter.jurisdictions,
            filter.uscc,
            request.status,
            request.channel,
            request.category
        );
        let after = PageToken::decode(&request.page_token, &fingerprint)?;
        let appeals = self
            .store
            .list_appeals(&filter, limit, after.as_ref())
            .await?;
        let (page, next_page_token) =
            ids::paginate(appeals, limit, &fingerprint, |last| PageToken {
                sort_key: last.create_time,
                id: last.id.clone(),
            });
        Ok(Response::new(pb::ListAppealsResponse {
            appeals: page
                .iter()
                .map(|appeal| convert::appeal_for(&principal, appeal))
                .collect(),
            next_page_token,
        }))
    }

    async fn withdraw_appeal(
        &self,
        request: Request<pb::WithdrawAppealRequest>,
    ) -> Result<Response<pb::Appeal>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        required_id("id", &request.id)?;
        let reason = request.reason.trim();
        if reason.chars().count() > domain::REASON_MAX_CHARS {
            return Err(Error::invalid(
                "reason",
                format!("must be at most {} characters", domain::REASON_MAX_CHARS),
            )
            .into());
        }
        let scope = self.scope(&principal);
        let id = request.id.clone();
        let appeal = self
            .store
            .withdraw(&request.id, reason, |appeal| {
                scope.check_read(
                    &appeal.jurisdiction_code,
                    &appeal.uscc,
                    &format!("appeal {id}"),
                )
            })
            .await?;
        Ok(Response::new(convert::appeal_to_proto(&appeal)))
    }

    async fn register_enterprise(
        &self,
        request: Request<pb::RegisterEnterpriseRequest>,
    ) -> Result<Response<pb::Enterprise>, Status> {
        let principal = access::principal(&request)?.clone();
        let enterprise = convert::enterprise(request.into_inner().enterprise, &self.directory)?;
        let scope = self.scope(&principal);
        scope.check_write(
            enterprise.jurisdiction.as_str(),
            enterprise.uscc.as_str(),
            "this enterprise",
        )?;
        // The registration as stored decides who may change it: a county
        // neither takes another county's enterprise nor rewrites it.
        let uscc = enterprise.uscc.as_str().to_owned();
        let enterprise = self
            .store
            .register_enterprise(enterprise, |stored| match stored {
                Some(stored) if !scope.covers(stored.jurisdiction.as_str(), stored.uscc.as_str()) => {
                    Err(Error::PermissionDenied(format!(
                        "企业 {uscc} 登记在 {}，不在您的辖区（enterprise {uscc} is registered in {0}, outside your jurisdiction）",
                        stored.jurisdiction.as_str()
                    )))
                }
                _ => Ok(()),
            })
            .await?;
        Ok(Response::new(convert::enterprise_to_proto(&enterprise)))
    }

    async fn get_enterprise(
        &self,
        request: Request<pb::GetEnterpriseRequest>,
    ) -> Result<Response<pb::Enterprise>, Status> {
        let principal = access::principal(&request)?.clone();
        let uscc = request.into_inner().uscc.trim().to_owned();
        required_id("uscc", &uscc)?;
        let not_found = || Error::NotFound(format!("enterprise {uscc}"));
        let enterprise = self
            .store
            .get_enterprise(&uscc)
            .await?
            .ok_or_else(not_found)?;
        self.scope(&principal).check_read(
            enterprise.jurisdiction.as_str(),
            enterprise.uscc.as_str(),
            &format!("enterprise {uscc}"),
        )?;
        Ok(Response::new(convert::enterprise_to_proto(&enterprise)))
    }

    async fn list_enterprises(
        &self,
        request: Request<pb::ListEnterprisesRequest>,
    ) -> Result<Response<pb::ListEnterprisesResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(request.page_size)?;
        let filter = EnterpriseFilter {
            jurisdictions: self.visible_jurisdictions(&scope, &request.jurisdiction_code)?,
            tag: optional_enum("tag", request.tag, convert::tag)?,
        };
        let fingerprint = format!(
            "{}|{:?}|{}",
            principal.sub, filter.jurisdictions, request.tag
        );
        let after = PageToken::decode(&request.page_token, &fingerprint)?;
        let enterprises = self
            .store
            .list_enterprises(&filter, limit + 1, after.as_ref())
            .await?;
        let (page, next_page_token) =
            ids::paginate(enterprises, limit, &fingerprint, |last| PageToken {
                sort_key: 0,
                id: last.uscc.as_str().to_owned(),
            });
        Ok(Response::new(pb::ListEnterprisesResponse {
            enterprises: page.iter().map(convert::enterprise_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(self.store.events(), request, &self.directory)
    }
}
