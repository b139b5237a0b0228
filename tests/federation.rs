//! Routing by jurisdiction for federated deployments: the city runs one
//! deployment, 旺苍县 (510821) its own, and one gateway stands in front of
//! both. A call goes to the deployment that owns the jurisdiction it names
//! (its `jurisdiction_code`, or the prefix of the id it asks for), else the
//! caller's home jurisdiction; the county's data stays in the county's stores.

mod common;
mod gateway_support;

use std::time::Duration;

use common::*;
use gateway_support::*;
use zhengqi::suite::{SERVICES, gateway_settings};
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_shared::auth::{Role, TokenRequest};
use zhengqi_shared::config::Config;

/// The appeals `client` lists for `token`, as (jurisdiction, title).
async fn listed(
    client: &mut IntakeServiceClient<tonic::transport::Channel>,
    token: &str,
) -> Vec<(String, String)> {
    let mut appeals: Vec<_> = client
        .list_appeals(authed(intake::ListAppealsRequest::default(), token))
        .await
        .unwrap()
        .into_inner()
        .appeals
        .into_iter()
        .map(|a| (a.jurisdiction_code, a.title))
        .collect();
    appeals.sort();
    appeals
}

#[tokio::test]
async fn a_countys_calls_reach_only_its_own_deployment() {
    let city = TestSuite::start().await;
    // The county trusts the same identity provider as the city.
    let city_auth = city.auth_config();
    let county = TestSuite::start_with(|options| options.auth = Some(city_auth)).await;
    // The table of deployments as an operator writes it in the configuration file.
    let mut file = "[[gateway.deployments]]\nname = \"wangcang\"\njurisdictions = [\"510821\"]\n\
                    [gateway.deployments.upstreams]\n"
        .to_owned();
    for (part, _) in SERVICES {
        file += &format!("{part} = \"http://{}\"\n", county.suite.service_addrs[part]);
    }
    let path = city.data.path().join("gateway.toml");
    std::fs::write(&path, file).unwrap();
    let config = Config::load_with(Some(&path), |_| None).expect("the file is read");
    let settings = gateway_settings(&config.gateway, None);
    assert_eq!(settings.deployments[0].upstreams, upstreams_of(&county));
    let gateway = TestGateway::start(&city, settings, Duration::from_secs(10), &[]).await;
    let mut front = gateway.intake().await;
    let county_official = city.token(TokenRequest {
        jurisdiction: Some("510821".to_owned()),
        ..TokenRequest::new("coordinator@510821", vec![Role::Coordinator])
    });
    let city_official = city.official_token(Role::Coordinator, "510800");

    // By the request's jurisdiction_code, whoever calls.
    let submit = |request_id: &str, jurisdiction: &str, title: &str| {
        appeal(request_id, USCC_A, jurisdiction, title)
    };
    let by_county = front
        .submit_appeal(authed(
            submit("f-1", "510821", "县里的诉求"),
            &county_official,
        ))
        .await
        .unwrap()
        .into_inner();
    let by_city_for_county = front
        .submit_appeal(authed(
            submit("f-2", "510821", "市里代县里登记"),
            &city_official,
        ))
        .await
        .unwrap()
        .into_inner();
    let for_another_county = front
        .submit_appeal(authed(
            submit("f-3", "510822", "青川县的诉求"),
            &city_official,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(by_county.id.starts_with("510821-"));
    assert!(by_city_for_county.id.starts_with("510821-"));
    assert!(for_another_county.id.starts_with("510822-"));

    // Each deployment's own stores hold only their own jurisdictions' appeals.
    let mut county_direct = county.intake().await;
    assert_eq!(
        listed(&mut county_direct, &city_official).await,
        vec![
            ("510821".to_owned(), "县里的诉求".to_owned()),
            ("510821".to_owned(), "市里代县里登记".to_owned()),
        ]
    );
    let mut city_direct = city.intake().await;
    assert_eq!(
        listed(&mut city_direct, &city_official).await,
        vec![("510822".to_owned(), "青川县的诉求".to_owned())]
    );

    // No jurisdiction in the request: the caller's home decides.
    let seen_by_county = listed(&mut front, &county_official).await;
    assert_eq!(seen_by_county.len(), 2);
    assert!(seen_by_county.iter().all(|(code, _)| code == "510821"));
    assert_eq!(
        listed(&mut front, &city_official).await,
        vec![("510822".to_owned(), "青川县的诉求".to_owned())]
    );

    // By the prefix of the id asked for.
    for id in [&by_county.id, &for_another_county.id] {
        let found = front
            .get_appeal(authed(
                intake::GetAppealRequest { id: id.clone() },
                &city_official,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&found.id, id);
    }
    drop(gateway);
    county.stop().await;
    city.stop().await;
}
