//! Routing by jurisdiction for federated deployments: the city runs one
//! deployment, 旺苍县 (510821) its own, and one gateway stands in front of
//! both. A call goes to the deployment that owns the jurisdiction it names
//! (its `jurisdiction_code`, or the prefix of the id it asks for), else the
//! caller's home jurisdiction; the county's data stays in the county's stores.
//! The city's scoring follows the county's logs as well as its own, so the
//! county's cases count in the city's figures.

use std::path::Path;
use std::time::Duration;

use crate::common::cases::*;
use crate::common::*;
use crate::gateway_support::*;
use zhengqi::suite::{DEV_ISSUER, SERVICES, SuiteOptions, gateway_settings};
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_proto::zhengqi::scoring::v1 as scoring;
use zhengqi_proto::zhengqi::scoring::v1::scoring_service_client::ScoringServiceClient;
use zhengqi_shared::auth::{
    AuthConfig, DevIssuer, JwksSource, Role, SERVICE_JWKS_FILE, ServiceKey, TokenRequest,
};

/// The `iss` of the city deployment's service tokens, which the county trusts.
const CITY_SERVICE_ISSUER: &str = "zhengqi-service-guangyuan";
use zhengqi_shared::clock;
use zhengqi_shared::config::Config;
use zhengqi_shared::storage::micros_of;

/// The city's configuration file with 旺苍县's deployment in
/// `[[gateway.deployments]]`, as an operator writes it, written in `dir` and read.
fn with_wangcang(county: &TestSuite, dir: &Path) -> Config {
    let mut file = "[[gateway.deployments]]\nname = \"wangcang\"\njurisdictions = [\"510821\"]\n\
                    [gateway.deployments.upstreams]\n"
        .to_owned();
    for (part, _) in SERVICES {
        file += &format!("{part} = \"http://{}\"\n", county.suite.service_addrs[part]);
    }
    let path = dir.join("zhengqi.toml");
    std::fs::write(&path, file).unwrap();
    Config::load_with(Some(&path), |_| None).expect("the file is read")
}

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
    let county = TestSuite::start_with(|options| options.providers = vec![city_auth]).await;
    let config = with_wangcang(&county, city.data.path());
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

