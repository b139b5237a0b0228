//! Intake through the gateway: registering, reading, listing, withdrawing
//! appeals, idempotency, duplicates, scope, and bad input.

use crate::common::*;
use tonic::Code;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_shared::auth::Role;

#[tokio::test]
async fn an_appeal_submitted_through_the_gateway_reads_back() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");

    let submitted = client
        .submit_appeal(authed(
            appeal("first", USCC_A, "510821", "流动资金贷款审批慢"),
            &token,
        ))
        .await
        .expect("the appeal is registered")
        .into_inner();
    assert!(submitted.id.starts_with("510821-"), "{}", submitted.id);
    assert!(
        submitted.number.starts_with("510821-"),
        "{}",
        submitted.number
    );
    assert!(submitted.number.ends_with("-0001"), "{}", submitted.number);
    assert_eq!(submitted.status, intake::AppealStatus::Received as i32);
    assert_eq!(submitted.enterprise.as_ref().unwrap().uscc, USCC_A);
    assert_eq!(submitted.title, "流动资金贷款审批慢");

    let read = client
        .get_appeal(authed(
            intake::GetAppealRequest {
                id: submitted.id.clone(),
            },
            &token,
        ))
        .await
        .expect("the enterprise reads its appeal")
        .into_inner();
    assert_eq!(read, submitted);
    suite.stop().await;
}

#[tokio::test]
async fn every_service_reports_serving_through_the_gateway() {
    let suite = TestSuite::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(suite.channel().await);
    for service in [
        "",
        "zhengqi.intake.v1.IntakeService",
        "zhengqi.routing.v1.CaseService",
        "zhengqi.policy.v1.PolicyService",
        "zhengqi.evaluation.v1.EvaluationService",
        "zhengqi.scoring.v1.ScoringService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "zhengqi.nothing.v1.Nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    suite.stop().await;
}

#[tokio::test]
async fn bad_input_names_every_field_and_stores_nothing() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");

    let mut bad = appeal("bad", USCC_A, "510899", "");
    bad.enterprise.as_mut().unwrap().uscc = "91350200776049653B".into();
    bad.description = "字".repeat(10_001);
    bad.kind = intake::AppealKind::Unspecified as i32;
    let status = client.submit_appeal(authed(bad, &token)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "description",
            "enterprise.uscc",
            "jurisdiction_code",
            "kind",
            "title"
        ]
    );

    let coordinator = suite.official_token(Role::Coordinator, "510800");
    let listed = client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &coordinator))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.appeals.is_empty(),
        "nothing is stored: {:?}",
        listed.appeals
    );
    suite.stop().await;
}

