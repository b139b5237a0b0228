//! A city's own reference data: the suite started on Bazhong's folder
//! (`deploy/reference/bazhong`) places a county's appeal with Bazhong's
//! departments and shows it to Bazhong's city; a broken folder is refused at
//! start naming file, line and field; `zhengqi reference check` and `export`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::common::cases::*;
use crate::common::*;
use tonic::Code;
use zhengqi::suite::{self, SuiteOptions};
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_shared::auth::Role;

/// 通江县 (Tongjiang county) of 巴中市 (Bazhong).
const TONGJIANG: &str = "511921";
const PINGCHANG: &str = "511923";
const BAZHONG: &str = "511900";

fn bazhong() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/reference/bazhong")
}

/// A copy of Bazhong's folder to break.
fn copy_of_bazhong() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in walk(&bazhong()) {
        let relative = entry.strip_prefix(bazhong()).unwrap();
        let target = copy.path().join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    copy
}

fn walk(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} holds {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn coordinator_of_bazhong(suite: &TestSuite) -> String {
    suite.official_token(Role::Coordinator, BAZHONG)
}

#[tokio::test]
async fn an_appeal_in_a_county_of_bazhong_goes_to_that_countys_department_and_the_city_sees_it() {
    let suite = TestSuite::start_with(|options| options.reference = Some(bazhong())).await;

    // 通江县: financing goes to the county's 金融工作局 (Bazhong's key `jrgz`).
    let appeal = submit(
        &suite,
        crate::common::appeal("bz-1", USCC_A, TONGJIANG, "流动资金贷款"),
    )
    .await;
    let case = case_of_as(&suite, &appeal.id, &coordinator_of_bazhong(&suite)).await;
    assert_eq!(case.jurisdiction_code, TONGJIANG);
    assert_eq!(case.level, routing::Level::County as i32);
    assert_eq!(case.department_id, "511921-jrgz");

    // 平昌县: land and planning goes to the city's 自然资源和规划局 by Bazhong's rule,
    // with the rule's 10 working days.
    let mut land = crate::common::appeal("bz-2", USCC_B, PINGCHANG, "用地规划调整");
    land.category = intake::Category::LandAndPlanning as i32;
    let land = submit(&suite, land).await;
    let land_case = case_of_as(&suite, &land.id, &coordinator_of_bazhong(&suite)).await;
    assert_eq!(land_case.level, routing::Level::City as i32);
    assert_eq!(land_case.department_id, "511900-zrzy");
    assert_eq!(land_case.time_limit_working_days, 10);

    // The ledger names the departments as Bazhong does.
    let csv = cases(&suite)
        .await
        .export_ledger(authed(
            routing::ExportLedgerRequest {
                format: routing::ExportFormat::Csv as i32,
                jurisdiction_code: BAZHONG.into(),
                ..Default::default()
            },
            &coordinator_of_bazhong(&suite),
        ))
        .await
        .expect("Bazhong's city exports its ledger")
        .into_inner();
    let text = String::from_utf8(csv.data).unwrap();
    assert!(text.contains("通江县金融工作局"), "{text}");
    assert!(text.contains("巴中市自然资源和规划局"), "{text}");

    // A county of Guangyuan is no jurisdiction of this deployment.
    let token = suite.enterprise_token(USCC_C, "510821");
    let refused = suite
        .intake()
        .await
        .submit_appeal(authed(
            crate::common::appeal("gy-1", USCC_C, "510821", "融资"),
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(bad_fields(&refused), ["jurisdiction_code"]);

    // Bazhong's meetings: by its own names, and without a foreign-trade meeting.
    let schedule = |kind: routing::MeetingType, request_id: &str| routing::ScheduleMeetingRequest {
        request_id: request_id.to_owned(),
        r#type: kind as i32,
        jurisdiction_code: BAZHONG.into(),
        start_time: Some(prost_types::Timestamp {
            seconds: now_seconds() + 86_400,
            nanos: 0,
        }),
        chair: "副市长".into(),
        ..Default::default()
    };
    let schedule_as_bazhong = async |kind, request_id| {
        cases(&suite)
            .await
            .schedule_meeting(authed(
                schedule(kind, request_id),
                &coordinator_of_bazhong(&suite),
            ))
            .await
    };
    let meeting = schedule_as_bazhong(routing::MeetingType::PrivateEnterprise, "m-1")
        .await
        .expect("a private-enterprise meeting is scheduled")
        .into_inner();
    assert_eq!(meeting.title, "民营经济发展会商会");
    let refused = schedule_as_bazhong(routing::MeetingType::ForeignTrade, "m-2")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(bad_fields(&refused), ["type"]);

    // The portal names Bazhong's jurisdictions and departments.
    let body = reqwest::get(format!("{}/portal/directory.json", suite.gateway()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let directory: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(directory["root"], BAZHONG);
    assert!(
        directory["departments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["key"] == "jrgz" && d["name"] == "金融工作局"),
        "{directory}"
    );
    suite.stop().await;
}

/// Starts the suite on `folder` and returns why it refused.
async fn refusal(folder: &Path) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut options = SuiteOptions::new(data.path(), SocketAddr::from(([127, 0, 0, 1], 0)));
    options.reference = Some(folder.to_owned());
    match suite::start(options).await {
        Ok(_) => panic!("the suite started on a broken reference folder"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn a_broken_reference_folder_is_refused_at_start_naming_file_line_and_field() {
    let breakages: [(&str, &str, &str, &str); 6] = [
        (
            "departments.toml",
            "categories = [\"FINANCING\"]",
            "categories = [\"FOO\"]",
            "departments.toml:63: department[10].categories[0]: unknown category \"FOO\"",
        ),
        (
            "routing_rules.toml",
            "department_id = \"511900-zrzy\"",
            "department_id = \"511900-gtj\"",
            "routing_rules.toml:33: rule[2].department_id: \"511900-gtj\" is not \
             `<jurisdiction code>-<key>` with a key of departments.toml",
        ),
        (
            "jurisdictions.toml",
            "code = \"511923\"\nlevel = \"county\"\nparent = \"511900\"",
            "code = \"511923\"\nlevel = \"county\"\nparent = \"510800\"",
            "jurisdictions.toml:43: jurisdiction[5].parent: jurisdiction 511923 has parent \
             510800, which is not in the directory",
        ),
        (
            "indicator_model.toml",
            "weight = 30",
            "weight = 35",
            "indicator_model.toml:14: indicator: the weights of the indicators scoring a \
             department must sum to 100, not 105",
        ),
        (
            "meeting_kinds.toml",
            "type = \"SERVICE_INDUSTRY\"",
            "type = \"TOURISM\"",
            "meeting_kinds.toml:25: meeting[4].type: unknown meeting type \"TOURISM\"",
        ),
        (
            "calendar/2026.toml",
            "last = 2026-10-07",
            "last = 2027-10-07",
            "calendar/2026.toml:49: holiday[6].last: 2027-10-07 不在 2026 年内",
        ),
    ];
    for (file, from, to, expected) in breakages {
        let folder = copy_of_bazhong();
        edit(&folder.path().join(file), from, to);
        let message = refusal(folder.path()).await;
        let expected = format!("{}/{expected}", folder.path().display());
        assert!(
            message.lines().any(|line| line.starts_with(&expected)),
            "{file}: wanted {expected}\ngot {message}"
        );
    }

    // A missing file is named too.
    let folder = copy_of_bazhong();
    std::fs::remove_file(folder.path().join("meeting_kinds.toml")).unwrap();
    let message = refusal(folder.path()).await;
    assert!(
        message.contains(&format!(
            "{}/meeting_kinds.toml: missing",
            folder.path().display()
        )),
        "{message}"
    );
}

fn zhengqi(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zhengqi"))
        .args(args)
        .output()
        .expect("zhengqi runs")
}

#[test]
fn reference_check_passes_on_an_export_and_on_bazhong_and_names_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("mycity");
    let export = zhengqi(&[
        "reference".as_ref(),
        "export".as_ref(),
        exported.as_os_str(),
    ]);
    assert!(export.status.success(), "{export:?}");
    let check = zhengqi(&["reference".as_ref(), "check".as_ref(), exported.as_os_str()]);
    assert!(check.status.success(), "{check:?}");
    let out = String::from_utf8(check.stdout).unwrap();
    assert!(out.contains("city: 510800 广元市"), "{out}");

    let check = zhengqi(&[
        "reference".as_ref(),
        "check".as_ref(),
        bazhong().as_os_str(),
    ]);
    assert!(check.status.success(), "{check:?}");
    let out = String::from_utf8(check.stdout).unwrap();
    assert!(out.contains("city: 511900 巴中市"), "{out}");
    assert!(out.contains("511921 通江县"), "{out}");
    assert!(out.contains("routing rules: 4"), "{out}");

    // Problems in three files: every one named, and the check fails, though the
    // rules and the model are read against departments that are refused.
    let departments = exported.join("departments.toml");
    edit(&departments, "key = \"jrj\"", "key = \"JRJ\"");
    edit(&departments, "name = \"司法局\"", "name = \"\"");
    edit(
        &exported.join("routing_rules.toml"),
        "level = \"CITY\"",
        "level = \"STATE\"",
    );
    edit(
        &exported.join("indicator_model.toml"),
        "weight = 25",
        "weight = 26",
    );
    let check = zhengqi(&["reference".as_ref(), "check".as_ref(), exported.as_os_str()]);
    assert!(!check.status.success(), "{check:?}");
    let err = String::from_utf8(check.stderr).unwrap();
    let at = |file: &str, rest: &str| format!("{}:{rest}", exported.join(file).display());
    for expected in [
        at("departments.toml", "60: department[10].key"),
        at(
            "departments.toml",
            "66: department[11].name: must not be empty",
        ),
        at(
            "routing_rules.toml",
            "24: rule[0].level: unknown level \"STATE\"",
        ),
        at(
            "indicator_model.toml",
            "53: indicator: the weights of the indicators scoring a department must sum to 100, not 101",
        ),
    ] {
        assert!(err.contains(&expected), "wanted {expected}\ngot {err}");
    }
}
