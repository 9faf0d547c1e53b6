//! The HTML report in a real browser: two audits by the real binary archive their reports
//! in moto's S3, `keywarden report --html` reads them back from `s3://`, and Debian's
//! Chromium (headless, driven over the DevTools protocol) renders the page.
//!
//! What an auditor checks: every finding is a row, the trend has a point per run, choosing a
//! severity hides the other rows, and the page fetched nothing (it must open offline and
//! leak nothing about the account to a CDN). A screenshot is left under `target/`.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Network, Page};
use headless_chrome::{Browser, LaunchOptions};
use keywarden_e2e::cli;
use keywarden_e2e::report::findings;
use keywarden_e2e::{find_in_path, scenario, seed, Aws, Moto};
use serde_json::Value;

const BUCKET: &str = "kw-html";

/// Debian's Chromium; never a downloaded build.
fn chromium() -> std::path::PathBuf {
    find_in_path("chromium").unwrap_or_else(|| {
        panic!(
            "chromium is missing: install Debian's package with `apt-get install -y chromium` (.ci/run does)"
        )
    })
}

/// Runs `expression` in the page and returns its value (as JSON text, so any type comes back).
fn eval(tab: &headless_chrome::Tab, expression: &str) -> Value {
    let wrapped = format!("JSON.stringify((() => {{ {expression} }})())");
    let result = tab.evaluate(&wrapped, false).unwrap_or_else(|e| panic!("evaluate {expression}: {e}"));
    let text = result.value.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "null".into());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_page_renders_filters_and_fetches_nothing() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    scenario::violations(&moto, &aws).await;
    seed::create_bucket(&moto.endpoint(), BUCKET).await;
    let mut env = cli::quiet(scenario::scenario_env(&moto));
    env.insert("REPORT_BUCKET".into(), BUCKET.into());

    // Two archived runs; between them a new user outside every group opens a finding.
    let first = cli::run(&env, &["audit", "--format", "json"]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    aws.create_user("newcomer").await;
    let second = cli::run(&env, &["audit", "--format", "json"]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    let latest: Value = serde_json::from_str(&second.stdout).expect("the second run's report");
    assert!(
        latest["archive"].as_str().is_some_and(|a| a.starts_with("s3://")),
        "archived: {}",
        latest["archive"]
    );

    let out = cli::target_dir().join("html-report");
    std::fs::create_dir_all(&out).expect("create target/html-report");
    let page = out.join("keywarden-report.html");
    let page_arg = page.to_string_lossy().to_string();
    let render = cli::run(&env, &["report", "--html", &page_arg, &format!("s3://{BUCKET}")]);
    assert!(render.code != 2, "report --html failed:\n{}", render.output());
    assert!(render.stderr.contains("2 runs"), "both archived runs were read:\n{}", render.output());
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(!html.contains("<link") && !html.contains(" src="), "the page references no other file");

    let rows_expected = findings(&latest).len();
    let high_expected = findings(&latest).iter().filter(|f| f["severity"] == "high").count();
    let other_expected = rows_expected - high_expected;
    assert!(high_expected > 0 && other_expected > 0, "the filter test needs both kinds of rows");

    let profile = tempfile::tempdir().expect("a fresh --user-data-dir");
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-sync",
        "--disable-component-update",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .headless(true)
        .sandbox(false)
        .user_data_dir(Some(profile.path().to_path_buf()))
        .window_size(Some((1280, 1800)))
        .args(args)
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .expect("launch options");
    let browser = Browser::new(options).expect("start chromium");
    let tab = browser.new_tab().expect("a tab");
    let requests: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let requests = requests.clone();
        tab.add_event_listener(Arc::new(move |event: &Event| {
            if let Event::NetworkRequestWillBeSent(sent) = event {
                if let Ok(mut r) = requests.lock() {
                    r.push(sent.params.request.url.clone());
                }
            }
        }))
        .expect("listen to the network");
    }
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .expect("Network.enable");
    let url = format!("file://{}", page.display());
    tab.navigate_to(&url).expect("navigate").wait_until_navigated().expect("the page loads");

    // Every finding of the latest run is a row; the chart has a dot per run and severity.
    assert_eq!(eval(&tab, "return document.querySelectorAll('#findings tbody tr').length;"), rows_expected);
    assert_eq!(eval(&tab, "return document.querySelectorAll('#trend circle.point').length;"), 2 * 5);
    assert_eq!(eval(&tab, "return document.querySelectorAll('#trend polyline').length;"), 5);
    // The trend rose by the newcomer's findings: the medium line ends higher than it starts.
    let medium = eval(
        &tab,
        "return Array.from(document.querySelectorAll('#trend g.series[data-severity=medium] circle.point')).map(c => [c.getAttribute('cx'), c.textContent]);",
    );
    let dots: Vec<(f64, u64)> = medium
        .as_array()
        .map(|dots| {
            dots.iter()
                .filter_map(|d| {
                    let x = d[0].as_str()?.parse().ok()?;
                    let n = d[1].as_str()?.rsplit(": ").next()?.split(' ').next()?.parse().ok()?;
                    Some((x, n))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(dots.len(), 2, "{medium}");
    assert!(dots[1].0 > dots[0].0, "the second run is drawn right of the first: {medium}");
    assert_eq!(dots[1].1, dots[0].1 + 1, "the newcomer's medium finding shows: {medium}");
    let shown = "return Array.from(document.querySelectorAll('#findings tbody tr')).filter(r => !r.hidden && r.offsetParent !== null).map(r => r.dataset.severity);";
    assert_eq!(eval(&tab, shown).as_array().map(Vec::len), Some(rows_expected));

    // Choosing "high" hides every other row, and the counter says so.
    eval(
        &tab,
        "const s = document.querySelector('select[data-filter=severity]'); s.value = 'high'; s.dispatchEvent(new Event('change')); return null;",
    );
    let visible = eval(&tab, shown);
    let visible = visible.as_array().expect("rows");
    assert_eq!(visible.len(), high_expected, "only the high rows stay: {visible:?}");
    assert!(visible.iter().all(|s| s == "high"), "{visible:?}");
    assert_eq!(eval(&tab, "return document.getElementById('shown').textContent;"), high_expected.to_string());
    let hidden = eval(&tab, "return document.querySelectorAll('#findings tbody tr[hidden]').length;");
    assert_eq!(hidden, other_expected);

    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("a screenshot");
    let shot = out.join("keywarden-report.png");
    std::fs::write(&shot, png).expect("write the screenshot");
    eprintln!("screenshot: {}", shot.display());

    // The page asked for nothing but itself.
    let requests = requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert!(!requests.is_empty(), "the listener saw the page load itself");
    let foreign: Vec<&String> = requests.iter().filter(|u| **u != url).collect();
    assert!(foreign.is_empty(), "the page made network requests: {foreign:?}");
    drop(tab);
    drop(browser);
}