/// The overview of `jurisdiction` in `period` from `suite`'s own scoring.
async fn overview(suite: &TestSuite, jurisdiction: &str, period: &str) -> scoring::Overview {
    ScoringServiceClient::new(suite.channel().await)
        .get_overview(authed(
            scoring::GetOverviewRequest {
                jurisdiction_code: jurisdiction.to_owned(),
                period: period.to_owned(),
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city reads the overview")
        .into_inner()
}

/// Waits (up to fifteen seconds) until `suite`'s scoring counts at least
/// `count` appeals of `jurisdiction` in `period`, and returns how many it counts.
async fn appeals_counted(suite: &TestSuite, jurisdiction: &str, period: &str, count: i32) -> i32 {
    poll_until(
        300,
        &format!("scoring never counted {count} appeals of {jurisdiction}"),
        async || overview(suite, jurisdiction, period).await.appeal_count,
        |counted| *counted >= count,
    )
    .await
}

#[tokio::test]
async fn the_citys_scoring_counts_a_countys_cases_from_the_countys_logs() {
    // One identity provider for both deployments: its key in each data folder,
    // so each trusts the same people's tokens.
    let provider = tempfile::tempdir().unwrap();
    let key = DevIssuer::load_or_create(provider.path(), DEV_ISSUER)
        .unwrap()
        .key_path()
        .to_owned();
    let trusting_the_provider = |options: &mut SuiteOptions| {
        std::fs::copy(&key, options.data.join(key.file_name().unwrap())).unwrap();
    };
    // Each deployment signs its parts' calls with a service key of its own; the
    // county trusts the city's, whose scoring follows the county's logs.
    let city_key = ServiceKey::load_or_create(provider.path(), CITY_SERVICE_ISSUER).unwrap();
    let city_service = AuthConfig::service(
        CITY_SERVICE_ISSUER,
        JwksSource::File(provider.path().join(SERVICE_JWKS_FILE)),
    );
    let county = TestSuite::start_with(|options| {
        trusting_the_provider(options);
        options.service_issuer = "zhengqi-service-wangcang".to_owned();
        options.trusted_services = vec![city_service.clone()];
    })
    .await;
    let config = with_wangcang(&county, provider.path());
    let followed = config.gateway.deployments.clone();
    let with_the_city_key = |options: &mut SuiteOptions| {
        options.service_key = Some(city_key.path().to_owned());
        options.service_issuer = CITY_SERVICE_ISSUER.to_owned();
        options.followed_deployments = followed.clone();
    };
    let city = TestSuite::start_with(|options| {
        trusting_the_provider(options);
        with_the_city_key(options);
    })
    .await;
    let gateway = TestGateway::start(
        &city,
        gateway_settings(&config.gateway, None),
        Duration::from_secs(10),
        &[],
    )
    .await;

    // Through the one gateway: an appeal to the county and one to 青川县,
    // which the city's deployment holds. Each deployment's routing opens a
    // case: the first event of each routing log, both numbered 1.
    let mut front = gateway.intake().await;
    let mut submit = async |request_id: &str, jurisdiction: &str| {
        front
            .submit_appeal(authed(
                appeal(request_id, USCC_A, jurisdiction, "贷款审批慢"),
                &city.enterprise_token(USCC_A, jurisdiction),
            ))
            .await
            .expect("the appeal is registered")
            .into_inner()
    };
    let for_county = submit("fs-1", "510821").await;
    let for_city = submit("fs-2", "510822").await;
    let county_case = case_of(&county, &for_county.id).await;
    case_of(&city, &for_city.id).await;
    let period = clock::beijing_date(micros_of(county_case.create_time.as_ref().unwrap()))
        .format("%Y")
        .to_string();

    // The city's scoring counts the county's case as well as its own; the
    // county's, which follows only its own deployment, counts the county's.
    assert_eq!(appeals_counted(&city, "510821", &period, 1).await, 1);
    assert_eq!(appeals_counted(&city, "510822", &period, 1).await, 1);
    assert_eq!(appeals_counted(&county, "510821", &period, 1).await, 1);
    assert_eq!(overview(&county, "510822", &period).await.appeal_count, 0);
    // The city's own stores hold no copy of the county's appeal or case.
    let missing = city
        .intake()
        .await
        .get_appeal(authed(
            intake::GetAppealRequest {
                id: for_county.id.clone(),
            },
            &city.city_coordinator_token(),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    assert!(cases_of(&city, &for_county.id).await.is_empty());
    // Its own log kept its cursor's name; the county's log has one of its own.
    assert_eq!(
        city.execute_in_store(
            "scoring",
            "UPDATE zq_consumer_cursors SET sequence = sequence \
             WHERE source IN ('routing', 'routing@wangcang')",
        )
        .await,
        2
    );

    // The city's scoring restarted with its cursors forgotten reads both
    // routing logs again from event 1: nothing is counted twice.
    drop(gateway);
    let city = city
        .restart_forgetting_cursors_with("scoring", |options| {
            with_the_city_key(options);
        })
        .await;
    let later = |request_id: &str, jurisdiction: &str| {
        (
            appeal(request_id, USCC_B, jurisdiction, "出口退税到账时间长"),
            jurisdiction.to_owned(),
        )
    };
    for (suite, (request, jurisdiction)) in [
        (&county, later("fs-3", "510821")),
        (&city, later("fs-4", "510822")),
    ] {
        suite
            .intake()
            .await
            .submit_appeal(authed(
                request,
                &suite.enterprise_token(USCC_B, &jurisdiction),
            ))
            .await
            .expect("the appeal is registered");
    }
    // Once the appeals after the restart are counted, the logs before them are
    // read again too.
    assert_eq!(appeals_counted(&city, "510821", &period, 2).await, 2);
    assert_eq!(appeals_counted(&city, "510822", &period, 2).await, 2);
    assert_eq!(overview(&county, "510821", &period).await.appeal_count, 2);
    city.stop().await;
    county.stop().await;
}
