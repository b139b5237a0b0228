//! The tonic implementation of `zhengqi.intake.v1.IntakeService`: proto in,
//! proto out; the rules are in `domain`, the data in `store`.

use std::sync::Arc;

use futures_util::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::intake::v1 as pb;
use zhengqi_proto::zhengqi::intake::v1::intake_service_server::IntakeService;
use zhengqi_shared::access::{self, Scope};
use zhengqi_shared::auth::Principal;
use zhengqi_shared::error::Why;
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::fields;
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{Directory, JurisdictionCode};
use zhengqi_shared::{Error, Violations};

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
            let allowed = domain::channels_for(&principal.roles);
            let names: Vec<&str> = allowed.iter().map(|c| c.as_str()).collect();
            let zh = if allowed.is_empty() {
                "您的角色不能登记诉求".to_owned()
            } else {
                let names: Vec<&str> = allowed.iter().map(|c| domain::channel_zh(*c)).collect();
                format!(
                    "您不能通过“{}”渠道登记诉求，可用渠道：{}",
                    domain::channel_zh(appeal.channel),
                    names.join("、")
                )
            };
            return Err(Error::invalid(
                "channel",
                Why::new(
                    format!(
                        "您不能以 {} 渠道登记诉求，可用渠道：{}（not a channel your role files on）",
                        appeal.channel.as_str(),
                        names.join("、")
                    ),
                    zh,
                ),
            ));
        }
        let scope = self.scope(principal);
        scope
            .check_write(
                appeal.jurisdiction.as_str(),
                appeal.enterprise.uscc.as_str(),
                "this appeal",
            )
            .map_err(|e| {
                e.zh(match &scope {
                    Scope::Enterprise(_) => "企业只能为本企业登记诉求".to_owned(),
                    Scope::Nothing => NO_SCOPE_ZH.to_owned(),
                    _ => format!(
                        "{}不在您的辖区内，不能在此登记诉求",
                        self.place(&appeal.jurisdiction)
                    ),
                })
            })?;
        self.store.submit(&principal.sub, appeal).await
    }

    /// A jurisdiction as people know it: its name and code, or the code alone.
    fn place(&self, code: &JurisdictionCode) -> String {
        match self.directory.current_name(code) {
            Some(name) => format!("{name}（{code}）"),
            None => code.to_string(),
        }
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

/// Why a caller whose token names neither a jurisdiction nor an enterprise
/// may not write.
const NO_SCOPE_ZH: &str = "您的登录凭证未指明所属辖区或企业，不能办理";

/// An appeal not found, or out of the caller's sight (which reads the same).
fn appeal_not_found(id: &str) -> Error {
    Error::NotFound(format!("appeal {id}")).zh("未找到该诉求，或您无权查看")
}

/// An enterprise not found, or out of the caller's sight.
fn enterprise_not_found(uscc: &str) -> Error {
    Error::NotFound(format!("enterprise {uscc}")).zh(format!("未找到企业 {uscc}，或您无权查看"))
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
                        let invalid_fields = match error.unlocalized() {
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
        let mut v = Violations::new();
        let id = fields::id(&mut v, "id", &request.into_inner().id);
        v.finish()?;
        let appeal = self
            .store
            .get_appeal(&id)
            .await?
            .ok_or_else(|| appeal_not_found(&id))?;
        self.scope(&principal)
            .check_read(
                &appeal.jurisdiction_code,
                &appeal.uscc,
                &format!("appeal {id}"),
            )
            .map_err(|_| appeal_not_found(&id))?;
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
        let jurisdictions = self.visible_jurisdictions(&scope, &request.jurisdiction_code)?;
        let mut v = Violations::new();
        let status = fields::optional_enum(&mut v, "status", request.status, convert::status);
        let channel = fields::optional_enum(&mut v, "channel", request.channel, convert::channel);
        let category =
            fields::optional_enum(&mut v, "category", request.category, convert::category);
        v.finish()?;
        let mut filter = AppealFilter {
            jurisdictions,
            uscc: (!request.uscc.trim().is_empty()).then(|| request.uscc.trim().to_owned()),
            status,
            channel,
            category,
        };
        if let Scope::Enterprise(own) = &scope {
            match &filter.uscc {
                Some(uscc) if uscc != own => {
                    return Err(Error::PermissionDenied(
                        "an enterprise may list only its own appeals".into(),
                    )
                    .zh("企业只能查看本企业的诉求")
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
        let mut v = Violations::new();
        let id = fields::id(&mut v, "id", &request.id);
        let reason =
            fields::optional_text(&mut v, "reason", &request.reason, domain::REASON_MAX_CHARS);
        v.finish()?;
        let scope = self.scope(&principal);
        let appeal = self
            .store
            .withdraw(&id, &reason, |appeal| {
                scope
                    .check_read(
                        &appeal.jurisdiction_code,
                        &appeal.uscc,
                        &format!("appeal {id}"),
                    )
                    .map_err(|_| appeal_not_found(&id))
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
        scope
            .check_write(
                enterprise.jurisdiction.as_str(),
                enterprise.uscc.as_str(),
                "this enterprise",
            )
            .map_err(|e| {
                e.zh(match &scope {
                    Scope::Enterprise(_) => "企业只能登记本企业的信息".to_owned(),
                    Scope::Nothing => NO_SCOPE_ZH.to_owned(),
                    _ => format!(
                        "{}不在您的辖区内，不能登记该地的企业",
                        self.place(&enterprise.jurisdiction)
                    ),
                })
            })?;
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
                    ))
                    .zh(format!(
                        "企业 {uscc} 登记在{}，不在您的辖区",
                        self.place(&stored.jurisdiction)
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
        let mut v = Violations::new();
        let uscc = fields::id(&mut v, "uscc", &request.into_inner().uscc);
        v.finish()?;
        let enterprise = self
            .store
            .get_enterprise(&uscc)
            .await?
            .ok_or_else(|| enterprise_not_found(&uscc))?;
        self.scope(&principal)
            .check_read(
                enterprise.jurisdiction.as_str(),
                enterprise.uscc.as_str(),
                &format!("enterprise {uscc}"),
            )
            .map_err(|_| enterprise_not_found(&uscc))?;
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
        let jurisdictions = self.visible_jurisdictions(&scope, &request.jurisdiction_code)?;
        let mut v = Violations::new();
        let tag = fields::optional_enum(&mut v, "tag", request.tag, convert::tag);
        v.finish()?;
        let filter = EnterpriseFilter { jurisdictions, tag };
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