#[tokio::test]
async fn the_same_request_id_twice_gives_one_appeal() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let first = client
        .submit_appeal(authed(
            appeal("same-key", USCC_A, "510821", "用电报装"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .submit_appeal(authed(
            appeal("same-key", USCC_A, "510821", "用电报装"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, second);

    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let listed = client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &coordinator))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.appeals.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_retries_give_one_appeal() {
    let suite = TestSuite::start().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let mut calls = Vec::new();
    for _ in 0..20 {
        let mut client = suite.intake().await;
        let token = token.clone();
        calls.push(tokio::spawn(async move {
            client
                .submit_appeal(authed(
                    appeal("retried", USCC_A, "510821", "厂房用地审批"),
                    &token,
                ))
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.unwrap().expect("every retry is answered").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one appeal for all retries: {ids:?}");

    let coordinator = suite.official_token(Role::Coordinator, "510800");
    let listed = suite
        .intake()
        .await
        .list_appeals(authed(intake::ListAppealsRequest::default(), &coordinator))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.appeals.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn the_same_matter_again_is_linked_as_a_duplicate_not_dropped() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let original = client
        .submit_appeal(authed(
            appeal("one", USCC_A, "510821", "厂房用地审批迟迟未办"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .submit_appeal(authed(
            appeal("two", USCC_A, "510821", "厂房用地审批迟迟未办理！"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(again.id, original.id);
    assert_eq!(again.status, intake::AppealStatus::Duplicate as i32);
    assert_eq!(again.duplicate_of, original.id);

    let other = client
        .submit_appeal(authed(
            appeal("three", USCC_A, "510821", "员工社保缴纳咨询"),
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.status, intake::AppealStatus::Received as i32);
    assert!(other.number.ends_with("-0003"), "{}", other.number);
    suite.stop().await;
}

#[tokio::test]
async fn a_county_sees_its_own_appeals_and_the_city_sees_all() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let in_wangcang = client
        .submit_appeal(authed(
            appeal("w", USCC_A, "510821", "贷款贴息"),
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap()
        .into_inner();
    let in_qingchuan = client
        .submit_appeal(authed(
            appeal("q", USCC_B, "510822", "道路运输许可"),
            &suite.enterprise_token(USCC_B, "510822"),
        ))
        .await
        .unwrap()
        .into_inner();

    let wangcang = suite.official_token(Role::Coordinator, "510821");
    let hidden = client
        .get_appeal(authed(
            intake::GetAppealRequest {
                id: in_qingchuan.id.clone(),
            },
            &wangcang,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let listed = client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &wangcang))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.appeals.iter().map(|a| &a.id).collect::<Vec<_>>(),
        [&in_wangcang.id]
    );
    let elsewhere = client
        .list_appeals(authed(
            intake::ListAppealsRequest {
                jurisdiction_code: "510822".into(),
                ..Default::default()
            },
            &wangcang,
        ))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::PermissionDenied);

    let city = suite.official_token(Role::Coordinator, "510800");
    for id in [&in_wangcang.id, &in_qingchuan.id] {
        client
            .get_appeal(authed(intake::GetAppealRequest { id: id.clone() }, &city))
            .await
            .unwrap_or_else(|e| panic!("the city reads {id}: {e}"));
    }
    let all = client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.appeals.len(), 2);
    suite.stop().await;
}

#[tokio::test]
async fn an_enterprise_sees_only_its_own_appeals() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let a = suite.enterprise_token(USCC_A, "510821");
    let b = suite.enterprise_token(USCC_B, "510821");
    let own = client
        .submit_appeal(authed(appeal("a", USCC_A, "510821", "用工招聘"), &a))
        .await
        .unwrap()
        .into_inner();
    let theirs = client
        .submit_appeal(authed(appeal("b", USCC_B, "510821", "税费减免"), &b))
        .await
        .unwrap()
        .into_inner();

    let hidden = client
        .get_appeal(authed(
            intake::GetAppealRequest {
                id: theirs.id.clone(),
            },
            &a,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let listed = client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.appeals.iter().map(|x| &x.id).collect::<Vec<_>>(),
        [&own.id]
    );

    let impersonation = client
        .submit_appeal(authed(appeal("c", USCC_B, "510821", "冒名诉求"), &a))
        .await
        .unwrap_err();
    assert_eq!(impersonation.code(), Code::PermissionDenied);
    suite.stop().await;
}

#[tokio::test]
async fn lists_page_with_opaque_tokens() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let titles = [
        "融资",
        "用工",
        "市场准入",
        "交通物流",
        "公共卫生",
        "用地规划",
        "项目审批",
    ];
    let categories = [1, 2, 3, 4, 5, 6, 7];
    for (i, (title, category)) in titles.iter().zip(categories).enumerate() {
        let mut request = appeal(&format!("page-{i}"), USCC_A, "510821", title);
        request.category = category;
        client.submit_appeal(authed(request, &token)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_appeals(authed(
                intake::ListAppealsRequest {
                    page_size: 3,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.appeals.len() <= 3);
        seen.extend(page.appeals.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), titles.len());
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), titles.len(), "no appeal twice across pages");

    let forged = client
        .list_appeals(authed(
            intake::ListAppealsRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&forged), ["page_token"]);
    suite.stop().await;
}

#[tokio::test]
async fn an_enterprise_withdraws_its_appeal_once() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let appeal = client
        .submit_appeal(authed(appeal("w", USCC_A, "510821", "证照办理"), &token))
        .await
        .unwrap()
        .into_inner();
    let other = suite.enterprise_token(USCC_B, "510821");
    let refused = client
        .withdraw_appeal(authed(
            intake::WithdrawAppealRequest {
                id: appeal.id.clone(),
                reason: "x".into(),
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    let withdrawn = client
        .withdraw_appeal(authed(
            intake::WithdrawAppealRequest {
                id: appeal.id.clone(),
                reason: "问题已自行解决".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.status, intake::AppealStatus::Withdrawn as i32);
    assert_eq!(withdrawn.withdraw_reason, "问题已自行解决");
    let again = client
        .withdraw_appeal(authed(
            intake::WithdrawAppealRequest {
                id: appeal.id.clone(),
                reason: String::new(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    suite.stop().await;
}

#[tokio::test]
async fn enterprises_register_themselves_and_coordinators_list_them() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let enterprise = intake::Enterprise {
        uscc: USCC_A.into(),
        name: "旺苍县某某建材有限公司".into(),
        jurisdiction_code: "510821".into(),
        industry: "C30 非金属矿物制品业".into(),
        size: intake::EnterpriseSize::Small as i32,
        ownership: intake::Ownership::Private as i32,
        tags: vec![
            intake::EnterpriseTag::KeyProject as i32,
            intake::EnterpriseTag::Industrial as i32,
        ],
        ..Default::default()
    };
    let registered = client
        .register_enterprise(authed(
            intake::RegisterEnterpriseRequest {
                enterprise: Some(enterprise.clone()),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registered.name, enterprise.name);
    assert_eq!(registered.tags, enterprise.tags);

    let mut someone_else = enterprise.clone();
    someone_else.uscc = USCC_B.into();
    let refused = client
        .register_enterprise(authed(
            intake::RegisterEnterpriseRequest {
                enterprise: Some(someone_else),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let listed = client
        .list_enterprises(authed(
            intake::ListEnterprisesRequest {
                tag: intake::EnterpriseTag::KeyProject as i32,
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .enterprises
            .iter()
            .map(|e| e.uscc.as_str())
            .collect::<Vec<_>>(),
        [USCC_A]
    );
    let elsewhere = suite.official_token(Role::Coordinator, "510822");
    let hidden = client
        .get_enterprise(authed(
            intake::GetEnterpriseRequest {
                uscc: USCC_A.into(),
            },
            &elsewhere,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    suite.stop().await;
}

#[tokio::test]
async fn an_import_reports_every_item_and_keeps_going_past_bad_ones() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let token = suite.official_token(Role::Coordinator, "510800");
    let mut bad = appeal("i-1", USCC_A, "510821", "");
    bad.category = 0;
    let items = vec![
        appeal("i-0", USCC_A, "510821", "外贸出口退税"),
        bad,
        appeal("i-2", USCC_B, "510822", "人才公寓申请"),
    ];
    let response = client
        .import_appeals(authed(tokio_stream::iter(items), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted_count, 2);
    assert_eq!(response.rejected_count, 1);
    assert_eq!(response.results[0].code, 0);
    assert_eq!(response.results[1].code, Code::InvalidArgument as i32);
    let mut fields = response.results[1].invalid_fields.clone();
    fields.sort();
    assert_eq!(fields, ["category", "title"]);
    assert_eq!(
        response.results[2]
            .appeal
            .as_ref()
            .unwrap()
            .jurisdiction_code,
        "510822"
    );
    suite.stop().await;
}

#[tokio::test]
async fn a_role_the_method_policy_does_not_allow_is_refused_at_the_gateway() {
    let suite = TestSuite::start().await;
    let mut client = suite.intake().await;
    let handler = suite.official_token(Role::Handler, "510821");
    let refused = client
        .submit_appeal(authed(appeal("h", USCC_A, "510821", "办事难"), &handler))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let watch = client
        .watch_events(authed(Default::default(), &handler))
        .await
        .unwrap_err();
    assert_eq!(watch.code(), Code::PermissionDenied);
    suite.stop().await;
}

/// Bytes sent as a request message as they are, protobuf or not.
#[derive(Clone, Default, Debug, PartialEq)]
struct Raw(Vec<u8>);

impl prost::Message for Raw {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

#[tokio::test]
async fn a_request_that_is_not_protobuf_is_invalid_argument_at_the_gateway_and_the_service() {
    let suite = TestSuite::start().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let direct = format!("http://{}", suite.suite.service_addrs["intake"]);
    for address in [suite.gateway(), direct] {
        let channel = tonic::transport::Channel::from_shared(address.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        // Field 5 (title), length-delimited: it says 100 bytes and has 2.
        let request = authed(Raw(vec![0x2A, 100, b'x', b'y']), &token);
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/zhengqi.intake.v1.IntakeService/SubmitAppeal",
        );
        let status = grpc
            .unary::<Raw, intake::Appeal, _>(request, path, zhengqi_proto::codec::Codec::default())
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{address}: {status:?}"
        );
        assert!(status.message().contains("protobuf"), "{status:?}");
    }
    // Nothing was stored.
    let listed = suite
        .intake()
        .await
        .list_appeals(authed(intake::ListAppealsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.appeals.is_empty(), "{listed:?}");
    suite.stop().await;
}
